"""ffmpeg children that die with the process that started them, even under ``kill -9``.

The first child process this module starts for a process also starts a *reaper*: a tiny
Python process that leads a process group of its own and blocks reading a pipe whose only
write end this process holds. Every ffmpeg is then started into the reaper's group
(``process_group=`` of :class:`subprocess.Popen`: no ``preexec_fn``, no shell). When this
process ends in any way, SIGKILL included, the kernel closes the pipe; the reaper reads EOF
and sends SIGKILL to its whole group, which takes every ffmpeg still running with it.

Being in their own group also keeps the children out of a terminal's Ctrl-C: the worker
decides how a job stops (it hands the job back), not the terminal.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("render.reaper")

# Ignore the signals a terminal or a service manager sends the worker's group; only EOF on
# stdin (the worker is gone) makes the reaper kill its group, itself included.
_REAPER = (
    "import os, signal, sys\n"
    "for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
    "    signal.signal(s, signal.SIG_IGN)\n"
    "try:\n"
    "    while sys.stdin.buffer.read(4096):\n"
    "        pass\n"
    "finally:\n"
    "    os.killpg(0, signal.SIGKILL)\n"
)

_lock = threading.Lock()
_state: dict[str, Any] = {"owner": None, "proc": None}


def _reaper_group() -> int | None:
    """The reaper's process group id for this process, starting the reaper if needed;
    None when it cannot be started (the children then run without it)."""
    with _lock:
        proc: subprocess.Popen[bytes] | None = _state["proc"]
        if _state["owner"] == os.getpid() and proc is not None and proc.poll() is None:
            return proc.pid
        try:
            proc = subprocess.Popen(  # noqa: S603 - fixed argv, our own code
                [sys.executable, "-I", "-S", "-c", _REAPER],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                process_group=0,
            )
        except OSError as exc:
            log.warning("could not start the ffmpeg reaper: %s", exc)
            _state.update(owner=os.getpid(), proc=None)
            return None
        _state.update(owner=os.getpid(), proc=proc)
        return proc.pid


def popen(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    """``subprocess.Popen(argv, **kwargs)`` in the reaper's group (see the module text)."""
    group = _reaper_group()
    if group is not None:
        try:
            return subprocess.Popen(list(argv), process_group=group, **kwargs)  # noqa: S603 - argv list, no shell
        except (OSError, subprocess.SubprocessError) as exc:
            # The reaper died between the check and the start (setpgid: no such group).
            log.warning("could not start %s in the reaper's group (%s); starting it plainly", argv[0], exc)
    return subprocess.Popen(list(argv), **kwargs)  # noqa: S603 - argv list, no shell


def reaper_pid() -> int | None:
    """The live reaper of this process, if one was started (for tests and ``doctor``)."""
    proc = _state["proc"]
    if _state["owner"] == os.getpid() and proc is not None and proc.poll() is None:
        return int(proc.pid)
    return None
