"""Fixtures that build real data: tiny synthetic videos, decoded frames and ResNet18 features."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import pytest

from echoes.contracts.features import FeatureSet, save_features
from echoes.contracts.records import FeatureAttrs
from echoes.data.synthetic import SyntheticSpec, generate
from echoes.data.ucf101 import prepare_manifest
from echoes.features import extract_features
from echoes.video import decode_shard

# Choices timed once per machine (echoes.measured.MeasuredChoices) are kept for the whole
# session here, never in the user's ~/.cache; each test that checks timing gets a fresh folder.
os.environ["ECHOES_CACHE_DIR"] = tempfile.mkdtemp(prefix="echoes-test-cache-")


@pytest.fixture(autouse=True)
def fresh_measured_choices(tmp_path, monkeypatch):
    monkeypatch.setenv("ECHOES_CACHE_DIR", str(tmp_path / "measured-choices"))


TINY = SyntheticSpec(num_classes=4, clips_per_class=6, groups=3, frames=8, width=64, height=48, seed=1)
T, SIZE = 4, 32


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """``root/videos`` and ``root/splits`` of a 4-class, 24-clip synthetic dataset."""
    return generate(tmp_path_factory.mktemp("tiny") / "raw", TINY)


@pytest.fixture(scope="session")
def tiny_manifest(tiny_dataset, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("manifest") / "manifest.tsv"
    prepare_manifest(tiny_dataset / "videos", tiny_dataset / "splits", out)
    return out


@pytest.fixture(scope="session")
def tiny_frames(tiny_dataset, tiny_manifest, tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("frames")
    shards = [folder / f"shard{i}.h5" for i in range(2)]
    for i, shard in enumerate(shards):
        decode_shard(tiny_manifest, tiny_dataset / "videos", shard, i, 2, T, SIZE)
    return shards


@pytest.fixture(scope="session")
def tiny_features(tiny_frames, tiny_manifest, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("features") / "features.h5"
    extract_features(
        tiny_frames, tiny_manifest, out, weights="random", seed=0, batch_size=16, precision="fp32", dataset="synthetic"
    )
    return out


def write_features_file(
    path: Path, features: np.ndarray, labels: np.ndarray, groups: np.ndarray, classes: list[str]
) -> list[str]:
    """A features.h5 in the stage contract, from arrays made by a test; returns the video ids."""
    ids = [f"v_{classes[y]}_g{g:02d}_c{i:02d}" for i, (y, g) in enumerate(zip(labels, groups, strict=True))]
    attrs = FeatureAttrs(dataset="test", frames_per_clip=features.shape[1], weights="none")
    save_features(path, FeatureSet(features.astype(np.float32), labels, groups, ids, classes, attrs))
    return ids


@pytest.fixture
def temporal_order_task(tmp_path) -> tuple[Path, Path]:
    """Features + manifest of a task only temporal order solves: class 1 is class 0's sequences reversed.

    Each clip is a random walk between two random "key frames" drawn from a shared pool, plus noise;
    a clip of class 1 plays a class-0-like walk backwards, so the mean over time is uninformative.
    """
    from echoes.contracts.manifest import Clip, write_manifest

    rng = np.random.default_rng(0)
    n_per_class, t, dim, groups = 120, 12, 24, 8
    pool_a, pool_b = rng.standard_normal((5, dim)), rng.standard_normal((5, dim))
    xs, ys, gs = [], [], []
    for label in (0, 1):
        for i in range(n_per_class):
            a, b = pool_a[rng.integers(5)], pool_b[rng.integers(5)]
            ramp = np.linspace(0, 1, t)[:, None]
            seq = (1 - ramp) * a + ramp * b + 0.3 * rng.standard_normal((t, dim))
            xs.append(seq[::-1] if label else seq)
            ys.append(label)
            gs.append(i % groups + 1)
    labels, group_arr = np.array(ys), np.array(gs)
    classes = ["Forward", "Backward"]
    features = tmp_path / "features.h5"
    ids = write_features_file(features, np.stack(xs), labels, group_arr, classes)
    clips = [
        Clip(v, f"{classes[y]}/{v}.avi", int(y), classes[y], int(g), {1: "test" if g <= 2 else "train"})
        for v, y, g in zip(ids, labels, group_arr, strict=True)
    ]
    manifest = tmp_path / "manifest.tsv"
    write_manifest(manifest, classes, clips)
    return features, manifest
