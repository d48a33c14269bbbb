"""Training: group-aware validation, convergence, honest metrics, and a task only temporal models solve."""

import json

import numpy as np
import pytest
import torch

from echoes.contracts.records import Epoch
from echoes.devices import is_busy
from echoes.models import BaseModel
from echoes.models.ridge import ClosedFormModel
from echoes.normalisation import normalise
from echoes.stages.train import run_training_job
from echoes.training.data import load_split
from echoes.training.evaluation import TrainingDiverged, accuracy_by_family, read_as_other_family, top_k_accuracy
from echoes.training.fits import convergence_epoch, kept_epoch
from echoes.training.job import train_on_split
from echoes.training.protocol import group_holdout
from echoes.training.spec import TrainingConfig
from tests import specs

FAST = {"max_epochs": 40, "batch_size": 32, "learning_rate": 3e-3, "patience": 40, "val_fraction": 0.2}


def test_validation_holds_out_whole_groups():
    groups = np.repeat(np.arange(1, 11), 7)
    fit, val, held_out = group_holdout(groups, TrainingConfig(val_fraction=0.2), seed=0)
    assert not set(groups[fit]) & set(groups[val])
    assert set(groups[val]) == set(held_out) and len(held_out) == 2 and len(fit) + len(val) == len(groups)
    assert np.array_equal(val, group_holdout(groups, TrainingConfig(val_fraction=0.2), seed=0)[1])


def test_early_stopping_keeps_the_last_epoch_that_lowered_validation_loss_by_more_than_min_delta():
    losses = {1: 1.0, 2: 0.5, 3: 0.4995, 4: 0.3, 5: 0.2999}
    history = [Epoch(epoch=e, train_accuracy=0.5, seconds=1.0, timestamp=e, val_loss=v) for e, v in losses.items()]
    assert kept_epoch(history, min_delta=1e-3) == 4
    assert kept_epoch(history, min_delta=0.0) == 5


def test_clip_mean_normalisation_removes_a_per_clip_offset_and_uses_fit_statistics_only():
    rng = torch.Generator().manual_seed(0)
    fit = torch.randn(20, 6, 3, generator=rng)
    other = torch.randn(5, 6, 3, generator=rng)
    offset = torch.randn(5, 1, 3, generator=rng) * 10
    (_, plain), (_, shifted) = normalise(fit, other, mode="clip_mean"), normalise(fit, other + offset, mode="clip_mean")
    torch.testing.assert_close(plain, shifted, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(plain.mean(1), torch.zeros(5, 3), rtol=0, atol=1e-5)
    scaled_fit, scaled_other = normalise(fit, other * 100, mode="global")
    torch.testing.assert_close(scaled_fit.mean((0, 1)), torch.zeros(3), rtol=0, atol=1e-5)
    assert scaled_other.abs().max() > 20  # the other clips' own scale is not used


def test_convergence_is_the_first_epoch_within_tolerance_of_the_best():
    assert convergence_epoch([0.2, 0.5, 0.796, 0.8, 0.79], tolerance=0.005) == 3
    assert convergence_epoch([0.9, 0.5], tolerance=0.0) == 1


def test_top_k_accuracy():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3]])
    labels = torch.tensor([1, 2])
    assert top_k_accuracy(logits, labels, 1) == 0.5
    assert top_k_accuracy(logits, labels, 2) == 1.0
    assert top_k_accuracy(logits, labels, 5) == 1.0


def test_errors_into_another_task_family_are_told_apart_from_errors_within_it():
    families = ["order", "order", "same_different", "same_different"]  # classes 0-3
    labels = torch.tensor([2, 2, 2, 3, 0, 1])
    predicted = torch.tensor([2, 3, 1, 0, 0, 0])  # same_different: right, within, to order, to order
    logits = torch.nn.functional.one_hot(predicted, 4).float()
    assert accuracy_by_family(logits, labels, families) == {"order": 0.5, "same_different": 0.25}
    assert read_as_other_family(logits, labels, families) == {"order": 0.0, "same_different": 0.5}
    assert read_as_other_family(logits, labels, None) == {}


def spec(model_class, params=None, training=FAST, seed=0, grid=None, name=None, search=None, tuning=None):
    return specs.spec(model_class, params, training, seed, grid, name, search, tuning)


def _train(task, model_class, params=None, training=FAST, seed=0, grid=None):
    features, manifest = task
    metrics, _, _ = train_on_split(load_split(features, manifest, 1), spec(model_class, params, training, seed, grid))
    return metrics


def test_esn_and_lstm_learn_temporal_order_while_mean_of_frames_cannot(temporal_order_task):
    esn = _train(temporal_order_task, "SimpleESN", {"reservoir_size": 200, "input_scaling": 0.3})
    lstm = _train(temporal_order_task, "SimpleRNN", {"hidden_size": 32})
    mean = _train(temporal_order_task, "MeanOfFrames")
    assert esn["accuracy_top1"] >= 0.9
    assert lstm["accuracy_top1"] >= 0.9
    assert mean["accuracy_top1"] <= 0.7


def test_order_probes_show_what_each_model_loses_without_the_true_order_of_frames(temporal_order_task):
    """Class 1 is class 0 played backwards: reversed clips swap the classes for a model that uses order."""
    esn = _train(temporal_order_task, "SimpleESN", {"reservoir_size": 200, "input_scaling": 0.3})
    mean = _train(temporal_order_task, "MeanOfFrames")
    assert esn["accuracy_reversed"] <= 0.2 and esn["order_drop_reversed"] >= 0.7
    assert esn["accuracy_shuffled"] < esn["accuracy_top1"] - 0.2
    assert mean["order_drop_reversed"] == 0 and mean["order_drop_shuffled"] == 0  # a mean has no order


def test_same_seed_gives_identical_metrics(temporal_order_task):
    keys = ("accuracy_top1", "accuracy_top5", "confusion", "trainable_params", "fit_info")
    for model, params in (("SimpleESN", {"reservoir_size": 60}), ("SimpleRNN", {"hidden_size": 8})):
        training = {**FAST, "max_epochs": 3}
        a = _train(temporal_order_task, model, params, training)
        b = _train(temporal_order_task, model, params, training)
        untimed = {
            k: ({n: v for n, v in a[k].items() if not n.endswith("_s")} if k == "fit_info" else a[k]) for k in keys
        }
        again = {
            k: ({n: v for n, v in b[k].items() if not n.endswith("_s")} if k == "fit_info" else b[k]) for k in keys
        }
        assert untimed == again  # everything but the seconds a fit took
        assert [h.get("loss") for h in a["history"]] == [h.get("loss") for h in b["history"]]


def test_harvest_batch_size_changes_speed_not_the_readout(temporal_order_task):
    features, manifest = temporal_order_task
    fitted = []
    for harvest in (7, 1024):
        metrics, model, _ = train_on_split(
            load_split(features, manifest, 1),
            spec("SimpleESN", {"reservoir_size": 60, "ridge": 1.0}, {**FAST, "harvest_batch_size": harvest}),
        )
        fitted.append((metrics, model.readout.weight.detach().clone()))
    (small, w_small), (large, w_large) = fitted
    assert small["training"]["harvest_batch_size"] == 7 and large["training"]["harvest_batch_size"] == 1024
    torch.testing.assert_close(w_small, w_large, rtol=1e-4, atol=1e-5)
    assert small["confusion"] == large["confusion"]


def test_metrics_hold_every_measured_field(temporal_order_task):
    m = _train(temporal_order_task, "SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 3})
    assert m["epochs"] == len(m["history"]) == 3
    assert m["train_time_s"] == pytest.approx(sum(h["seconds"] for h in m["history"]))
    assert m["time_per_epoch_s"] == pytest.approx(m["train_time_s"] / 3)
    assert 1 <= m["convergence_epoch"] <= m["epochs"]
    assert m["inference_time_per_batch_s"] > 0 and m["peak_rss_mib"] > 0 and m["peak_gpu_mib"] is None
    assert m["train_clips"] + m["val_clips"] == 240 - 60 and m["test_clips"] == 60
    assert m["tuning"]["candidates"] == 1 and m["tuning"]["time_s"] >= m["train_time_s"]
    assert sum(map(sum, m["confusion"])) == 60
    assert m["device"] == "cpu" and m["split"] == 1 and m["seed"] == 0


class ExplodingModel(BaseModel):
    def __init__(self, input_size: int, num_classes: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(input_size, num_classes)

    def forward(self, x):
        return self.linear(x.mean(1)) * float("nan")


def test_a_nan_loss_stops_the_run_with_a_clear_error(temporal_order_task):
    with pytest.raises(TrainingDiverged, match="epoch 1, batch 0: loss is nan"):
        _train(temporal_order_task, f"{__name__}.ExplodingModel")


def _run_exploding(task, out_dir, on_failure="report", **options):
    features, manifest = task
    boom = spec(f"{__name__}.ExplodingModel", training={**FAST, "on_failure": on_failure}, name="boom")
    return run_training_job(features, manifest, out_dir, boom, **options)


def test_a_failing_model_writes_a_failed_metrics_file_naming_error_and_log(temporal_order_task, tmp_path):
    metrics = _run_exploding(temporal_order_task, tmp_path / "run", log_path="logs/train/boom.log")
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written == metrics
    assert written["status"] == "failed" and written["log"] == "logs/train/boom.log"
    assert written["error"].startswith("TrainingDiverged: epoch 1, batch 0")
    with pytest.raises(TrainingDiverged):
        _run_exploding(temporal_order_task, tmp_path / "run2", on_failure="fail")
    assert not (tmp_path / "run2" / "metrics.json").exists()


def test_every_point_of_the_grid_is_a_trial_and_the_best_on_validation_is_kept(temporal_order_task):
    grid = {"normalisation": ["global", "clip_mean"], "leak_rate": [0.05, 1.0]}
    m = _train(temporal_order_task, "SimpleESN", {"reservoir_size": 80}, grid=grid)
    trials = m["tuning"]["trials"]
    assert m["tuning"]["sampler"] == "grid" and m["tuning"]["candidates"] == len(trials) == 4
    points = [{"normalisation": n, "leak_rate": a} for n in ("global", "clip_mean") for a in (0.05, 1.0)]
    assert sorted(map(str, (t["params"] for t in trials))) == sorted(map(str, points))
    best = max(trials, key=lambda t: (t["val_accuracy"], -t["val_loss"], -t["number"]))
    assert m["tuning"]["selected"] == best["params"] and m["val_accuracy"] == best["val_accuracy"]
    assert m["params"]["leak_rate"] == best["params"]["leak_rate"]
    assert m["normalisation"] == m["training"]["normalisation"] == best["params"]["normalisation"]


def test_the_test_clips_choose_nothing(temporal_order_task):
    """Replacing every test clip by garbage changes the test accuracy, never the tuning or the fitted model."""
    grid = {"normalisation": ["global", "clip_mean"], "dropout": [0.0, 0.5]}
    lstm = spec("SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 4}, grid=grid, name="lstm")
    assert_test_clips_choose_nothing(load_split(*temporal_order_task, split=1), lstm)


def assert_test_clips_choose_nothing(data, run) -> None:
    """Train ``run``, replace every test clip by garbage, train again: the same trials, selection and weights."""
    clean, clean_model, _ = train_on_split(data, run)
    data.test_x = torch.randn_like(data.test_x) * 1e3
    data.test_y = 1 - data.test_y
    poisoned, poisoned_model, _ = train_on_split(data, run)
    assert clean["tuning"]["selected"] == poisoned["tuning"]["selected"]
    for a, b in zip(clean["tuning"]["trials"], poisoned["tuning"]["trials"], strict=True):
        assert (a["params"], a["val_accuracy"], a["val_loss"]) == (b["params"], b["val_accuracy"], b["val_loss"])
    for key, value in clean_model.state_dict().items():
        assert torch.equal(value, poisoned_model.state_dict()[key])
    assert clean["accuracy_top1"] != poisoned["accuracy_top1"]


def test_every_model_fits_on_the_same_clips_and_records_validation_groups(temporal_order_task):
    runs = [
        _train(temporal_order_task, "SimpleESN", {"reservoir_size": 40}),
        _train(temporal_order_task, "SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 2}),
        _train(temporal_order_task, "AllFrames"),
    ]
    assert len({tuple(r["val_groups"]) for r in runs}) == 1 and len(runs[0]["val_groups"]) >= 2
    assert {(r["train_clips"], r["val_clips"]) for r in runs} == {(120, 60)}
    for r in runs:
        assert set(r["accuracy_by_group"]) == {"g01", "g02"}
        assert np.mean(list(r["accuracy_by_group"].values())) == pytest.approx(r["accuracy_top1"])


def test_all_frames_control_sees_order_without_recurrence(temporal_order_task):
    m = _train(temporal_order_task, "AllFrames")
    assert m["accuracy_top1"] >= 0.9 and m["fit_method"] == "closed_form"
    assert m["trainable_params"] == (12 * 24 + 1) * 2


class NaNFeatures(ClosedFormModel):
    """A closed-form model whose features are NaN: its ridge readout is NaN, its argmax a constant class."""

    def __init__(self, input_size: int, num_classes: int) -> None:
        super().__init__(input_size, num_classes, ridge=1.0)

    def encode(self, x):
        return x.mean(1) * float("nan")


def test_a_run_with_non_finite_weights_or_predictions_is_failed_never_ok(temporal_order_task, tmp_path):
    features, manifest = temporal_order_task
    metrics = run_training_job(features, manifest, tmp_path / "run", spec(f"{__name__}.NaNFeatures", name="nan"))
    assert metrics["status"] == "failed" and "non-finite" in metrics["error"]


def test_a_run_records_the_machine_load_and_a_closed_form_fit_its_parts_and_gcv_curve(temporal_order_task):
    m = _train(temporal_order_task, "SimpleESN", {"reservoir_size": 30})
    machine = m["machine"]
    assert machine["cores"] >= 1 and machine["wall_time_s"] > 0 and machine["cpu_time_s"] > 0
    loads, other = (machine["load_1m_start"], machine["load_1m_end"]), machine["other_processes_cores"]
    assert machine["busy"] == is_busy(*loads, machine["cores"], other, machine["threads"]) and other is not None
    info = m["fit_info"]
    assert info["harvest_s"] > 0 and info["solve_s"] > 0 and len(info["gcv"]) >= 17  # the grid, widened at an end
    assert min(info["gcv"], key=info["gcv"].get) == f"{info['ridge']:.4g}"


def test_two_fits_of_one_seed_write_identical_model_bytes_whatever_width_the_timing_favours(
    temporal_order_task, tmp_path, monkeypatch
):
    """Block widths are timed once per machine and shape and kept: a second run, whose timing would
    favour other widths, harvests at the kept ones and writes the same bytes."""
    from echoes.models.harvest import BlockedHarvest

    timings = []

    def favour(x, widths, *rest):  # each timing favours the next width: two timings never agree
        timings.append(widths)
        return widths[len(timings) % len(widths)]

    monkeypatch.setattr(BlockedHarvest, "time_widths", staticmethod(favour))
    features, manifest = temporal_order_task
    esn = spec("DeepESN", {"reservoir_size": 40, "num_reservoirs": 2}, grid={"leak_rate": [0.3, 1.0]})
    run_training_job(features, manifest, tmp_path / "first", esn)
    timed_in_first_run = len(timings)
    run_training_job(features, manifest, tmp_path / "second", esn)
    assert timed_in_first_run > 0 and len(timings) == timed_in_first_run  # the second run timed nothing
    first, second = (json.loads((tmp_path / run / "metrics.json").read_text()) for run in ("first", "second"))
    assert first["confusion"] == second["confusion"] and first["tuning"]["selected"] == second["tuning"]["selected"]
    assert (tmp_path / "first" / "model.pt").read_bytes() == (tmp_path / "second" / "model.pt").read_bytes()


ESN_SPACE = {
    "spectral_radius": {"low": 0.5, "high": 1.5, "type": "float"},
    "input_scaling": {"low": 0.01, "high": 10, "log": True, "type": "float"},
    "normalisation": ["global", "clip_mean"],
}


def test_a_search_gives_the_model_tuning_trials_drawn_from_its_space_and_keeps_the_best(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)
    run = spec("SimpleESN", {"reservoir_size": 60}, search=ESN_SPACE, tuning={"trials": 6})
    m, model, _ = train_on_split(data, run)
    tuning = m["tuning"]
    assert tuning["sampler"] == "tpe" and tuning["space"] == ESN_SPACE
    assert tuning["candidates"] == len(tuning["trials"]) == 6 and tuning["within_seconds"] is None
    for trial in tuning["trials"]:
        assert 0.5 <= trial["params"]["spectral_radius"] <= 1.5 and 0.01 <= trial["params"]["input_scaling"] <= 10
        assert trial["state"] == "complete" and trial["seconds"] >= trial["fit_seconds"] > 0
    assert len({t["params"]["input_scaling"] for t in tuning["trials"]}) == 5  # the first two: the entry's own
    best = max(tuning["trials"], key=lambda t: (t["val_accuracy"], -t["val_loss"], -t["number"]))
    assert tuning["selected"] == best["params"] and m["val_accuracy"] == best["val_accuracy"]
    assert m["params"]["input_scaling"] == best["params"]["input_scaling"]


def test_two_runs_of_one_seed_try_the_same_trials_and_another_seed_tries_others(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)

    def tried(seed):
        run = spec("SimpleESN", {"reservoir_size": 40}, seed=seed, search=ESN_SPACE, tuning={"trials": 5})
        return [
            (t["params"], t["val_accuracy"], t["val_loss"]) for t in train_on_split(data, run)[0]["tuning"]["trials"]
        ]

    assert tried(0) == tried(0)
    assert [p for p, _, _ in tried(1)] != [p for p, _, _ in tried(0)]


def test_the_test_clips_choose_nothing_under_search(temporal_order_task):
    space = {"learning_rate": {"low": 1e-3, "high": 1e-2, "log": True, "type": "float"}, "hidden_size": [8, 16]}
    lstm = spec("SimpleRNN", {}, {**FAST, "max_epochs": 3}, search=space, tuning={"trials": 3}, name="lstm")
    assert_test_clips_choose_nothing(load_split(*temporal_order_task, split=1), lstm)


def test_a_time_budget_runs_trials_until_it_is_spent_and_scores_the_best_within_it(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)
    run = spec("SimpleESN", {"reservoir_size": 40}, search=ESN_SPACE, tuning={"trials": 2, "seconds": 1.5})
    tuning = train_on_split(data, run)[0]["tuning"]
    spent = np.cumsum([t["seconds"] for t in tuning["trials"]])
    within = tuning["within_seconds"]
    assert tuning["candidates"] == 2 and len(tuning["trials"]) > 2 and spent[-2] < 1.5 <= spent[-1]
    assert within["seconds"] == 1.5 and within["trials"] == int((spent <= 1.5).sum())
    finished = tuning["trials"][: within["trials"]]
    assert within["val_accuracy"] == max(t["val_accuracy"] for t in finished)
    assert 0 <= within["accuracy_top1"] <= 1
    assert within["spent_s"] == pytest.approx(spent[within["trials"] - 1]) and within["spent_s"] <= 1.5
    assert within["accuracy_by_family"] == {}  # this set has no task families; the synthetic set's are scored


def test_refit_fits_the_selected_trial_again_on_training_and_validation_clips(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)
    grid = {"dropout": [0.0]}
    validated = train_on_split(data, spec("SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 6}, grid=grid))[0]
    refitted = train_on_split(
        data, spec("SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 6, "refit": True}, grid=grid)
    )[0]
    assert refitted["train_clips"] == len(data.train_x) == validated["train_clips"] + validated["val_clips"]
    assert refitted["epochs"] == validated["best_epoch"] and "val_loss" not in refitted["history"][0]
    assert refitted["training"]["refit"] is True and refitted["tuning"]["candidates"] == 1
    esn = train_on_split(data, spec("SimpleESN", {"reservoir_size": 40}, {**FAST, "refit": True}))[0]
    assert esn["train_clips"] == len(data.train_x) and esn["fit_info"]["train_clips"] == len(data.train_x)


def test_pruning_stops_trials_whose_validation_loss_trails_the_median_and_never_selects_them(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)
    space = {"learning_rate": {"low": 1e-5, "high": 1e-2, "log": True, "type": "float"}}
    run = spec("SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 12, "patience": 12}, search=space,
               tuning={"trials": 10, "sampler": "random", "pruning": True})  # fmt: skip
    tuning = train_on_split(data, run)[0]["tuning"]
    pruned = [t for t in tuning["trials"] if t["state"] == "pruned"]
    assert pruned and tuning["selected"] not in [t["params"] for t in pruned]


def test_an_esn_run_records_what_each_reservoir_adds(temporal_order_task):
    params = {"reservoir_size": 40, "num_reservoirs": 2, "leak_rate": 1.0, "spectral_radius": 0.9}
    m = _train(temporal_order_task, "DeepESN", params)
    layers = m["layers"]
    assert [r["layer"] for r in layers] == [1, 2]
    assert layers[-1]["accuracy_up_to"] == m["accuracy_top1"]  # layers 1..L under the same GCV readout: the model
    assert all(0 <= r["accuracy"] <= 1 and 0 < r["memory_capacity"] <= 40 for r in layers)
    assert [round(r["effective_spectral_radius"], 6) for r in layers] == [0.9, 0.9]  # leak 1: W's own radius
    assert _train(temporal_order_task, "SimpleRNN", {"hidden_size": 8}, {**FAST, "max_epochs": 2})["layers"] is None


def test_a_searchs_first_trial_is_the_entrys_own_settings():
    from echoes.training.tuning import entry_settings

    space = {**ESN_SPACE, "leak_rate": {"low": 0.05, "high": 0.2, "type": "float"}}
    run = spec("SimpleESN", {"input_scaling": 0.5}, {**FAST, "normalisation": "clip_mean"}, search=space)
    # input_scaling from params, spectral_radius the model's default, normalisation the training section's;
    # the default leak rate (0.3) lies outside this space, so Optuna draws it
    assert entry_settings(run) == {"spectral_radius": 0.9, "input_scaling": 0.5, "normalisation": "clip_mean"}


def test_a_search_tries_the_entrys_own_settings_first_under_every_normalisation(temporal_order_task):
    data = load_split(*temporal_order_task, split=1)
    run = spec("SimpleESN", {"reservoir_size": 40}, search=ESN_SPACE, tuning={"trials": 3})
    trials = train_on_split(data, run)[0]["tuning"]["trials"]
    own = {"spectral_radius": 0.9, "input_scaling": 0.1}
    assert [t["params"] for t in trials[:2]] == [own | {"normalisation": n} for n in ("global", "clip_mean")]


def test_a_layer_diagnostic_that_cannot_be_computed_is_recorded_missing_with_its_reason(monkeypatch, capsys):
    import echoes.models.esn_probes as probes
    import echoes.training.layers as layers
    from echoes.models import SimpleESN

    def no_convergence(model):
        raise RuntimeError("ARPACK error -1: No convergence")

    monkeypatch.setattr(probes, "effective_spectral_radius", no_convergence)
    model = SimpleESN(6, 20, 2, seed=0)
    x, y = torch.randn(12, 5, 6), torch.arange(12) % 2
    model.fit([(x, y)])
    records = layers.layer_records(model, (x, y), (x, y), 2, 8, "cpu", 0)
    assert records[0]["effective_spectral_radius"] is None and records[0]["memory_capacity"] > 0
    assert records[0]["unavailable"] == {"effective_spectral_radius": "RuntimeError: ARPACK error -1: No convergence"}
    assert "effective_spectral_radius could not be computed" in capsys.readouterr().err


def test_a_model_without_layers_has_no_layer_records():
    import echoes.training.layers as layers
    from echoes.models import MeanOfFrames

    model = MeanOfFrames(6, 2)
    x, y = torch.randn(12, 5, 6), torch.arange(12) % 2
    model.fit([(x, y)])
    assert layers.layer_records(model, (x, y), (x, y), 2, 8, "cpu", 0) is None
