"""Models Echoes trains: built-ins by name, anything else by import path.

A model entry in ``config.yaml`` names its ``class`` either as one of :data:`BUILTIN_MODELS` or as
a dotted import path (``mypackage.models.MyCustomRNN``) to a :class:`BaseModel` subclass.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

from torch import nn

from echoes.models.base import BaseModel

# The built-in models, re-exported (ruff cannot see BUILTIN_MODELS below put them in __all__):
from echoes.models.baselines import AllFrames, MeanOfFrames  # noqa: F401
from echoes.models.esn import DeepESN, SimpleESN  # noqa: F401
from echoes.models.ngrc import NGRC  # noqa: F401
from echoes.models.simple_models import DeepRNN, SimpleRNN  # noqa: F401

#: The built-in models by name: the model classes imported above, nothing else to keep in step.
#: Each one's params contract and default search space is its entry in the config schema's
#: ``$defs.builtin_models`` (read without PyTorch while the workflow parses; a test ties the two).
BUILTIN_MODELS: dict[str, type[BaseModel]] = {
    name: value
    for name, value in dict(globals()).items()
    if inspect.isclass(value) and issubclass(value, BaseModel) and value is not BaseModel
}

#: Arguments Echoes fills in itself; config ``params`` must not set them. ``seed`` and ``num_frames``
#: (T, frames per clip) reach only constructors that name them.
PROVIDED_ARGUMENTS = ("input_size", "num_classes", "seed", "num_frames")
ONLY_IF_NAMED = ("seed", "num_frames")

__all__ = [
    "BaseModel",
    "BUILTIN_MODELS",
    "build_model",
    "constructor_arguments",
    "resolve_model_class",
    *BUILTIN_MODELS,
]


class ModelConfigError(ValueError):
    """A model entry of the config that cannot be built; the message names the key."""


def resolve_model_class(name: str, key: str = "class") -> type[BaseModel]:
    """The class a config's ``class`` names: a built-in name or ``package.module.Class``."""
    if name in BUILTIN_MODELS:
        return BUILTIN_MODELS[name]
    module_name, _, class_name = name.rpartition(".")
    if not module_name:
        raise ModelConfigError(
            f"{key}: {name!r} is not a built-in model ({', '.join(BUILTIN_MODELS)}) nor an import path"
        )
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError) as error:
        raise ModelConfigError(f"{key}: cannot import {name!r} ({error})") from error
    if not (inspect.isclass(cls) and issubclass(cls, BaseModel)):
        raise ModelConfigError(f"{key}: {name!r} is not a subclass of echoes.models.BaseModel")
    return cls


def _constructor_parameters(cls: type[BaseModel]) -> tuple[list[inspect.Parameter], bool]:
    """The named parameters ``cls(...)`` accepts (a preset's own before its base's), and whether it
    accepts any other keyword.

    A preset that forwards ``**kwargs`` to its base class (``SimpleESN`` to ``ReservoirStack``)
    accepts the base's named arguments too; the walk stops at the first constructor without
    ``**kwargs``, or at ``BaseModel`` (beyond which anything goes).
    """
    found: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        if klass in (BaseModel, nn.Module, object):
            return list(found.values()), True
        if "__init__" not in vars(klass):
            continue
        parameters = list(inspect.signature(klass.__init__).parameters.values())[1:]
        for p in parameters:
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                found.setdefault(p.name, p)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            return list(found.values()), False
    return list(found.values()), True


def constructor_arguments(cls: type[BaseModel]) -> tuple[list[str], bool]:
    """Named arguments ``cls(...)`` accepts, and whether it accepts any other keyword."""
    parameters, accepts_any = _constructor_parameters(cls)
    return [p.name for p in parameters], accepts_any


def constructor_defaults(cls: type[BaseModel]) -> dict[str, Any]:
    """The defaults of the named arguments ``cls(...)`` accepts (a preset's own before its base's)."""
    return {p.name: p.default for p in _constructor_parameters(cls)[0] if p.default is not p.empty}


def model_arguments(
    cls: type[BaseModel],
    params: Mapping[str, Any],
    input_size: int,
    num_classes: int,
    seed: int,
    key: str = "params",
    num_frames: int = 1,
) -> dict[str, Any]:
    """Keyword arguments for ``cls``: config params plus what Echoes provides, checked against the signature."""
    for name in params:
        if name in PROVIDED_ARGUMENTS:
            raise ModelConfigError(f"{key}.{name}: set by Echoes from the data and run, remove it from the config")
    names, accepts_any = constructor_arguments(cls)
    unknown = [name for name in params if name not in names]
    if unknown and not accepts_any:
        raise ModelConfigError(
            f"{key}: {cls.__name__} does not accept these arguments ({', '.join(unknown)}; it takes {', '.join(names)})"
        )
    provided = {"input_size": input_size, "num_classes": num_classes, "seed": seed, "num_frames": num_frames}
    arguments = {k: v for k, v in provided.items() if k in names or (k not in ONLY_IF_NAMED and accepts_any)}
    arguments.update(params)
    try:
        inspect.signature(cls.__init__).bind(None, **arguments)
    except TypeError as error:
        raise ModelConfigError(f"{key}: {cls.__name__} does not accept these arguments ({error})") from error
    return arguments


def build_model(
    class_name: str,
    params: Mapping[str, Any],
    input_size: int,
    num_classes: int,
    seed: int = 0,
    key: str = "model",
    num_frames: int = 1,
) -> BaseModel:
    """Instantiate a configured model; any error names the config key at fault."""
    cls = resolve_model_class(class_name, f"{key}.class")
    arguments = model_arguments(cls, params, input_size, num_classes, seed, f"{key}.params", num_frames)
    try:
        return cls(**arguments)
    except (ValueError, TypeError) as error:
        raise ModelConfigError(f"{key}.params: {error}") from error
