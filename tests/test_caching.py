"""Caching that is derived, not listed: package edits rerun exactly the stages that import them.

The workflow runs from a copy of the project (Snakefile, rules, scripts, package), as a user's
clone would, so that the test can edit every module of the copy's ``echoes/`` in turn.
"""

import re
import shutil
from modulefinder import ModuleFinder
from pathlib import Path

import pytest
import yaml

from echoes.planning.codegraph import imported_names, package_files
from tests.test_workflow import NOTHING_TO_DO, ROOT, TINY_CONFIG, pending_jobs, snakemake

PROJECT_PARTS = ("Snakefile", "rules", "workflow", "echoes", "envs", "profiles")
#: The synthetic workflow's rules and the rules that consume their outputs.
DOWNSTREAM = {
    "synthesize_dataset": {"manifest", "decode_frames"},
    "manifest": {"decode_frames", "extract_features", "train_model"},
    "decode_frames": {"extract_features"},
    "extract_features": {"train_model", "track_model"},
    "train_model": {"aggregate_model", "track_model", "report"},
    "aggregate_model": {"all"},
    "track_model": {"all"},
    "report": {"all"},
}
CONFIG = {**TINY_CONFIG, "models": {k: TINY_CONFIG["models"][k] for k in ("MeanOfFrames", "SimpleESN")}}


def copy_project(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in PROJECT_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, dest / part)
    return dest


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = copy_project(tmp_path_factory.mktemp("caching") / "project")
    (root / "config.yaml").write_text(yaml.safe_dump(CONFIG, sort_keys=False))
    run(root)
    return root


def run(root: Path, *args: str) -> str:
    return snakemake(root, *args, snakefile=root / "Snakefile")


def rule_scripts(root: Path) -> dict[str, str]:
    """rule name -> script file name, read from the rule files."""
    text = "\n".join(p.read_text() for p in sorted((root / "rules").glob("*.smk")))
    pairs = re.findall(r"rule (\w+):.*?script:\s*\"\.\./workflow/scripts/(\w+\.py)\"", text, re.S)
    return dict(pairs)


def modules_run_by(script: Path, root: Path) -> set[Path]:
    """The package files a script imports, found by the standard library's ModuleFinder (not by echoes)."""
    finder = ModuleFinder(path=[str(root)])
    finder.run_script(str(script))
    return {Path(m.__file__) for name, m in finder.modules.items() if name.startswith("echoes") and m.__file__}


def with_downstream(rules: set[str]) -> set[str]:
    """``rules`` and every rule that consumes their outputs, directly or not."""
    closure, pending = set(), list(rules)
    while pending:
        rule = pending.pop()
        if rule not in closure:
            closure.add(rule)
            pending.extend(DOWNSTREAM.get(rule, ()))
    return closure


def updated_input_rules(dry_run: str) -> set[str]:
    """Rules a dry run reruns because one of their own input files changed."""
    match = re.search(r"updated input files:\n((?:\s{8}.+\n)+)", dry_run)
    return {r.strip() for line in match[1].splitlines() for r in line.split(",")} if match else set()


def test_imports_are_found_wherever_they_are_written():
    source = "import echoes.files\nfrom echoes.models import esn, build_model\ndef f():\n    from echoes import video\n"
    assert imported_names(source) == {
        "echoes.files",
        "echoes.models",
        "echoes.models.esn",
        "echoes.models.build_model",
        "echoes",
        "echoes.video",
    }


def test_a_script_depends_on_its_modules_their_imports_and_their_packages():
    files = {p.relative_to(ROOT).as_posix() for p in package_files(ROOT / "workflow/scripts/train_model.py", ROOT)}
    expected = {"echoes/__init__.py", "echoes/training/__init__.py", "echoes/training/job.py", "echoes/models/esn.py"}
    assert expected | {"echoes/models/__init__.py", "echoes/models/esn_kernels.py"} <= files
    assert "echoes/video.py" not in files and not any(f.startswith("echoes/report/") for f in files)


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "workflow" / "scripts").glob("*.py")))
def test_the_derived_code_inputs_are_the_modules_python_itself_finds(script):
    """What codegraph derives for each rule is what the standard library's ModuleFinder finds: every module counts."""
    path = ROOT / "workflow" / "scripts" / script
    assert set(package_files(path, ROOT)) == modules_run_by(path, ROOT)


@pytest.mark.e2e
def test_editing_a_module_reruns_exactly_the_stages_that_import_it(project):
    """One module for each set of rules that import it (every module's set is checked above, without Snakemake)."""
    scripts = rule_scripts(project)
    imports = {rule: modules_run_by(project / "workflow" / "scripts" / scripts[rule], project) for rule in DOWNSTREAM}
    by_importers = {}
    for module in sorted((project / "echoes").rglob("*.py")):
        by_importers.setdefault(frozenset(r for r, files in imports.items() if module in files), module)
    assert frozenset() in by_importers  # a module no rule imports (e.g. the CLI) reruns nothing
    for module in by_importers.values():
        original = module.read_text()
        module.write_text(original + "\n# edited by the caching test\n")
        try:
            dry_run = run(project, "-n")
        finally:
            module.write_text(original)
        importers = {rule for rule, files in imports.items() if module in files}
        where = f"editing {module.relative_to(project)}"
        # Snakemake gives a job one reason: one downstream of another rerun shows "updated by another job"
        first = {r for r in importers if not any(r in with_downstream({o}) for o in importers - {r})}
        assert updated_input_rules(dry_run) == first, where
        assert set(pending_jobs(dry_run)) == (with_downstream(importers) if importers else set()), where
    assert NOTHING_TO_DO in run(project, "-n")


@pytest.mark.e2e
def test_reordering_config_keys_reruns_nothing(project):
    config_file = project / "config.yaml"
    original = config_file.read_text()
    config_file.write_text(yaml.safe_dump(yaml.safe_load(original), sort_keys=True))
    try:
        reordered = yaml.safe_load(config_file.read_text())
        assert list(reordered) != list(yaml.safe_load(original))  # the keys really moved
        assert NOTHING_TO_DO in run(project, "-n")
    finally:
        config_file.write_text(original)


@pytest.mark.e2e
def test_a_copied_project_with_its_outputs_reruns_nothing(project, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(project, copy, symlinks=True)
    assert NOTHING_TO_DO in run(copy, "-n")
