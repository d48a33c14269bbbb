"""The typed parts of a run's record: each written and read through its class, older files still read."""

import json

import pytest

from echoes.contracts.metrics import read_metrics, write_metrics
from echoes.contracts.records import Epoch, FeatureAttrs, LayerRecord, TrialRecord
from echoes.models.base import BaseModel


def test_an_epoch_leaves_out_what_its_fit_did_not_measure_and_reads_back_equal():
    closed_form = Epoch(epoch=1, train_accuracy=0.9, seconds=0.5, timestamp=1_700_000_000_000)
    assert closed_form.record() == {"epoch": 1, "train_accuracy": 0.9, "seconds": 0.5, "timestamp": 1_700_000_000_000}
    assert Epoch.read(json.loads(json.dumps(closed_form.record()))) == closed_form
    gradient = Epoch(epoch=3, train_accuracy=0.8, seconds=1.0, timestamp=5, loss=0.4, val_accuracy=0.7, val_loss=0.6)
    assert gradient.metrics() == {
        "train_accuracy": 0.8,
        "seconds": 1.0,
        "loss": 0.4,
        "val_accuracy": 0.7,
        "val_loss": 0.6,
    }


def test_a_trial_written_before_fit_seconds_existed_still_reads():
    old = {"number": 0, "params": {"leak_rate": 0.1}, "state": "complete", "val_accuracy": 0.5, "val_loss": 1.0,
           "seconds": 2.0}  # fmt: skip
    trial = TrialRecord.read(old)
    assert trial.fit_seconds is None and trial.params == {"leak_rate": 0.1}
    assert TrialRecord.read(trial.record()) == trial


def test_a_layer_record_keeps_the_files_flat_layout_and_its_missing_diagnostics():
    layer = LayerRecord(2, 0.6, 0.8, {"memory_capacity": 3.5, "effective_spectral_radius": None},
                        {"effective_spectral_radius": "ArpackNoConvergence: ..."})  # fmt: skip
    flat = layer.record()
    assert flat["memory_capacity"] == 3.5 and flat["effective_spectral_radius"] is None and flat["layer"] == 2
    back = LayerRecord.read(flat)
    assert back == layer and back.diagnostic("effective_spectral_radius") is None


def test_feature_attributes_read_from_a_file_drop_what_this_version_does_not_know():
    import numpy as np

    attrs = FeatureAttrs.read({"dataset": "ucf101", "weights": "IMAGENET1K_V1", "frames_per_clip": np.int64(16),
                               "format": 2, "frame_size": np.int64(224)})  # fmt: skip
    assert attrs.frames_per_clip == 16 and type(attrs.frames_per_clip) is int and attrs.pretrained
    assert "format" not in attrs.record() and FeatureAttrs.read(attrs.record()) == attrs
    with pytest.raises(TypeError):
        FeatureAttrs(dataset="x", frames_per_clip=4)  # what the weights were is never left out


def test_a_metrics_file_written_when_a_models_kind_was_called_family_still_reads(tmp_path):
    failed = {"status": "failed", "model": "m", "class": "SimpleRNN", "params": {}, "split": 1, "seed": 0,
              "error": "E", "log": None, "history": [], "family": "LSTM"}  # fmt: skip
    write_metrics(tmp_path / "metrics.json", failed)
    run = read_metrics(tmp_path / "metrics.json")
    assert run["kind"] == "LSTM" and "family" not in run


def test_a_user_model_that_names_its_kind_family_keeps_it():
    class Legacy(BaseModel):
        family = "GRU"

    class Current(BaseModel):
        kind = "GRU"

    assert Legacy.kind == Current.kind == "GRU" and BaseModel.kind == "gradient-trained"
