"""How the workflow's PyTorch jobs share one machine: which jobs hold a GPU, and how many threads each runs.

Snakemake runs jobs side by side until their declared ``threads`` fill ``--cores`` and their
resources fill ``--resources``. Two facts shape what a PyTorch job declares:

- The ``gpu`` resource (``--resources gpu=K``) should bound CUDA jobs only. A job that will run on
  the CPU declares ``gpu: 0``, so CPU-only runs go side by side up to ``--cores``.
- ``--cores`` may exceed the machine's CPUs (the README's ``--cores 8`` on a 2-core laptop). PyTorch
  jobs whose threads together exceed the CPUs crawl (spinning worker threads starve each other,
  docs/cluster.md) and time each other's fits. A job therefore claims its PyTorch threads times
  :func:`oversubscription` of ``--cores``, so that jobs side by side never run more threads than
  the machine has CPUs, and runs :func:`torch_threads` of what Snakemake grants it.
"""

from __future__ import annotations

import math


def job_uses_gpu(device: str, gpu_count: int) -> bool:
    """Whether a PyTorch job will hold a GPU: ``device: cuda``, or ``auto`` on a machine with one."""
    return device == "cuda" or (device == "auto" and gpu_count > 0)


def oversubscription(cores: int | None, cpus: int) -> int:
    """How many times ``--cores`` exceeds this machine's CPUs, rounded up (1 when it does not, or is unset)."""
    if not cores or cores <= cpus:
        return 1
    return math.ceil(cores / max(cpus, 1))


def claimed_threads(threads: int, factor: int) -> int:
    """The Snakemake threads a PyTorch job declares to run ``threads`` PyTorch threads (capped at ``--cores``)."""
    return threads * factor


def torch_threads(granted: int, factor: int) -> int:
    """The PyTorch threads of a job Snakemake granted ``granted`` threads: its share of the real CPUs."""
    return max(1, granted // factor)
