"""Validation of the workflow configuration, before any job runs.

The JSON schema (``workflow/schemas/config.schema.yaml``) holds every key, its meaning, range and
default; :func:`validate_config` fills the defaults in place and raises :class:`ConfigError`
naming the key at fault. Model classes are then resolved and their ``params`` checked against
the constructor's signature, so a typo in an import path fails at once, not in a training job
(:mod:`echoes.planning.entries`).
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from echoes.contracts.params import PARAMS
from echoes.planning.entries import (  # noqa: F401 - ConfigError is this module's error too
    ConfigError,
    builtin_models,
    check_models,
    check_tuning,
    error_key,
    resolve_search_spaces,
)
from echoes.planning.sweeps import SweepError, sweep_points
from echoes.training.space import TuningBudget
from echoes.training.spec import TrainingConfig


def _with_defaults(validator_class: type) -> type:
    """A validator that also writes each property's ``default`` into the instance (the jsonschema recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, MutableMapping):
            for name, subschema in properties.items():
                if isinstance(subschema, dict) and "default" in subschema and name not in instance:
                    instance[name] = subschema["default"]
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def load_schema(path: str | Path) -> dict:
    """The schema, completed from the one place each thing is written: the ``training`` and ``tuning``
    defaults from :class:`TrainingConfig` and :class:`TuningBudget` (where the schema gives none), each
    model parameter's type, range and meaning from :data:`echoes.contracts.params.PARAMS`, and the
    check of each built-in's ``params`` from ``$defs.builtin_models``."""
    schema = yaml.safe_load(Path(path).read_text())
    schema["$defs"].update({name: param.schema() for name, param in PARAMS.items()})
    for section, record in (("training", TrainingConfig), ("tuning", TuningBudget)):
        properties = schema["properties"][section]["properties"]
        for f in dataclasses.fields(record):
            properties[f.name].setdefault("default", f.default)
    schema["$defs"]["model"]["allOf"] = [
        {
            "if": {"properties": {"class": {"const": name}}},
            "then": {"properties": {"params": {"$ref": f"#/$defs/builtin_models/{name}"}}},
        }
        for name in builtin_models(schema)
    ]
    return schema


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is an error, not a silent replacement."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise ConfigError(
                    f"{key_node.start_mark.name}, line {line}: key {key!r} appears twice in one mapping (first on "
                    f"line {seen[key]}); YAML would silently keep only the last"
                )
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def check_config_file(path: str | Path) -> None:
    """A config file parses with every key given once (Snakemake's own loader keeps the last of duplicates)."""
    with open(path) as handle:
        yaml.load(handle, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass


def integer_lists_from_command_line(
    config: MutableMapping[str, Any], keys: tuple[str, ...] = ("splits", "seeds")
) -> None:
    """``--config splits=[1,2,3]`` reaches the workflow as ``["1", "2", "3"]`` (Snakemake parses list
    items as strings): digits in these integer lists are read as the integers they spell, in place."""
    for key in keys:
        values = config.get(key)
        if isinstance(values, list):
            config[key] = [int(v) if isinstance(v, str) and v.strip().lstrip("-").isdigit() else v for v in values]


def check_finite(value: Any, key: str = "") -> None:
    """No NaN or infinity anywhere: YAML's ``.nan`` passes every range check of the schema."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"config key {key or '(top level)'}: {value} is not a finite number")
    if isinstance(value, Mapping):
        for name, item in value.items():
            check_finite(item, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_finite(item, f"{key}[{index}]")


TRACKING_SCHEMES = re.compile(
    r"^(sqlite:///.+|(postgresql|mysql|mssql)(\+\w+)?://.+|https?://.+|databricks.*|file:.+)$"
)


def check_tracking_uri(uri: str, key: str = "config key tracking.uri") -> str:
    """An MLflow tracking URI Echoes can use: a database (``sqlite:///...``), a server (``http(s)://...``), ..."""
    if not TRACKING_SCHEMES.match(uri.strip()):
        raise ConfigError(
            f"{key}: {uri!r} is not a tracking URI MLflow can use; give e.g. sqlite:///results/mlflow.db (a local "
            "database) or http://host:5000 (a tracking server)"
        )
    return uri


PACKAGE_ROOT_VARIABLE = "ECHOES_ROOT"


def export_package_root(workflow_dir: str | Path) -> str:
    """Set ``ECHOES_ROOT`` (unless set) to the workflow's folder: envs/echoes.yaml installs the package from it."""
    return os.environ.setdefault(PACKAGE_ROOT_VARIABLE, str(Path(workflow_dir).resolve()))


def check_tracking_environment() -> None:
    """``MLFLOW_TRACKING_URI``, when set, overrides ``tracking.uri``: it must be usable too."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        check_tracking_uri(uri, "environment variable MLFLOW_TRACKING_URI")


#: What ``auto`` means per dataset: the embedded synthetic set (flat shapes and colours) is made for a
#: seeded random CNN at 64 px (offline, a third of 112 px's work, the same ranking of the models);
#: real videos get torchvision's ImageNet ResNet18 at the 224 px it was trained at.
DATASET_DEFAULTS = {
    "synthetic": {"weights": "random", "size": 64},
    "real videos": {"weights": "IMAGENET1K_V1", "size": 224},
}


def plans_only(argv: list[str]) -> bool:
    """Whether a snakemake command line only plans or checks (``-n``/``-np``, ``--dry-run``, ``--lint``):
    the workflow object says so only once it has parsed the workflow, too late for the checks made then."""
    short = [a for a in argv[1:] if a.startswith("-") and not a.startswith("--")]
    return any(a in ("--dry-run", "--dryrun", "--lint") for a in argv[1:]) or any("n" in a[1:] for a in short)


def resolve_dataset_defaults(config: MutableMapping[str, Any]) -> None:
    """``features.weights: auto`` and ``frames.size: auto`` become the dataset's values (in place)."""
    defaults = DATASET_DEFAULTS["synthetic" if config["dataset"] == "synthetic" else "real videos"]
    if config["features"]["weights"] == "auto":
        config["features"]["weights"] = defaults["weights"]
    if config["frames"]["size"] == "auto":
        config["frames"]["size"] = defaults["size"]


def validate_config(
    config: MutableMapping[str, Any], schema_path: str | Path, fetch_weights: bool = True
) -> MutableMapping[str, Any]:
    """Check ``config`` against the schema, fill in defaults (in place), resolve the models.

    ``fetch_weights``: download torchvision's ImageNet weights now if they are asked for and not
    cached (a dry run passes False and is only warned).
    """
    integer_lists_from_command_line(config)
    check_finite(config)
    schema = load_schema(schema_path)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Defaults are filled while validating; a second pass then sees nested defaults of new objects.
    for _ in range(2):
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        if errors:
            error = jsonschema.exceptions.best_match(errors)
            raise ConfigError(f"config key {error_key(error)}: {error.message}{_allowed(error)}")
    resolve_search_spaces(config["models"], schema)
    entries = {f"models.{name}": entry for name, entry in config["models"].items()}
    try:
        points = sweep_points(config)
    except SweepError as error:
        raise ConfigError(str(error)) from error
    entries.update({f"sweeps.{p.sweep} point {name}": p.entry for name, p in points.items()})
    check_models(entries, schema)
    check_tuning(entries, config["training"], schema)
    check_dataset_folders(config)
    check_tracking_uri(config["tracking"]["uri"])
    resolve_dataset_defaults(config)
    if config["dataset"] == "precomputed":
        check_precomputed_file(config["precomputed"], config["on_unseen_test_class"])
        return config
    weights = config["features"]["weights"]
    if weights != "random":  # pretrained or a file: this imports torch, which the default config never does
        from echoes.features import WeightsUnavailable, check_weights

        try:
            warning = check_weights(weights, fetch=fetch_weights)
        except WeightsUnavailable as error:
            raise ConfigError(f"config key {error}") from error
        if warning:
            print(f"WARNING: features.weights {weights}: {warning}", file=sys.stderr)
    return config


def _allowed(error: jsonschema.ValidationError) -> str:
    """For an unknown key, the keys that are allowed there (a renamed key's new name among them)."""
    if error.validator != "additionalProperties" or "properties" not in error.schema:
        return ""
    return f" (allowed: {', '.join(error.schema['properties'])})"


def check_precomputed_file(section: Mapping[str, Any], on_unseen: str = "warn") -> None:
    """A features file of the user's own: every array checked now, before any job (no CNN is involved);
    test rows of classes no training row has are printed, or refused under ``on_unseen_test_class: fail``."""
    from echoes.data.precomputed import PrecomputedError, check_precomputed, unseen_test_classes
    from echoes.data.preflight import UnseenClassError, apply_unseen_policy

    try:
        data = check_precomputed(section["path"], section.get("splits_dir"))
    except (PrecomputedError, OSError) as error:
        raise ConfigError(f"config key precomputed.path: {error}") from error
    try:
        for warning in apply_unseen_policy(unseen_test_classes(data), on_unseen):
            print(f"WARNING: precomputed.path {section['path']}: {warning}", file=sys.stderr)
    except UnseenClassError as error:
        raise ConfigError(f"config key on_unseen_test_class: {section['path']}: {error}") from error


def check_dataset_folders(config: MutableMapping[str, Any]) -> None:
    """Pre-staged folders of the chosen dataset exist: a typo fails here, not in a job's log."""
    section = config.get(config["dataset"], {})
    for key in ("videos_dir", "splits_dir"):
        path = section.get(key)
        if path and not Path(path).is_dir():
            raise ConfigError(f"config key {config['dataset']}.{key}: folder {path} does not exist")
