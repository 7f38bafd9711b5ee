"""GPU telemetry for the VRAM preflight: NVML locally, ComfyUI ``/system_stats`` remotely.

"No GPU" is a state, never a crash: every probe answers ``GpuSnapshot(available=False)``
when it cannot see a card, and says why in its ``detail`` attribute.

A ComfyUI server started with ``--cpu`` is not a GPU: its ``/system_stats`` device is
``type: cpu`` with system RAM in the VRAM fields. It is a :class:`CpuSnapshot`: no GPU
(``available`` False, so nothing samples RAM as VRAM), but a place that renders, so the VRAM
gate lets its jobs through (:func:`fits`); running out of RAM there is an out-of-memory
failure like any other (``render.comfy_client.is_oom``), which falls back to a lower preset.

Light to import (stdlib and ``studio.ports``; ``pynvml`` and ``httpx`` load when a probe is
used), so ``python -m render.gpu_check`` runs on a machine with only the GPU stack.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from studio.ports import GpuProbe, GpuSnapshot

if TYPE_CHECKING:
    import httpx

MIB = 1024 * 1024
CPU_DEVICE = "cpu (system RAM, no GPU)"


@dataclass(frozen=True)
class CpuSnapshot(GpuSnapshot):
    """A ComfyUI server that renders on the CPU (``--cpu``): no GPU, no VRAM to wait for.

    ``total_mb`` / ``free_mb`` are the server's system RAM, for display only: they are not
    VRAM, so nothing gates on them or samples them as such.
    """

    available: bool = False
    name: str = CPU_DEVICE


def is_cpu(snapshot: GpuSnapshot) -> bool:
    """Whether the snapshot is of a ComfyUI server rendering on the CPU."""
    return isinstance(snapshot, CpuSnapshot)


def fits(snapshot: GpuSnapshot, needed_mb: float, margin_mb: float = 512.0) -> bool:
    """Whether ``needed_mb`` (plus a safety margin) fits in the free memory right now.

    A job that needs nothing fits anywhere, GPU or not; a ``--cpu`` server has no VRAM to
    wait for, so its jobs go (a shortage of RAM shows as an out-of-memory failure).
    """
    if needed_mb <= 0 or is_cpu(snapshot):
        return True
    return snapshot.available and snapshot.free_mb >= needed_mb + margin_mb


def can_ever_fit(snapshot: GpuSnapshot, needed_mb: float, margin_mb: float = 512.0) -> bool:
    """Whether the card is big enough at all (even with nothing else on it)."""
    if needed_mb <= 0 or is_cpu(snapshot):
        return True
    return snapshot.available and snapshot.total_mb >= needed_mb + margin_mb


class NvmlGpuProbe:
    """Free/total memory of one local NVIDIA card through NVML (``nvidia-ml-py``).

    Each snapshot initialises and shuts NVML down again: a probe is taken once per job and
    a driver that appears or disappears later is noticed.
    """

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.detail = ""

    @contextmanager
    def session(self) -> Iterator[None]:
        """Keep NVML initialised while many snapshots are taken (a VRAM sampler's).

        NVML counts its initialisations and shuts down only when the count drops to zero,
        so inside a session each snapshot's own init/shutdown is a counter bump rather than
        a driver attach (tens of milliseconds, more without persistence mode).
        """
        held: Any = None
        try:
            import pynvml

            pynvml.nvmlInit()
            held = pynvml
        except ImportError:
            pass  # snapshot() says why
        except Exception as exc:  # NVMLError, OSError: no driver; snapshot() says so too
            self.detail = f"no NVIDIA driver ({type(exc).__name__}: {exc})"
        try:
            yield
        finally:
            if held is not None:
                try:
                    held.nvmlShutdown()
                except held.NVMLError:
                    pass

    def snapshot(self) -> GpuSnapshot:
        try:
            import pynvml
        except ImportError:
            self.detail = "nvidia-ml-py is not installed"
            return GpuSnapshot(available=False)
        try:
            pynvml.nvmlInit()
        except (pynvml.NVMLError, OSError) as exc:
            # NVMLError_LibraryNotFound / DriverNotLoaded on a machine without a GPU.
            self.detail = f"no NVIDIA driver ({type(exc).__name__}: {exc})"
            return GpuSnapshot(available=False)
        try:
            if pynvml.nvmlDeviceGetCount() <= self.index:
                self.detail = f"no GPU with index {self.index}"
                return GpuSnapshot(available=False)
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            name = pynvml.nvmlDeviceGetName(handle)
            if isinstance(name, bytes):
                name = name.decode(errors="replace")
            self.detail = str(name)
            return GpuSnapshot(
                available=True,
                name=str(name),
                total_mb=memory.total / MIB,
                free_mb=memory.free / MIB,
            )
        except pynvml.NVMLError as exc:
            self.detail = f"NVML error ({type(exc).__name__}: {exc})"
            return GpuSnapshot(available=False)
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass


class ComfyStatsProbe:
    """The device a ComfyUI server renders on, from its ``GET /system_stats``.

    ``vram_total`` / ``vram_free`` arrive in bytes. A server started with ``--cpu`` reports
    one device of type ``cpu`` whose figures are system RAM: that is no GPU, so the answer
    is a :class:`CpuSnapshot` (not available as a GPU; its jobs are not VRAM-gated, its RAM
    is never recorded as VRAM). An unreachable server is "not available" with the reason in
    ``detail``.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 3.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.transport = transport
        self.detail = ""

    def snapshot(self) -> GpuSnapshot:
        import httpx

        try:
            with httpx.Client(timeout=self.timeout_s, transport=self.transport) as client:
                response = client.get(f"{self.url}/system_stats")
                response.raise_for_status()
                stats = response.json()
        except httpx.HTTPError as exc:
            self.detail = f"ComfyUI at {self.url} is not reachable ({type(exc).__name__}: {exc})"
            return GpuSnapshot(available=False)
        except ValueError as exc:
            self.detail = f"ComfyUI at {self.url} sent a /system_stats that is not JSON ({exc})"
            return GpuSnapshot(available=False)
        return self._parse(stats)

    def _parse(self, stats: Any) -> GpuSnapshot:
        devices = stats.get("devices") if isinstance(stats, dict) else None
        if not isinstance(devices, list) or not devices:
            self.detail = f"ComfyUI at {self.url} reports no device"
            return GpuSnapshot(available=False)
        usable = [d for d in devices if isinstance(d, dict)]
        gpus = [d for d in usable if d.get("type") not in ("cpu", None)]
        device = (gpus or usable or [{}])[0]
        try:
            total = float(device["vram_total"]) / MIB
            free = float(device["vram_free"]) / MIB
        except (KeyError, TypeError, ValueError):
            self.detail = f"ComfyUI at {self.url} reports a device without memory figures"
            return GpuSnapshot(available=False)
        name = str(device.get("name") or device.get("type") or "device")
        if device.get("type") == "cpu":
            self.detail = f"ComfyUI at {self.url} renders on the CPU (started with --cpu): no GPU"
            return CpuSnapshot(total_mb=total, free_mb=free)
        self.detail = name
        return GpuSnapshot(available=True, name=name, total_mb=total, free_mb=free)


def probe_detail(probe: GpuProbe) -> str:
    """The reason a probe gives for its last answer ('' for probes without one)."""
    return str(getattr(probe, "detail", "") or "")


def select_gpu_probe(comfyui_url: str | None) -> GpuProbe:
    """The probe the worker trusts: the ComfyUI server's own view when one is configured
    (the server may be on another machine, and it is the process that holds the memory),
    NVML on this machine otherwise."""
    if comfyui_url:
        return ComfyStatsProbe(comfyui_url)
    return NvmlGpuProbe()
