"""How PyTorch jobs share a machine: the gpu resource gates CUDA jobs only; threads never exceed the CPUs."""

import pytest

from echoes.planning.scheduling import claimed_threads, job_uses_gpu, oversubscription, torch_threads


@pytest.mark.parametrize(
    ("device", "gpus", "uses"),
    [("cuda", 0, True), ("cuda", 2, True), ("auto", 1, True), ("auto", 0, False), ("cpu", 4, False)],
)
def test_a_job_holds_the_gpu_resource_only_when_it_will_run_on_cuda(device, gpus, uses):
    assert job_uses_gpu(device, gpus) is uses


@pytest.mark.parametrize(
    ("cores", "cpus", "factor"), [(8, 2, 4), (3, 2, 2), (2, 2, 1), (1, 2, 1), (8, 8, 1), (None, 2, 1)]
)
def test_oversubscription_is_how_many_times_the_cores_given_exceed_the_machine(cores, cpus, factor):
    assert oversubscription(cores, cpus) == factor


@pytest.mark.parametrize(("cores", "cpus"), [(8, 2), (4, 2), (2, 2), (8, 8), (16, 6), (5, 3)])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_jobs_side_by_side_never_run_more_pytorch_threads_than_cpus(cores, cpus, threads):
    """Snakemake runs jobs until their claims fill --cores (and grants at most --cores to one job)."""
    factor = oversubscription(cores, cpus)
    granted = min(claimed_threads(threads, factor), cores)
    side_by_side = cores // granted
    assert side_by_side * torch_threads(granted, factor) <= max(cpus, torch_threads(granted, factor))
    assert torch_threads(granted, factor) == min(threads, max(1, cores // factor))


def test_a_two_core_laptop_given_eight_cores_runs_two_one_thread_jobs_or_one_two_thread_job():
    factor = oversubscription(8, 2)
    assert (8 // claimed_threads(1, factor), torch_threads(claimed_threads(1, factor), factor)) == (2, 1)
    assert (8 // claimed_threads(2, factor), torch_threads(claimed_threads(2, factor), factor)) == (1, 2)
