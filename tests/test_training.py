"""Training: group-aware validation, convergence, honest metrics, and a task only temporal models solve."""

import json

import numpy as np
import pytest
import torch

from echoes.models import BaseModel
from echoes.training import (
    TrainingDiverged,
    convergence_epoch,
    group_holdout,
    run_training_job,
    top_k_accuracy,
    train_and_evaluate,
)

FAST = {"max_epochs": 40, "batch_size": 32, "learning_rate": 3e-3, "patience": 40, "val_fraction": 0.2}


def test_validation_holds_out_whole_groups():
    groups = np.repeat(np.arange(1, 11), 7)
    fit, val = group_holdout(groups, 0.2, seed=0)
    assert not set(groups[fit]) & set(groups[val])
    assert len(set(groups[val])) == 2 and len(fit) + len(val) == len(groups)
    assert np.array_equal(val, group_holdout(groups, 0.2, seed=0)[1])


def test_convergence_is_the_first_epoch_within_tolerance_of_the_best():
    assert convergence_epoch([0.2, 0.5, 0.796, 0.8, 0.79], tolerance=0.005) == 3
    assert convergence_epoch([0.9, 0.5], tolerance=0.0) == 1


def test_top_k_accuracy():
    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.3]])
    labels = torch.tensor([1, 2])
    assert top_k_accuracy(logits, labels, 1) == 0.5
    assert top_k_accuracy(logits, labels, 2) == 1.0
    assert top_k_accuracy(logits, labels, 5) == 1.0


def _train(task, model_class, params=None, training=FAST, seed=0):
    features, manifest = task
    metrics, _ = train_and_evaluate(
        features,
        manifest,
        name=model_class,
        model_class=model_class,
        model_params=params or {},
        training=training,
        split=1,
        seed=seed,
    )
    return metrics


def test_esn_and_lstm_learn_temporal_order_while_mean_of_frames_cannot(temporal_order_task):
    esn = _train(temporal_order_task, "SimpleESN", {"reservoir_size": 200, "input_scaling": 0.3})
    lstm = _train(temporal_order_task, "SimpleRNN", {"hidden_size": 32})
    mean = _train(temporal_order_task, "MeanOfFrames")
    assert esn["accuracy_top1"] >= 0.9
    assert lstm["accuracy_top1"] >= 0.9
    assert mean["accuracy_top1"] <= 0.7


def test_same_seed_gives_identical_metrics(temporal_order_task):
    keys = ("accuracy_top1", "accuracy_top5", "confusion", "trainable_params", "fit_info")
    for model, params in (("SimpleESN", {"reservoir_size": 60}), ("SimpleRNN", {"hidden_size": 8})):
        training = {**FAST, "max_epochs": 3}
        a = _train(temporal_order_task, model, params, training)
        b = _train(temporal_order_task, model, params, training)
        assert {k: a[k] for k in keys} == {k: b[k] for k in keys}
        assert [h.get("loss") for h in a["history"]] == [h.get("loss") for h in b["history"]]


def test_harvest_batch_size_changes_speed_not_the_readout(temporal_order_task):
    features, manifest = temporal_order_task
    fitted = []
    for harvest in (7, 1024):
        metrics, model = train_and_evaluate(
            features,
            manifest,
            name="SimpleESN",
            model_class="SimpleESN",
            model_params={"reservoir_size": 60, "ridge": 1.0},
            training={**FAST, "harvest_batch_size": harvest},
            split=1,
            seed=0,
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


def test_job_writes_metrics_even_when_tracking_is_unreachable(temporal_order_task, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    features, manifest = temporal_order_task
    tracking = {"tracking_uri": "http://127.0.0.1:9", "experiment_name": "echoes-test"}
    with pytest.warns(RuntimeWarning, match="not \\(fully\\) logged"):
        run_training_job(
            features,
            manifest,
            tmp_path / "run",
            name="esn",
            model_class="SimpleESN",
            model_params={"reservoir_size": 20},
            training=FAST,
            split=1,
            seed=0,
            tracking=tracking,
        )
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["model"] == "esn"
    assert (tmp_path / "run" / "model.pt").is_file()


def _run_exploding(task, out_dir, **options):
    features, manifest = task
    return run_training_job(
        features,
        manifest,
        out_dir,
        name="boom",
        model_class=f"{__name__}.ExplodingModel",
        model_params={},
        training=FAST,
        split=1,
        seed=0,
        **options,
    )


def test_a_failing_model_writes_a_failed_metrics_file_naming_error_and_log(temporal_order_task, tmp_path):
    metrics = _run_exploding(temporal_order_task, tmp_path / "run", log_path="logs/train/boom.log")
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written == metrics
    assert written["status"] == "failed" and written["log"] == "logs/train/boom.log"
    assert written["error"].startswith("TrainingDiverged: epoch 1, batch 0")
    with pytest.raises(TrainingDiverged):
        _run_exploding(temporal_order_task, tmp_path / "run2", on_failure="fail")
    assert not (tmp_path / "run2" / "metrics.json").exists()
