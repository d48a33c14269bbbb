"""Each model parameter's range is written once (echoes.contracts.params): the config schema and the
classes' own argument checks agree on every value, at and around every bound."""

import copy
from pathlib import Path

import jsonschema
import pytest
import yaml

from echoes.contracts.params import PARAMS, Param
from echoes.models import DeepESN, DeepRNN, SimpleESN
from echoes.planning.config import ConfigError, load_schema, validate_config

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


def probes(param: Param) -> list:
    """Values on, just inside and just outside each bound, and values of the wrong kind."""
    values: list = [True, "auto", "x", None, -1, 0, 0.5, 1, 2, 1e9, float("nan")]
    for bound in (param.minimum, param.maximum):
        if bound is not None:
            values += [bound - 1, bound - 1e-9, bound, bound + 1e-9, bound + 1]
    return values + list(param.choices or ())


def schema_accepts(schema: dict, value) -> bool:
    try:
        jsonschema.validate(value, schema)
    except jsonschema.ValidationError:
        return False
    return True


def check_accepts(param: Param, value) -> bool:
    try:
        param.check("x", value)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("name", list(PARAMS))
def test_the_schema_and_the_class_check_accept_the_same_values(name):
    param = PARAMS[name]
    schema = load_schema(SCHEMA)["$defs"][name]
    for value in probes(param):
        if value != value:  # nan: JSON has none, the config check refuses it before the schema (test_config)
            assert not check_accepts(param, value)
            continue
        assert schema_accepts(schema, value) == check_accepts(param, value), (name, value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SimpleESN(4, 10, 2, spectral_radius=0.0), "spectral_radius must be in (0, inf), got 0.0"),
        (lambda: SimpleESN(4, 10, 2, leak_rate=1.5), "leak_rate must be in (0, 1], got 1.5"),
        (lambda: SimpleESN(4, 10, 2, sparsity=1.0), "sparsity must be in [0, 1), got 1.0"),
        (lambda: SimpleESN(4, 10, 2, representation="max"), "representation must be one of last, mean"),
        (lambda: DeepESN(4, 10, 2, num_reservoirs=4), "num_reservoirs must be in [1, 3], got 4"),
        (lambda: DeepRNN(4, 8, 2, num_layers=1), "num_layers must be in [2, 4], got 1"),
    ],
)
def test_a_python_caller_meets_the_bounds_the_config_check_states(build, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        build()


def test_a_range_changed_in_one_place_changes_the_config_check_too(monkeypatch):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    config["models"]["SimpleESN"]["params"]["leak_rate"] = 0.05
    validate_config(copy.deepcopy(config), SCHEMA)
    monkeypatch.setitem(PARAMS, "leak_rate", Param("leak", minimum=0.1, maximum=1))
    with pytest.raises(ConfigError, match="models.SimpleESN.params.leak_rate"):
        validate_config(config, SCHEMA)
    with pytest.raises(ValueError, match="leak_rate must be in"):
        SimpleESN(4, 10, 2, leak_rate=0.05)
