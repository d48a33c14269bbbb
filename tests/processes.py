"""Stopping a server a test started, even when it does not stop when asked (a busy machine, a stuck worker)."""

from __future__ import annotations

import os
import signal
import subprocess


def stop_process(process: subprocess.Popen, grace: float = 30.0) -> int:
    """SIGTERM to the process group, then SIGKILL if it has not exited within ``grace`` seconds; returns its code.

    The process must have been started with ``start_new_session=True`` so that its workers share its group.
    """
    if process.poll() is not None:
        return process.returncode
    group = os.getpgid(process.pid)
    os.killpg(group, signal.SIGTERM)
    try:
        return process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        return process.wait(timeout=30)
