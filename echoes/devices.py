"""The runtime a job computes on: its device (one GPU per job, leased), threads, seed and memory.

One GPU per job on a multi-GPU machine: a device lease taken before CUDA initialises.

Snakemake's ``gpu`` resource bounds how many GPU jobs run at once (``--resources gpu=K``), but
it does not say *which* GPU each job gets; without a lease every job would use device 0. A job
therefore takes an exclusive ``flock`` on ``<lock dir>/gpu-<id>.lock`` for the first free device
among those it may see, and narrows ``CUDA_VISIBLE_DEVICES`` to that one before PyTorch touches
CUDA. The kernel drops a lock when its process dies, so a killed job never strands a device.

Under SLURM (``SLURM_JOB_ID`` set) the scheduler has already given the job its own GPUs in
``CUDA_VISIBLE_DEVICES``, often renumbered from 0 inside the job, so no lease is taken.
"""

from __future__ import annotations

import fcntl
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

LOCK_DIR_VARIABLE = "ECHOES_GPU_LOCK_DIR"


def default_lock_dir() -> Path:
    """Shared by every job of this user on this machine (leases are per machine, not per workflow)."""
    return Path(os.environ.get(LOCK_DIR_VARIABLE) or Path(tempfile.gettempdir()) / f"echoes-gpu-leases-{os.getuid()}")


def count_gpus() -> int:
    """GPUs on this machine, from ``nvidia-smi``: asking PyTorch would initialise CUDA too early."""
    if not shutil.which("nvidia-smi"):
        return 0
    result = subprocess.run(["nvidia-smi", "--list-gpus"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in result.stdout.splitlines()) if result.returncode == 0 else 0


def visible_devices(environ: Mapping[str, str], gpu_count: int) -> list[str]:
    """The device ids a job may lease: ``CUDA_VISIBLE_DEVICES`` when set, else every GPU."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and d.strip() != "-1"]
    return [str(i) for i in range(gpu_count)]


def _try_lock(path: Path) -> IO[str] | None:
    """An open lock file held exclusively by this process, or ``None`` if another holds it."""
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    handle.truncate(0)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


@contextmanager
def lease(devices: Sequence[str], lock_dir: Path, poll: float = 0.5, timeout: float | None = None) -> Iterator[str]:
    """Hold the first free device of ``devices`` for the duration of the block; wait if all are held."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        for device in devices:
            handle = _try_lock(lock_dir / f"gpu-{device}.lock")
            if handle is None:
                continue
            with handle:
                try:
                    yield device
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"no free GPU among {list(devices)} after {timeout} s (locks in {lock_dir})")
        time.sleep(poll)


@contextmanager
def gpu_lease(
    requested: str,
    environ: MutableMapping[str, str] = os.environ,
    gpu_count: int | None = None,
    lock_dir: Path | None = None,
) -> Iterator[str | None]:
    """Narrow ``CUDA_VISIBLE_DEVICES`` to one leased GPU for a job that may use CUDA.

    Yields the leased id, or ``None`` when there is nothing to lease: ``device: cpu``, no GPU,
    or SLURM has already chosen the job's GPUs.
    """
    if requested == "cpu" or ("SLURM_JOB_ID" in environ and "CUDA_VISIBLE_DEVICES" in environ):
        yield None
        return
    devices = visible_devices(environ, count_gpus() if gpu_count is None else gpu_count)
    if not devices:
        yield None
        return
    previous = environ.get("CUDA_VISIBLE_DEVICES")
    with lease(devices, lock_dir or default_lock_dir()) as device:
        environ["CUDA_VISIBLE_DEVICES"] = device
        print(f"GPU lease: device {device} of {','.join(devices)}", flush=True)
        try:
            yield device
        finally:
            if previous is None:
                environ.pop("CUDA_VISIBLE_DEVICES", None)
            else:
                environ["CUDA_VISIBLE_DEVICES"] = previous


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch so that one config and seed give one result."""
    import torch

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class MemoryWindow:
    """The peak resident memory of a stretch of work above what the process held when it began.

    On Linux the kernel's high-water mark (VmHWM) is reset at the start (``/proc/self/clear_refs``,
    value 5), so the peak is the window's own, not one left by loading data or importing libraries;
    elsewhere the lifetime peak stands in for it (and may overstate the window's).
    """

    def __init__(self) -> None:
        self.reset = _reset_peak_rss()
        self.baseline_mib = current_rss_mib()

    def peak_above_baseline_mib(self) -> float:
        peak = _status_mib("VmHWM") if self.reset else peak_rss_mib()
        return max(0.0, peak - self.baseline_mib)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise KeyError(field)


def _reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def current_rss_mib() -> float:
    """This process's resident memory now (MiB); the lifetime peak where /proc is not available."""
    try:
        return _status_mib("VmRSS")
    except (OSError, KeyError):
        return peak_rss_mib()


def peak_rss_mib() -> float:
    """High-water mark of this process's resident memory (MiB), as the kernel counts it."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def set_threads(threads: int) -> int:
    """Give PyTorch ``threads`` intra-op threads, never more than the cores this process may use.

    More threads than cores makes PyTorch on CPU crawl (spin-waiting workers), so the count
    Snakemake grants is capped by the real core count.
    """
    import torch

    threads = max(1, min(int(threads), available_cores()))
    torch.set_num_threads(threads)
    return threads


def synchronize(device: str | torch.device) -> None:
    """Wait for a GPU's queued work, so that a wall clock read after it times that work (no-op on CPU)."""
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def _seconds(run: Callable[[], object], device: str | torch.device) -> float:
    synchronize(device)
    start = time.perf_counter()
    run()
    synchronize(device)
    return time.perf_counter() - start


def median_seconds(run: Callable[[], object], repeats: int = 5, device: str | torch.device = "cpu") -> float:
    """Median wall time of ``run`` over ``repeats`` calls after a warm-up call, waiting for a GPU to finish each."""
    run()
    return statistics.median(_seconds(run, device) for _ in range(repeats))


def runs_faster(
    first: Callable[[], object], second: Callable[[], object], repeats: int = 7, device: str | torch.device = "cpu"
) -> bool:
    """Whether ``first`` takes less time than ``second`` (medians of ``repeats`` calls each, after a
    warm-up call of each). The calls alternate, so that a slow spell of a shared host slows both."""
    first(), second()
    times = [(_seconds(first, device), _seconds(second, device)) for _ in range(repeats)]
    return statistics.median(a for a, _ in times) < statistics.median(b for _, b in times)


def pick_device(requested: str = "auto") -> str:
    """``cuda`` when asked for or available under ``auto``; ``cpu`` otherwise."""
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device: cuda was requested in config but no CUDA device is visible")
    return requested


#: Other processes' mean CPU use (cores) during a timed fit above which its times are not trusted.
OTHER_CORES_BUSY = 0.5


def busy_cpu_seconds() -> float | None:
    """CPU seconds every process of the machine has used since boot (``/proc/stat``), or None off Linux."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def is_busy(
    load_start: float, load_end: float, cores: int, other_cores: float | None, threads: int | None = None
) -> bool:
    """Whether other work competed with a timed fit for the cores its ``threads`` run on.

    Busy: a 1-minute load above the cores this process may use plus one, or other processes using,
    on average, more than ``OTHER_CORES_BUSY`` cores beyond those this fit leaves free (``cores -
    threads``: a 1-thread job beside another on 2 cores has its core to itself). The load average
    lags by a minute and misses a competitor that takes one core of two; the CPU time does not.
    """
    spare = max(0, cores - threads) if threads is not None else 0
    overloaded = max(load_start, load_end) > cores + 1
    return overloaded or (other_cores is not None and other_cores > spare + OTHER_CORES_BUSY)


@dataclass(frozen=True)
class MachineState:
    """The load around a timed fit: other work on the machine makes every time in the row unreliable.

    Recorded: the 1-minute load at the start and the end, the CPU time this process got against its
    wall time and threads, and the cores other processes used meanwhile (machine-wide CPU time from
    ``/proc/stat`` minus this process's); :func:`is_busy` judges from them.
    """

    load_start: float
    cpu_start: float
    machine_cpu_start: float | None
    cores: int

    @classmethod
    def now(cls) -> MachineState:
        return cls(os.getloadavg()[0], time.process_time(), busy_cpu_seconds(), available_cores())

    def until_now(self, wall_seconds: float) -> dict[str, float | int | bool | None]:
        load_end, cpu, machine_cpu = os.getloadavg()[0], time.process_time() - self.cpu_start, busy_cpu_seconds()
        import torch  # after the clocks: importing it costs CPU time

        other = None
        if machine_cpu is not None and self.machine_cpu_start is not None:
            other = max(0.0, machine_cpu - self.machine_cpu_start - cpu) / max(wall_seconds, 1e-9)
        threads = torch.get_num_threads()
        return {
            "cores": self.cores,
            "threads": threads,
            "load_1m_start": self.load_start,
            "load_1m_end": load_end,
            "cpu_time_s": cpu,
            "wall_time_s": wall_seconds,
            "cpu_utilisation": cpu / max(wall_seconds * threads, 1e-9),
            "other_processes_cores": other,
            "busy": is_busy(self.load_start, load_end, self.cores, other, threads),
        }
