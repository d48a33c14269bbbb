"""Cluster profiles plan every job with the resources SLURM is asked for (dry run; no cluster here)."""

import re
import subprocess
import sys

import pytest
import yaml

from tests.test_workflow import ROOT, TINY_CONFIG

pytestmark = pytest.mark.slow  # a snakemake dry run with the SLURM profile: left out of the fast tier


def planned_resources(output: str) -> dict[str, list[dict[str, str]]]:
    """``{rule: [resources of each job]}`` from a dry run's job listing."""
    plan: dict[str, list[dict[str, str]]] = {}
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", output):
        rule = re.match(r"(?:local)?rule (\w+):", block)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if rule and resources:
            pairs = (item.split("=", 1) for item in resources.group(1).split(", "))
            plan.setdefault(rule.group(1), []).append(dict(pairs))
    return plan


@pytest.fixture(scope="module")
def slurm_plan(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("slurm")
    (workdir / "config.yaml").write_text(yaml.safe_dump({**TINY_CONFIG, "splits": [1, 2], "seeds": [0, 1]}))
    command = [
        sys.executable, "-m", "snakemake", "-n",
        "--profile", str(ROOT / "profiles" / "slurm"), "--workflow-profile", "none",
        "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir),
        "--configfile", str(workdir / "config.yaml"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return planned_resources(result.stdout + result.stderr)


def test_every_job_is_planned_with_the_slurm_profile(slurm_plan):
    counts = {rule: len(jobs) for rule, jobs in slurm_plan.items()}
    models = len(TINY_CONFIG["models"])
    assert counts["train_model"] == models * 4  # two splits x two seeds
    assert counts["decode_frames"] == TINY_CONFIG["frames"]["shards"]
    assert counts["extract_features"] == 1 and counts["synthesize_dataset"] == 1


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("train_model", {"gpu": "1", "cpus_per_task": "4", "mem_mb": "32000", "runtime": "240"}),
        ("extract_features", {"gpu": "1", "cpus_per_task": "8", "mem_mb": "32000", "runtime": "240"}),
        ("decode_frames", {"cpus_per_task": "1", "mem_mb": "8000", "runtime": "240"}),
        ("synthesize_dataset", {"cpus_per_task": "1", "mem_mb": "4000", "runtime": "30"}),
    ],
)
def test_each_rule_asks_slurm_for_its_resources(slurm_plan, rule, expected):
    partition = "FILL IN: your GPU partition" if "gpu" in expected else "FILL IN: your partition"
    for job in slurm_plan[rule]:
        assert {k: job.get(k) for k in expected} == expected
        assert job["slurm_partition"] == partition and job["slurm_account"].startswith("FILL IN")
    if "gpu" not in expected:
        assert all("gpu" not in job for job in slurm_plan[rule])


def test_the_default_profile_redoes_a_job_that_was_killed():
    profile = yaml.safe_load((ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert profile["rerun-incomplete"] is True
