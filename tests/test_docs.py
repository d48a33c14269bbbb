"""The README and docs/ say what works: their links resolve and their snakemake commands plan."""

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_caching import copy_project

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
#: Commands a dry run cannot check: a report needs finished outputs, conda needs conda.
UNPLANNABLE = ("--report", "--software-deployment-method")


def snakemake_commands() -> list[str]:
    found = []
    for page in PAGES:
        for match in re.finditer(r"\.venv/bin/snakemake((?: [^`\n#]+)?)", page.read_text()):
            arguments = match[1].strip()
            if not any(flag in arguments for flag in UNPLANNABLE):
                found.append(arguments)
    return sorted(set(found))


def test_every_relative_link_of_readme_and_docs_resolves():
    for page in PAGES:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+://", target):
                assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"


def test_the_docs_show_snakemake_commands():
    assert len(snakemake_commands()) >= 5


@pytest.mark.e2e
@pytest.mark.parametrize("arguments", snakemake_commands())
def test_each_snakemake_command_of_readme_and_docs_plans_in_a_fresh_clone(arguments, tmp_path):
    project = copy_project(tmp_path / "clone")
    for part in ("config.yaml", "examples"):
        source = ROOT / part
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, project / part)
    command = [sys.executable, "-m", "snakemake", *shlex.split(arguments), "-n", "--quiet", "rules"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(command, cwd=project, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
