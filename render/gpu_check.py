"""Check VRAM telemetry on a real NVIDIA card: ``python -m render.gpu_check``.

Prints the card as NVML sees it (the worker's own probe, :class:`render.gpu.NvmlGpuProbe`),
then starts a child process that allocates GPU memory with PyTorch (a plain device tensor:
cudaMalloc through PyTorch's allocator, never managed memory) and holds it, while the
worker's sampler (:class:`render.vram.VramSampler`) samples NVML every 0.2 s. Prints the
samples and the peak.

Exit status: 0 when the peak rose by at least ``--min-rise-gib`` (1.5 GiB) over the
baseline, or when there is nothing to check (no NVIDIA GPU, or no PyTorch to allocate
with); 1 when it did not rise enough or the child could not allocate. Needs nvidia-ml-py, and PyTorch for the allocation;
nothing else beyond the standard library.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from render.gpu import NvmlGpuProbe
from render.vram import VramSampler

GIB_MB = 1024.0
ROOT = Path(__file__).resolve().parents[1]


def hold_memory(gib: float, hold_s: float, index: int) -> int:
    """The child: allocate ``gib`` GiB on GPU ``index``, touch it, hold it ``hold_s`` seconds."""
    import torch

    if not torch.cuda.is_available():
        print("child: PyTorch sees no CUDA device", flush=True)
        return 3
    device = torch.device("cuda", index)
    block = torch.empty(int(gib * 2**30), dtype=torch.uint8, device=device)
    block.fill_(1)  # touch every page, so the memory is really in use
    torch.cuda.synchronize(device)
    print(f"child: holding {gib:g} GiB on {torch.cuda.get_device_name(device)} for {hold_s:g} s", flush=True)
    time.sleep(hold_s)
    del block
    return 0


def _snapshot_ms(probe: NvmlGpuProbe, times: int = 5) -> float:
    started = time.perf_counter()
    for _ in range(times):
        probe.snapshot()
    return (time.perf_counter() - started) / times * 1000


def check(
    *, gib: float = 2.0, hold_s: float = 3.0, interval_s: float = 0.2, min_rise_gib: float = 1.5, index: int = 0
) -> int:
    """Run the check (see the module docstring); returns the exit status."""
    probe = NvmlGpuProbe(index)
    snap = probe.snapshot()
    if not snap.available:
        print(f"no NVIDIA GPU: {probe.detail or 'NVML sees none'}; nothing to check")
        return 0
    baseline = snap.total_mb - snap.free_mb
    print(
        f"GPU {index}: {snap.name}: total {snap.total_mb:.0f} MiB, used {baseline:.0f} MiB, "
        f"free {snap.free_mb:.0f} MiB"
    )
    cold = _snapshot_ms(probe)
    with probe.session():
        warm = _snapshot_ms(probe)
    print(f"NVML snapshot: {cold:.2f} ms each, {warm:.2f} ms with NVML held open (as the sampler does)")

    has_torch = importlib.util.find_spec("torch") is not None
    if not has_torch:
        print("PyTorch is not installed: sampling an idle card instead of an allocation")
    env = dict(os.environ)
    # NVML numbers cards by PCI bus; make CUDA agree, so the child fills the card we watch.
    env.setdefault("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    argv = [sys.executable, "-m", "render.gpu_check", "--child", "--gib", str(gib),
            "--hold", str(hold_s), "--index", str(index)]
    child_rc: int | None = None
    started = time.monotonic()
    with VramSampler(probe, interval_s) as sampler:
        if has_torch:
            child = subprocess.Popen(argv, cwd=str(ROOT), env=env)  # noqa: S603 - fixed argv, our own module
            try:
                child_rc = child.wait(timeout=hold_s + 120)
            except subprocess.TimeoutExpired:
                child.kill()
                child_rc = child.wait()
                print("child: did not finish in time; killed")
        else:
            time.sleep(hold_s)
    elapsed = time.monotonic() - started

    samples = sampler.samples
    print(f"{len(samples)} samples in {elapsed:.1f} s (every {interval_s:g} s; {sampler.failures} probe errors):")
    for t, used in samples:
        print(f"  t={t:7.2f} s  used {used:9.1f} MiB  ({used - baseline:+9.1f})")
    peak = sampler.peak_used_mb
    if peak is None:
        print("FAIL: the sampler took no sample of a card NVML had just seen")
        return 1
    rise = peak - baseline
    print(f"peak {peak:.1f} MiB: {rise / GIB_MB:+.2f} GiB over the baseline of {baseline:.1f} MiB")
    if not has_torch:
        print("SKIP: no allocation to look for (install torch for the full check)")
        return 0
    if child_rc != 0:
        print(f"FAIL: the child did not hold its allocation (exit status {child_rc})")
        return 1
    if rise < min_rise_gib * GIB_MB:
        print(f"FAIL: the peak rose less than {min_rise_gib:g} GiB while the child held {gib:g} GiB")
        return 1
    print(f"OK: the sampler saw the child's {gib:g} GiB")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m render.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=2.0, help="GiB the child allocates")
    parser.add_argument("--hold", type=float, default=3.0, help="seconds the child holds it")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between samples")
    parser.add_argument("--min-rise-gib", type=float, default=1.5, help="rise of the peak that passes")
    parser.add_argument("--index", type=int, default=0, help="GPU index (NVML order)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return hold_memory(args.gib, args.hold, args.index)
    return check(gib=args.gib, hold_s=args.hold, interval_s=args.interval,
                 min_rise_gib=args.min_rise_gib, index=args.index)


if __name__ == "__main__":
    sys.exit(main())
