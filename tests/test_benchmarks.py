"""The benchmarks stay runnable: each one's command line loads against the package as it is now.

A benchmark measures for minutes, so the suite runs none; but one that no longer imports, or calls
the package with arguments it no longer takes at load time, is found here rather than on the day
someone needs its numbers.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_a_benchmark_loads_and_explains_its_options(script):
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--help"],
        capture_output=True, text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0 and "usage:" in result.stdout, result.stderr[-2000:]
