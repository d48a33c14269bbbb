"""Validation of the workflow configuration, before any job runs.

The JSON schema (``workflow/schemas/config.schema.yaml``) holds every key, its meaning, range and
default; :func:`validate_config` fills the defaults in place and raises :class:`ConfigError`
naming the key at fault. Model classes are then resolved and their ``params`` checked against
the constructor's signature, so a typo in an import path fails at once, not in a training job.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from echoes.models import ModelConfigError, model_arguments, resolve_model_class


class ConfigError(ValueError):
    """An invalid configuration; the message starts with the dotted key at fault."""


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


def _key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def load_schema(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text())


def validate_config(config: MutableMapping[str, Any], schema_path: str | Path) -> MutableMapping[str, Any]:
    """Check ``config`` against the schema, fill in defaults (in place), resolve the models."""
    schema = load_schema(schema_path)
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    # Defaults are filled while validating; a second pass then sees nested defaults of new objects.
    for _ in range(2):
        errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
        if errors:
            error = jsonschema.exceptions.best_match(errors)
            raise ConfigError(f"config key {_key(error)}: {error.message}")
    check_models(config)
    check_dataset_folders(config)
    return config


def check_dataset_folders(config: MutableMapping[str, Any]) -> None:
    """Pre-staged folders of the chosen dataset exist: a typo fails here, not in a job's log."""
    section = config.get(config["dataset"], {})
    for key in ("videos_dir", "splits_dir"):
        path = section.get(key)
        if path and not Path(path).is_dir():
            raise ConfigError(f"config key {config['dataset']}.{key}: folder {path} does not exist")


def check_models(config: MutableMapping[str, Any]) -> None:
    """Every model's class imports and accepts its params (values are checked when it is built)."""
    for name, entry in config["models"].items():
        key = f"models.{name}"
        try:
            cls = resolve_model_class(entry["class"], f"config key {key}.class")
            model_arguments(cls, entry.get("params", {}), 1, 2, 0, f"config key {key}.params")
        except ModelConfigError as error:
            raise ConfigError(str(error)) from error
