"""The code and the workflow stay clean: ruff, snakefmt and snakemake --lint, and envs agree with pyproject."""

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def run(*command: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env, timeout=300)


def test_ruff_finds_nothing_and_the_code_is_formatted():
    lint, formatting = run(str(BIN / "ruff"), "check", "."), run(str(BIN / "ruff"), "format", "--check", ".")
    assert lint.returncode == 0, lint.stdout
    assert formatting.returncode == 0, formatting.stdout


def test_snakefmt_leaves_the_workflow_unchanged():
    result = run(str(BIN / "snakefmt"), "--check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "config",
    [[], ["dataset=ucf101"], ["dataset=folder", "folder={'videos_dir': '.'}"]],
    ids=["synthetic", "ucf101", "folder"],
)
def test_snakemake_lint_reports_nothing(config):
    command = [sys.executable, "-m", "snakemake", "--lint", "--cores", "1"]
    result = run(*command, *(["--config", *config] if config else []))
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output


def test_every_rule_runs_in_the_conda_environment():
    rules = [line for f in sorted((ROOT / "rules").glob("*.smk")) for line in f.read_text().splitlines()]
    scripts = sum(line.strip() == "script:" for line in rules)
    envs = sum(line.strip() == '"../envs/echoes.yaml"' for line in rules)
    assert scripts == envs > 0


def test_the_conda_environment_pins_what_pyproject_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / "envs" / "echoes.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    runs_outside_env = {d for d in project["dependencies"] if d.startswith("snakemake")}
    assert set(pip) - {"-e ${ECHOES_ROOT}"} == set(project["dependencies"]) - runs_outside_env
    assert "-e ${ECHOES_ROOT}" in pip
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python="))
    assert project["requires-python"] == f">={python.removeprefix('python=')}"


def test_the_conda_environment_installs_this_repository_from_where_snakemake_copies_its_file(tmp_path, monkeypatch):
    """Snakemake creates envs from a copy at .snakemake/conda/<hash>.yaml: the package line must not be relative."""
    from pip._internal.req.req_file import expand_env_variables

    from echoes.config import export_package_root

    copy = tmp_path / ".snakemake" / "conda" / "0123abcd.yaml"
    copy.parent.mkdir(parents=True)
    shutil.copy(ROOT / "envs" / "echoes.yaml", copy)
    pip = next(d["pip"] for d in yaml.safe_load(copy.read_text())["dependencies"] if isinstance(d, dict))
    monkeypatch.delenv("ECHOES_ROOT", raising=False)
    assert export_package_root(ROOT) == str(ROOT.resolve())
    lines = list(expand_env_variables(enumerate(pip, start=1)))  # what pip makes of the requirement lines
    editable = Path(next(line for _, line in lines if line.startswith("-e ")).removeprefix("-e "))
    assert editable == ROOT.resolve() and 'name = "echoes"' in (editable / "pyproject.toml").read_text()
    assert (copy.parent / "..").resolve() != ROOT.resolve()  # the old `-e ..` pointed into .snakemake/
