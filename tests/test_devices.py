"""Concurrent GPU jobs each lease a different device (lock files), without any GPU in the machine."""

import subprocess
import sys
import time

import pytest
import torch

from echoes.devices import MachineState, gpu_lease, is_busy, lease, median_seconds, runs_faster, visible_devices

HOLDER = """
import sys, time
from pathlib import Path
from echoes.devices import gpu_lease
environ = {"CUDA_VISIBLE_DEVICES": sys.argv[2]}
with gpu_lease("auto", environ, lock_dir=Path(sys.argv[1])) as device:
    print("LEASED", device, environ["CUDA_VISIBLE_DEVICES"], flush=True)
    time.sleep(float(sys.argv[3]))
"""


def start_job(lock_dir, visible="0,1,2", hold=3.0):
    return subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(lock_dir), visible, str(hold)], stdout=subprocess.PIPE, text=True
    )


def leased(job) -> list[str]:
    """The (device, CUDA_VISIBLE_DEVICES) a holder job reports once it has its lease."""
    while not (line := job.stdout.readline()).startswith("LEASED"):
        assert line, "the job ended without a lease"
    return line.split()[1:]


@pytest.mark.parametrize(
    ("environ", "count", "expected"),
    [({}, 2, ["0", "1"]), ({"CUDA_VISIBLE_DEVICES": "2, 3"}, 8, ["2", "3"]), ({"CUDA_VISIBLE_DEVICES": ""}, 4, [])],
)
def test_visible_devices_honour_cuda_visible_devices(environ, count, expected):
    assert visible_devices(environ, count) == expected


def test_concurrent_jobs_lease_distinct_devices(tmp_path):
    jobs = [start_job(tmp_path) for _ in range(3)]
    devices = [leased(job) for job in jobs]
    for job in jobs:
        job.wait(timeout=30)
    assert sorted(device for device, _ in devices) == ["0", "1", "2"]
    assert all(device == visible for device, visible in devices)  # narrowed to the one device


def test_a_job_waits_while_every_device_is_leased(tmp_path):
    holder = start_job(tmp_path, visible="0", hold=2.0)
    assert leased(holder)[0] == "0"
    with pytest.raises(TimeoutError, match="no free GPU"), lease(["0"], tmp_path, poll=0.05, timeout=0.3):
        pass
    holder.wait(timeout=30)
    with lease(["0"], tmp_path, timeout=1.0) as device:
        assert device == "0"


def test_a_killed_job_frees_its_device(tmp_path):
    holder = start_job(tmp_path, visible="5", hold=60)
    assert leased(holder)[0] == "5"
    holder.kill()
    holder.wait(timeout=30)
    start = time.monotonic()
    with lease(["5"], tmp_path, timeout=5.0) as device:
        assert device == "5" and time.monotonic() - start < 2


def test_the_lease_is_returned_and_the_environment_restored(tmp_path):
    environ = {}
    with gpu_lease("auto", environ, gpu_count=2, lock_dir=tmp_path) as device:
        assert device == "0" and environ["CUDA_VISIBLE_DEVICES"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in environ
    with gpu_lease("auto", environ, gpu_count=2, lock_dir=tmp_path) as device:
        assert device == "0"  # free again


@pytest.mark.parametrize(
    ("requested", "environ", "count"),
    [
        ("cpu", {}, 4),
        ("auto", {}, 0),
        ("auto", {"SLURM_JOB_ID": "42", "CUDA_VISIBLE_DEVICES": "0"}, 4),
    ],
    ids=["cpu-requested", "no-gpu", "slurm-already-assigned"],
)
def test_no_lease_is_taken_when_there_is_nothing_to_choose(tmp_path, requested, environ, count):
    before = dict(environ)
    with gpu_lease(requested, environ, gpu_count=count, lock_dir=tmp_path) as device:
        assert device is None and environ == before


def test_a_memory_window_measures_its_own_peak_not_one_left_before_it():
    import numpy as np

    from echoes.devices import MemoryWindow

    before = np.ones(300 * 2**20 // 8)  # a 300 MiB peak before the window opens
    del before
    window = MemoryWindow()
    inside = np.ones(120 * 2**20 // 8)  # 120 MiB touched inside the window
    peak = window.peak_above_baseline_mib()
    del inside
    if window.reset:  # Linux: the kernel's high-water mark was reset when the window opened
        assert 100 <= peak < 250
    else:
        assert peak >= 100


def test_runs_faster_times_the_two_in_turn_and_compares_their_medians():
    calls = []

    def quick():
        calls.append("quick")

    def slow():
        calls.append("slow")
        time.sleep(0.005)

    assert runs_faster(quick, slow, repeats=3)
    assert calls == ["quick", "slow"] * 4  # a warm-up call of each, then in turn
    assert not runs_faster(slow, quick, repeats=3)


def test_median_seconds_discards_a_warm_up_call_and_takes_the_median_of_the_rest():
    pauses = [0.3, 0.0, 0.3, 0.0]  # a slow first call (the warm-up), then three timed ones

    def run():
        time.sleep(pauses.pop(0))

    assert median_seconds(run, repeats=3) < 0.1  # timing the warm-up too would give a median of 0.3 s
    assert pauses == []


def test_a_fit_timed_while_another_process_takes_a_core_is_flagged_busy_whatever_the_load_average():
    assert not is_busy(load_start=0.5, load_end=0.5, cores=2, other_cores=0.1)
    assert is_busy(load_start=3.5, load_end=0.5, cores=2, other_cores=0.0)  # the load average says so
    assert is_busy(load_start=0.5, load_end=0.5, cores=2, other_cores=0.9)  # the load average lags; this does not
    torch.set_num_threads(2)
    state = MachineState.now()
    started = time.perf_counter()
    spin = "import time\nt = time.time()\nwhile time.time() - t < 2: pass"
    subprocess.run([sys.executable, "-c", spin], check=True)  # another process takes a core for 2 s
    machine = state.until_now(time.perf_counter() - started)
    assert machine["other_processes_cores"] > 0.5 and machine["busy"]


def test_a_job_beside_another_is_busy_only_when_the_other_takes_more_than_the_cores_it_leaves_free():
    assert not is_busy(load_start=2.0, load_end=2.0, cores=2, other_cores=1.0, threads=1)  # one core each
    assert is_busy(load_start=2.0, load_end=2.0, cores=2, other_cores=1.0, threads=2)
    assert is_busy(load_start=3.0, load_end=3.0, cores=2, other_cores=1.8, threads=1)  # two neighbours on 2 cores
