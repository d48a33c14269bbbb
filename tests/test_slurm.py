"""The tiny workflow through the real SLURM executor: a private one-node SLURM started by the test.

Needs root (the daemons, and ``/etc/slurm/slurm.conf``, which the executor's job steps read from
the default place) and the Debian packages ``slurm-wlm`` and ``munge`` (``envs/system-packages.sh``).
Two fake GPUs (``/dev/null``, ``/dev/zero``) let SLURM grant the rules' ``gpu: 1`` requests.
"""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.test_workflow import ROOT, TINY_CONFIG

CONF_DIR = Path("/etc/slurm")
TOOLS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "scontrol", "sinfo")
MODELS = ("MeanOfFrames", "SimpleESN")

SLURM_CONF = """\
ClusterName=echoes-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=3600
SlurmUser=root
StateSaveLocation={state}/ctld
SlurmdSpoolDir={state}/spool
SlurmctldPidFile={state}/slurmctld.pid
SlurmdPidFile={state}/slurmd.pid
SlurmctldLogFile={state}/slurmctld.log
SlurmdLogFile={state}/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
GresTypes=gpu
NodeName={host} NodeAddr=127.0.0.1 CPUs=16 RealMemory=128000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def _munge_works() -> bool:
    encoded = subprocess.run(["munge", "-n"], capture_output=True)
    return (
        encoded.returncode == 0
        and subprocess.run(["unmunge"], input=encoded.stdout, capture_output=True).returncode == 0
    )


def _start_munge() -> bool:
    """Start munged unless one already answers; True if this test started it."""
    if _munge_works():
        return False
    socket_dir = Path("/run/munge")
    socket_dir.mkdir(exist_ok=True)
    shutil.chown(socket_dir, "munge", "munge")
    subprocess.run(["munged", "--force"], check=True, capture_output=True)
    return True


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("a private SLURM needs root: its daemons and /etc/slurm/slurm.conf")
    missing = [tool for tool in TOOLS if not shutil.which(tool)]
    assert not missing, f"{missing} not installed: run `sh envs/system-packages.sh`"
    if (CONF_DIR / "slurm.conf").exists():
        pytest.skip("this machine already has /etc/slurm/slurm.conf; the test will not replace it")
    state = tmp_path_factory.mktemp("slurm-state")
    host = socket.gethostname().split(".")[0]
    CONF_DIR.mkdir(exist_ok=True)
    (CONF_DIR / "slurm.conf").write_text(SLURM_CONF.format(host=host, state=state))
    (CONF_DIR / "gres.conf").write_text(f"NodeName={host} Name=gpu File=/dev/null,/dev/zero\n")
    started_munge = _start_munge()
    try:
        subprocess.run(["slurmd"], check=True)
        subprocess.run(["slurmctld"], check=True)
        deadline = time.monotonic() + 60
        while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout:
            assert time.monotonic() < deadline, (state / "slurmctld.log").read_text()[-3000:]
            time.sleep(1)
        yield state
    finally:
        subprocess.run(["scontrol", "shutdown"], capture_output=True)
        time.sleep(2)
        for daemon in ("slurmctld", "slurmd"):
            pid_file = state / f"{daemon}.pid"
            if pid_file.exists():
                subprocess.run(["kill", pid_file.read_text().strip()], capture_output=True)
        for name in ("slurm.conf", "gres.conf"):
            (CONF_DIR / name).unlink(missing_ok=True)
        if started_munge:
            subprocess.run(["pkill", "-x", "munged"], capture_output=True)


def slurm_jobs() -> list[dict[str, str]]:
    """Every job SLURM still remembers (MinJobAge keeps finished ones), as ``scontrol`` fields."""
    output = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in output.splitlines() if line.strip()]


@pytest.mark.e2e
def test_the_tiny_workflow_runs_through_the_slurm_executor(slurm_cluster, tmp_path):
    profile = yaml.safe_load((ROOT / "profiles" / "slurm" / "config.yaml").read_text())
    profile["default-resources"]["slurm_partition"] = "debug"  # the settings a user fills in
    for settings in profile["set-resources"].values():
        if "slurm_partition" in settings:
            settings["slurm_partition"] = "debug"  # the one test partition serves the GPU rules too
    del profile["default-resources"]["slurm_account"]
    (tmp_path / "profile").mkdir()
    (tmp_path / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    config = {**TINY_CONFIG, "models": {name: TINY_CONFIG["models"][name] for name in MODELS}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    command = [
        sys.executable, "-m", "snakemake", "--profile", str(tmp_path / "profile"), "--workflow-profile", "none",
        "--slurm-no-account", "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "1",
        "--seconds-between-status-checks", "2", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path),
        "--configfile", str(tmp_path / "config.yaml"),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": ""}
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-5000:]

    report = (tmp_path / "results" / "comparison.md").read_text()
    assert all(re.search(rf"^\| {name} ", report, re.M) for name in MODELS)
    jobs = [job for job in slurm_jobs() if job.get("WorkDir") == str(tmp_path)]
    assert len(jobs) == 1 + config["frames"]["shards"] + 1 + len(MODELS)  # light rules stay local
    gpu_jobs = [job for job in jobs if job.get("TresPerJob") == "gres:gpu:1"]
    assert len(gpu_jobs) == 1 + len(MODELS)  # extract_features and every train_model
    assert all(job["JobState"] == "COMPLETED" for job in jobs)
    assert {job["NumCPUs"] for job in gpu_jobs} == {"4", "8"}  # cpus_per_task of train_model, extract_features
