"""The checks of the config's model entries (``models:`` and the points of ``sweeps:``): that each
``class`` resolves and accepts its ``params``, that every candidate of a ``tune`` grid and every end
and choice of a ``search`` space is a valid entry, and the default spaces filled in. Built-ins named
by name are checked from the schema alone, so the workflow's parse imports no PyTorch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, MutableMapping
from typing import Any

import jsonschema

from echoes.training.protocol import candidates, split_candidate
from echoes.training.space import check_space, probes, resolve_types
from echoes.training.spec import check_tune_or_search

#: Training settings that are not tunable: what to do when a run fails is not a hyperparameter.
UNTUNABLE_TRAINING = ("on_failure", "refit")


class ConfigError(ValueError):
    """An invalid configuration; the message starts with the dotted key at fault."""


def error_key(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


def builtin_models(schema: Mapping[str, Any]) -> dict[str, dict]:
    """Built-in model name -> its params schema (with its ``default_search``): named by name, a built-in
    is checked from the schema, so parsing the workflow needs no PyTorch (an import path imports it)."""
    return {name: entry for name, entry in schema["$defs"]["builtin_models"].items() if name != "description"}


def resolve_search_spaces(models: MutableMapping[str, Any], schema: Mapping[str, Any]) -> None:
    """Each model entry's ``search`` made explicit (in place): a built-in with neither ``tune`` nor
    ``search`` gets its class's default space; every range's ``type`` comes from the schema."""
    builtins = builtin_models(schema)
    for name, entry in models.items():
        try:
            check_tune_or_search(f"config key models.{name}", entry)
        except ValueError as error:
            raise ConfigError(str(error)) from error
        if not entry.get("tune") and "search" not in entry and entry["class"] in builtins:
            entry["search"] = copy.deepcopy(builtins[entry["class"]]["default_search"])
        if entry.get("search"):
            try:
                check_space(entry["search"], f"config key models.{name}.search")
            except ValueError as error:
                raise ConfigError(str(error)) from error
            entry["search"] = resolve_types(entry["search"], lambda key, c=entry["class"]: _is_integer(schema, c, key))


def _is_integer(schema: Mapping[str, Any], class_name: str, key: str) -> bool | None:
    """Whether the schema types ``key`` (a built-in's param or a training setting) as an integer; None if unknown."""
    defs = schema["$defs"]
    builtin = builtin_models(schema).get(class_name, {})
    for properties in (builtin.get("properties", {}), schema["properties"]["training"]["properties"]):
        if key in properties:
            definition = properties[key]
            if "$ref" in definition:
                definition = defs[definition["$ref"].rsplit("/", 1)[-1]]
            return definition.get("type") == "integer"
    return None


def check_models(entries: Mapping[str, Mapping[str, Any]], schema: Mapping[str, Any]) -> None:
    """Every model entry's class imports and accepts its params (values are checked when it is built).

    ``entries`` maps each entry's config key (``models.<name>``, or a sweep point) to the entry.
    """
    builtins = builtin_models(schema)
    for key, entry in entries.items():
        if entry["class"] in builtins:
            continue  # params checked by the schema (and their tune candidates by check_tuning)
        from echoes.models import BUILTIN_MODELS, ModelConfigError, model_arguments, resolve_model_class

        try:
            cls = resolve_model_class(entry["class"], f"config key {key}.class")
            arguments = model_arguments(cls, entry.get("params", {}), 8, 2, 0, f"config key {key}.params", 4)
        except ModelConfigError as error:
            raise ConfigError(str(error)) from error
        if cls not in BUILTIN_MODELS.values():  # built-ins are checked by the schema, without building reservoirs
            try:
                cls(**arguments)
            except Exception as error:  # a user constructor that cannot be built fails here, not in a job
                raise ConfigError(f"config key {key}.params: {cls.__name__}(...) fails: {error}") from error


def _model_arguments(class_name: str, schema: dict) -> tuple[type | None, list[str], str | None]:
    """(class or None, argument names, built-in name or None) of a model entry's ``class``.

    A built-in named by name is answered from the schema, without importing the model (or torch).
    """
    builtins = builtin_models(schema)
    if class_name in builtins:
        return None, list(builtins[class_name]["properties"]), class_name
    from echoes.models import BUILTIN_MODELS, constructor_arguments, resolve_model_class

    cls = resolve_model_class(class_name)
    builtin = next((name for name, known in BUILTIN_MODELS.items() if known is cls), None)  # a built-in by path
    return cls, constructor_arguments(cls)[0], builtin


def _first_error(schema: dict, instance: Any) -> jsonschema.ValidationError | None:
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(instance))
    return jsonschema.exceptions.best_match(errors) if errors else None


def check_tuning(entries: Mapping[str, Mapping[str, Any]], training: Mapping[str, Any], schema: dict) -> None:
    """Every candidate of every ``tune`` grid, and every end and choice of every ``search`` space,
    is a valid model entry and training section.

    A key must be a constructor argument of the model or a training setting; each candidate's
    values are checked against the same schema as ``params`` (built-in models) and ``training``.
    """
    training_schema = schema["properties"]["training"]
    training_keys = [k for k in training_schema["properties"] if k not in UNTUNABLE_TRAINING]
    for entry_key, entry in entries.items():
        searched = bool(entry.get("search"))
        key = f"config key {entry_key}.{'search' if searched else 'tune'}"
        cls, arguments, builtin = _model_arguments(entry["class"], schema)
        params_schema = {"$ref": f"#/$defs/builtin_models/{builtin}", "$defs": schema["$defs"]}
        for candidate in probes(entry["search"]) if searched else candidates(entry.get("tune")):
            try:
                params, overrides = split_candidate(candidate, arguments, training_keys, key)
            except ValueError as error:
                raise ConfigError(str(error)) from error
            merged = {**entry.get("params", {}), **params}
            checks = [(training_schema, {**training, **overrides})]
            if builtin is not None:
                checks.append((params_schema, merged))
            for part_schema, instance in checks:
                error = _first_error(part_schema, instance)
                if error is not None:
                    raise ConfigError(f"{key}: candidate {candidate}: {error_key(error)}: {error.message}")
            if cls is not None:
                from echoes.models import ModelConfigError, model_arguments

                try:
                    model_arguments(cls, merged, 1, 2, 0, key)
                except ModelConfigError as error:
                    raise ConfigError(str(error)) from error
