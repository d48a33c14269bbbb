"""Sweeps: grids over a model entry, each point an ordinary training job, with a table and figures."""

import json

import pytest

from echoes.planning.config import ConfigError, validate_config
from echoes.planning.sweeps import SweepError, point_name, sweep_points
from echoes.report.figures import plot_frontier
from echoes.report.sweeps import render_sweep
from tests.test_config import SCHEMA
from tests.test_report import metrics

MODELS = {
    "SimpleESN": {"class": "SimpleESN", "params": {"reservoir_size": 100}, "tune": {"leak_rate": [0.1, 0.3]}},
    "DeepESN": {"class": "DeepESN", "params": {"reservoir_size": 50}},
    "SimpleRNN": {"class": "SimpleRNN", "params": {"hidden_size": 16}},
}
EXAMPLE = {
    "reservoir_size": {"model": "SimpleESN", "grid": {"reservoir_size": [250, 500]}},
    "depth": {"model": "DeepESN", "grid": {"num_reservoirs": [1, 2, 3], "reservoir_size": [250, 500]}},
    "lstm_width": {"model": "SimpleRNN", "grid": {"hidden_size": [64, 128]}},
}


def test_every_grid_point_is_a_named_model_entry_that_keeps_the_base_entrys_tuning():
    points = sweep_points({"models": MODELS, "sweeps": EXAMPLE})
    assert len(points) == 2 + 6 + 2
    point = points["depth.num_reservoirs-1.reservoir_size-500"]
    assert point.sweep == "depth" and point.values == {"num_reservoirs": 1, "reservoir_size": 500}
    assert point.entry == {
        "class": "DeepESN",
        "params": {"reservoir_size": 500, "num_reservoirs": 1},
        "tune": {},
        "tuning": {"seconds": None},  # a point is the headline's trials, whatever tuning.seconds says
    }
    assert points["reservoir_size.reservoir_size-250"].entry["tune"] == {"leak_rate": [0.1, 0.3]}
    assert list(points)[:2] == ["reservoir_size.reservoir_size-250", "reservoir_size.reservoir_size-500"]


def test_sweeps_are_validated_before_any_job_like_models():
    config = {"models": MODELS, "sweeps": EXAMPLE}
    validate_config(json.loads(json.dumps(config)), SCHEMA)
    bad = json.loads(json.dumps(config))
    bad["sweeps"]["reservoir_size"]["grid"]["reservoir_size"] = [250, -3]
    with pytest.raises(ConfigError, match="sweeps.reservoir_size point reservoir_size.reservoir_size--3.*minimum"):
        validate_config(bad, SCHEMA)
    bad = json.loads(json.dumps(config))
    bad["sweeps"]["depth"]["model"] = "DeepESNN"
    with pytest.raises(ConfigError, match="sweeps.depth.model: 'DeepESNN' is not an entry of models"):
        validate_config(bad, SCHEMA)
    bad = json.loads(json.dumps(config))
    bad["sweeps"]["reservoir_size"]["grid"] = {"leak_rate": [0.5]}
    with pytest.raises(ConfigError, match="also tuned in models.SimpleESN.tune"):
        validate_config(bad, SCHEMA)
    bad = json.loads(json.dumps(config))
    bad["sweeps"]["lstm_width"]["grid"] = {"hidden_units": [8]}
    with pytest.raises(ConfigError, match="sweeps.lstm_width point .*'hidden_units' was unexpected"):
        validate_config(bad, SCHEMA)


def test_a_value_that_cannot_name_a_run_is_refused():
    assert point_name("s", {"ridge": 0.5, "pooling": "last_mean"}) == "s.ridge-0.5.pooling-last_mean"
    with pytest.raises(SweepError, match="sweeps.s.grid.pooling: value 'a/b'"):
        point_name("s", {"pooling": "a/b"})


def test_a_sweep_renders_its_table_and_figure_and_the_frontier_joins_all_models(tmp_path):
    points = {"w.hidden_size-8": {"hidden_size": 8}, "w.hidden_size-16": {"hidden_size": 16}}
    paths = {}
    for i, name in enumerate([*points, "SimpleESN"]):
        runs = []
        for seed in (0, 1):
            fit = "closed_form" if name == "SimpleESN" else "gradient"
            cls = "SimpleESN" if name == "SimpleESN" else "SimpleRNN"
            run = metrics(name, cls, seed, 0.5 + 0.1 * i + 0.02 * seed, 1.0 + i, fit, trainable_params=100 * (i + 1))
            path = tmp_path / name / f"seed{seed}.json"
            path.parent.mkdir(exist_ok=True)
            path.write_text(json.dumps(run))
            runs.append(path)
        paths[name] = runs
    text = render_sweep("w", points, paths, tmp_path / "w.md", tmp_path / "figures" / "sweep_w.png")
    assert "| w.hidden_size-8 | 8 | 51.0 ± 1.4 | 1.00 s |" in text and "MiB (1000 MiB)" in text
    assert "| w.hidden_size-16 | 16 | 61.0 ± 1.4 | 2.00 s |" in text
    assert "![sweep w](figures/sweep_w.png)" in text
    plot_frontier(paths, {"w": list(points)}, tmp_path / "frontier.png")
    for png in (tmp_path / "figures" / "sweep_w.png", tmp_path / "frontier.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_sweep_point_searches_the_rest_of_its_models_space():
    config = validate_config(
        {
            "models": {"lstm": {"class": "SimpleRNN"}},
            "sweeps": {"width": {"model": "lstm", "grid": {"hidden_size": [8]}}},
        },
        SCHEMA,
    )
    searched = sweep_points(config)["width.hidden_size-8"].entry["search"]
    assert "hidden_size" not in searched and set(searched) == set(config["models"]["lstm"]["search"]) - {"hidden_size"}


def test_a_depth_sweep_shows_what_each_reservoir_adds_point_by_point(tmp_path):
    points = {f"depth.num_reservoirs-{n}": {"num_reservoirs": n} for n in (1, 2)}
    paths = {}
    for n, name in enumerate(points, start=1):
        layers = [{"layer": layer, "accuracy": 0.5, "accuracy_up_to": 0.5 + 0.1 * layer, "memory_capacity": 5.0 * layer,
                   "effective_spectral_radius": 0.9} for layer in range(1, n + 1)]  # fmt: skip
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(metrics(name, "DeepESN", 0, 0.6, 1.0, "closed_form", layers=layers)))
        paths[name] = [path]
    text = render_sweep("depth", points, paths, tmp_path / "depth.md", tmp_path / "sweep_depth.png")
    assert "## What each reservoir adds" in text
    assert "| depth.num_reservoirs-2 | 2 | 50.0 | 70.0 | 10.0 | 0.900 |" in text
