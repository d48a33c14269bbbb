"""Each on-disk contract round-trips through its one module, and a foreign file is an error naming it."""

import json

import numpy as np
import pytest
import torch

from echoes.contracts.bundle import BundleError, read_bundle
from echoes.contracts.features import FeatureSet, FeaturesFileError, read_features, save_features
from echoes.contracts.frames import FrameShardError, frame_chunks, read_frame_shards, shard_geometry, write_frame_shard
from echoes.contracts.metrics import METRICS_FORMAT, MetricsFileError, read_metrics, write_metrics
from echoes.contracts.records import FeatureAttrs
from echoes.models import build_model
from echoes.normalisation import Normaliser
from echoes.stages.train import run_training_job
from echoes.training.data import load_split
from echoes.training.evaluation import confusion_matrix, predict
from tests.specs import spec


def test_frame_shards_round_trip_in_order(tmp_path):
    clips = [np.full((4, 8, 8, 3), i, np.uint8) for i in range(3)]
    write_frame_shard(tmp_path / "a.h5", clips[:2], ["a", "b"], [("x", "bad")], t=4, size=8, shard=0, n_shards=2)
    write_frame_shard(tmp_path / "b.h5", clips[2:], ["c"], [], t=4, size=8, shard=1, n_shards=2)
    paths = [tmp_path / "a.h5", tmp_path / "b.h5"]
    assert read_frame_shards(paths) == (["a", "b", "c"], [("x", "bad")], [])
    assert shard_geometry(paths[0]) == (4, 8)
    chunks = list(frame_chunks(paths, clips_per_chunk=1))
    assert [int(c[0, 0, 0, 0, 0]) for c in chunks] == [0, 1, 2]


def test_features_round_trip(tmp_path):
    data = FeatureSet(
        np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        np.array([0, 1]),
        np.array([5, 6]),
        ["v1", "v2"],
        ["A", "B"],
        FeatureAttrs(dataset="x", weights="none", frames_per_clip=3),
        [("v3", "truncated")],
    )
    save_features(tmp_path / "f.h5", data)
    back = read_features(tmp_path / "f.h5")
    assert np.array_equal(back.features, data.features) and back.video_ids == ["v1", "v2"]
    assert back.classes == ["A", "B"] and back.skipped == [("v3", "truncated")] and back.attrs == data.attrs
    assert back.partial == []


def test_files_of_another_format_are_errors_naming_them(tmp_path):
    import h5py

    with h5py.File(tmp_path / "old.h5", "w") as h5:
        h5["frames"] = np.zeros((0, 1, 1, 1, 3), np.uint8)
    with pytest.raises(FrameShardError, match="old.h5: frame shard format None"):
        shard_geometry(tmp_path / "old.h5")
    with pytest.raises(FeaturesFileError, match="old.h5: features format None"):
        read_features(tmp_path / "old.h5")
    (tmp_path / "m.json").write_text(json.dumps({"model": "x"}))
    with pytest.raises(MetricsFileError, match="m.json: metrics format None"):
        read_metrics(tmp_path / "m.json")
    torch.save({"w": torch.zeros(1)}, tmp_path / "bare.pt")
    with pytest.raises(BundleError, match="bare.pt: model bundle format None"):
        read_bundle(tmp_path / "bare.pt")


def test_metrics_are_written_with_their_format(tmp_path):
    write_metrics(
        tmp_path / "m.json",
        {"status": "failed", "model": "m", "class": "c", "split": 1, "seed": 0, "error": "E", "log": "l"},
    )
    assert read_metrics(tmp_path / "m.json")["format"] == METRICS_FORMAT


def test_a_run_bundle_rebuilds_the_model_that_was_evaluated(temporal_order_task, tmp_path):
    features, manifest = temporal_order_task
    grid = {"normalisation": ["global", "clip_mean"]}
    esn = spec("SimpleESN", {"reservoir_size": 30}, {"val_fraction": 0.2}, grid=grid, name="esn")
    metrics = run_training_job(features, manifest, tmp_path / "run", esn)
    bundle = read_bundle(tmp_path / "run" / "model.pt")
    assert bundle["model"] == {"name": "esn", "class": "SimpleESN", "params": metrics["params"]}
    assert bundle["classes"] == metrics["classes"] and bundle["features"]["frames_per_clip"] == 12
    assert bundle["normalisation"]["mode"] == metrics["normalisation"]
    data = load_split(features, manifest, split=1)
    model = build_model("SimpleESN", bundle["model"]["params"], 24, 2, seed=0)
    model.load_state_dict(bundle["state_dict"])
    n = bundle["normalisation"]
    logits = predict(model, Normaliser(n["mode"], n["mean"], n["std"])(data.test_x), 64, "cpu")
    assert confusion_matrix(logits.argmax(1), data.test_y, 2) == metrics["confusion"]


def test_a_failed_runs_bundle_says_so(tmp_path):
    from echoes.contracts.bundle import write_bundle

    write_bundle(
        tmp_path / "m.pt",
        name="m",
        model_class="X",
        params={},
        state_dict={},
        classes=[],
        normalisation={},
        features={},
        status="failed",
    )
    with pytest.raises(BundleError, match="the run failed"):
        read_bundle(tmp_path / "m.pt")
