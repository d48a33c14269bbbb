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


@pytest.mark.slow
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

    from echoes.planning.config import export_package_root

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


PARSE_WITHOUT_TORCH = """
import atexit, sys
atexit.register(lambda: print("torch imported" if "torch" in sys.modules else "no torch"))
from snakemake.cli import main
sys.argv = ["snakemake", *sys.argv[1:]]
main()
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["-n", "--lint"])
def test_parsing_the_workflow_imports_no_torch(tmp_path, mode):
    """A dry run, a lint or a report needs the DAG only: config checks for built-in models come from the schema."""
    command = [sys.executable, "-c", PARSE_WITHOUT_TORCH, mode, "--cores", "1", "--snakefile", str(ROOT / "Snakefile")]
    command += ["--directory", str(tmp_path), "--configfile", str(ROOT / "config.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and "no torch" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"]["Mine"] = {"class": "tests.user_models.MyCustomRNN", "params": {"hidden_size": 8}}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    command[-1] = str(tmp_path / "mine.yaml")  # a model named by import path is imported, and torch with it
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)}
    )
    assert result.returncode == 0 and "torch imported" in result.stdout, result.stdout[-2000:] + result.stderr[-2000:]


def test_every_builtin_class_has_its_params_contract_in_the_schema_and_no_other():
    """The schema checks a built-in's params without importing it: for that, each class's constructor
    takes every param its schema entry allows, and the schema has an entry for each class, no more."""
    from echoes.models import BUILTIN_MODELS, constructor_arguments
    from echoes.planning.config import builtin_models, load_schema

    schema = builtin_models(load_schema(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    assert set(schema) == set(BUILTIN_MODELS)
    for name, cls in BUILTIN_MODELS.items():
        assert set(schema[name]["properties"]) <= set(constructor_arguments(cls)[0]), name


def test_the_training_core_imports_no_dataset_tracking_or_mlflow_module_and_tests_no_model_class():
    """echoes/training takes what it needs as data (task families travel with the features) and asks
    models through their hooks (layer_summaries, layer_probes); files, MLflow and datasets are the stage's."""
    import ast

    from echoes.planning.codegraph import imported_names

    for module in sorted((ROOT / "echoes" / "training").glob("*.py")):
        source = module.read_text()
        imports = imported_names(source) | {
            alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import) for alias in node.names
        }
        assert not {i for i in imports if i.startswith(("echoes.data.synthetic", "echoes.tracking", "mlflow"))}, module
        assert "from mlflow" not in source and "import mlflow" not in source, module
        assert "isinstance(final.model" not in source and "ReservoirStack" not in source, module


def test_no_module_of_the_package_is_over_350_lines_and_no_function_over_50():
    """Small modules and functions: one concern each, readable in one sitting."""
    import ast

    too_long = []
    for module in sorted((ROOT / "echoes").rglob("*.py")):
        source = module.read_text()
        if len(source.splitlines()) > 350:
            too_long.append(f"{module.relative_to(ROOT)}: {len(source.splitlines())} lines")
        for node in ast.walk(ast.parse(source)):
            lines = node.end_lineno - node.lineno + 1 if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) else 0
            if lines > 50:
                too_long.append(f"{module.relative_to(ROOT)}:{node.lineno} {node.name}: {lines} lines")
    assert not too_long, too_long
