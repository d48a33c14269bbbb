"""Choices made by timing (a kernel's form, a block width), measured once per machine and shape and kept.

Timing on a shared host is noisy, and the candidates of such a choice may round float32
differently, so a choice timed anew by every run would let two runs of one seed differ in their
last bits. :class:`MeasuredChoices` keeps the first measurement per machine and shape on disk.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

CACHE_VARIABLE = "ECHOES_CACHE_DIR"


def machine_key(device: torch.device) -> str:
    """What a timing depends on besides the shapes: the processor, PyTorch and its thread count."""
    if device.type == "cuda":
        processor = torch.cuda.get_device_name(device)
    else:
        processor = cpu_model() or platform.processor() or platform.machine()
    return f"{processor} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), or ''."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


class MeasuredChoices:
    """The first run on a machine times and writes each choice to ``<cache>/measured-choices.json``
    (``$ECHOES_CACHE_DIR``, else ``~/.cache/echoes``); every later run reads it. Delete the file
    to measure again (after a hardware or PyTorch change the key differs anyway)."""

    def __init__(self, folder: Path | None = None) -> None:
        folder = folder or Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "echoes")
        self.path = folder / "measured-choices.json"

    def get_or_measure(self, key: str, measure: Callable[[], Any]) -> Any:
        """The value kept for ``key``, else ``measure()``'s, kept for the next run (under a file lock)."""
        known = self._read()
        if key in known:
            return known[key]
        value = measure()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                known = self._read()
                value = known.setdefault(key, value)  # a job that measured first wins: one value per key
                tmp = self.path.with_suffix(f".tmp{os.getpid()}")
                tmp.write_text(json.dumps(known, indent=1, sort_keys=True))
                tmp.replace(self.path)
        except OSError as error:  # a read-only home costs reproducibility across runs, never the run
            warnings.warn(f"cannot keep a measured choice in {self.path} ({error})", RuntimeWarning, stacklevel=2)
        return value

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
