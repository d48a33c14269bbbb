"""ResNet18 features: the features.h5 contract, weights choices and precision."""

import urllib.error

import h5py
import numpy as np
import pytest
import torch

from echoes.contracts.manifest import read_manifest
from echoes.features import (
    WeightsUnavailable,
    build_backbone,
    embed_frames,
    embed_in_batches,
    extract_features,
    initial_batch_size,
)

from .conftest import SIZE, TINY, T


def test_features_file_follows_the_contract(tiny_features, tiny_manifest):
    manifest = read_manifest(tiny_manifest)
    with h5py.File(tiny_features) as h5:
        n = len(manifest.clips)
        assert h5["features"].shape == (n, T, 512) and h5["features"].dtype == np.float32
        assert h5["labels"].dtype == np.int64
        ids = [s.decode() for s in h5["video_ids"][:]]
        assert [s.decode() for s in h5["classes"][:]] == TINY.classes
        attrs = dict(h5.attrs)
        labels, groups = h5["labels"][:], h5["groups"][:]
        assert np.isfinite(h5["features"][:]).all()
    by_id = {c.video_id: c for c in manifest.clips}
    assert ids == [c.video_id for c in manifest.clips]
    assert labels.tolist() == [by_id[v].label for v in ids]
    assert groups.tolist() == [by_id[v].group for v in ids]
    assert attrs["backbone"] == "resnet18" and attrs["frames_per_clip"] == T and attrs["frame_size"] == SIZE
    assert attrs["weights"] == "random (seed 0)" and attrs["precision"] == "fp32" and attrs["dataset"] == "synthetic"
    assert "echoes_version" in attrs


def test_random_weights_are_seeded():
    a, _ = build_backbone("random", seed=3)
    b, _ = build_backbone("random", seed=3)
    c, _ = build_backbone("random", seed=4)
    assert torch.equal(a.conv1.weight, b.conv1.weight) and not torch.equal(a.conv1.weight, c.conv1.weight)


def test_a_local_weights_file_is_loaded_and_identified_by_sha256(tmp_path):
    source, _ = build_backbone("random", seed=5)
    from torchvision.models import resnet18

    full = resnet18()
    full.load_state_dict({**full.state_dict(), **source.state_dict()})
    torch.save(full.state_dict(), tmp_path / "resnet18.pth")
    model, identity = build_backbone(str(tmp_path / "resnet18.pth"), seed=0)
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert identity.startswith("file resnet18.pth (sha256 ") and len(identity.split("sha256 ")[1]) == 65


def test_imagenet_weights_offline_fail_fast_saying_where_to_put_the_file(monkeypatch, tmp_path):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(WeightsUnavailable, match="resnet18-f37072fd.pth") as error:
        build_backbone("IMAGENET1K_V1", seed=0)
    assert "random" in str(error.value)


def test_unknown_weights_name_the_config_key():
    with pytest.raises(WeightsUnavailable, match="features.weights"):
        build_backbone("no/such/file.pth", seed=0)


def test_bf16_features_stay_close_to_fp32(tiny_frames):
    model, _ = build_backbone("random", seed=0)
    with h5py.File(tiny_frames[0]) as h5:
        frames = h5["frames"][:2].reshape(-1, SIZE, SIZE, 3)
    fp32 = embed_frames(model, frames, "cpu", "fp32")
    bf16 = embed_frames(model, frames, "cpu", "bf16")
    assert bf16.dtype == np.float32
    assert np.linalg.norm(bf16 - fp32) / np.linalg.norm(fp32) < 0.05


def test_skipped_clips_are_recorded_and_labels_stay_aligned(tiny_manifest, tiny_dataset, tmp_path):
    import shutil

    from echoes.video import decode_shard

    clips = read_manifest(tiny_manifest).clips
    videos = tmp_path / "videos"
    shutil.copytree(tiny_dataset / "videos", videos)
    (videos / clips[0].path).write_bytes(b"")
    decode_shard(tiny_manifest, videos, tmp_path / "s.h5", 0, 1, T, SIZE)
    extract_features([tmp_path / "s.h5"], tiny_manifest, tmp_path / "f.h5", precision="fp32")
    with h5py.File(tmp_path / "f.h5") as h5:
        assert [s.decode() for s in h5["skipped_video_ids"][:]] == [clips[0].video_id]
        assert h5.attrs["skipped_clips"] == 1
        assert h5["labels"][:].tolist() == [c.label for c in clips[1:]]


@pytest.mark.parametrize(
    ("requested", "device", "size", "free", "expected"),
    [
        (48, "cuda", 224, 80 * 2**30, 48),  # a number is taken as given
        ("auto", "cpu", 224, None, 64),
        ("auto", "cuda", 224, 24 * 2**30, 1024),  # half of 24 GiB at 12 MiB a frame
        ("auto", "cuda", 112, 80 * 2**30, 4096),  # capped
        ("auto", "cuda", 224, 2**28, 32),  # floor
    ],
)
def test_the_batch_is_sized_to_the_device(requested, device, size, free, expected):
    assert initial_batch_size(requested, device, size, free) == expected


class RunsOutOfMemoryAbove(torch.nn.Module):
    """Behaves like a GPU with room for ``limit`` frames: larger batches raise out-of-memory."""

    def __init__(self, limit):
        super().__init__()
        self.limit, self.seen = limit, []

    def forward(self, x):
        self.seen.append(len(x))
        if len(x) > self.limit:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (simulated)")
        return x.mean(dim=(2, 3)).repeat(1, 2)


def test_out_of_memory_halves_the_batch_and_loses_no_frame():
    frames = np.random.default_rng(0).integers(0, 255, (40, 8, 8, 3), dtype=np.uint8)
    model = RunsOutOfMemoryAbove(limit=10)
    features, batch = embed_in_batches(model, frames, "cpu", "fp32", 32)
    expected, _ = embed_in_batches(RunsOutOfMemoryAbove(limit=64), frames, "cpu", "fp32", 64)
    assert batch == 8 and features.shape == (40, 6)
    np.testing.assert_allclose(features, expected, rtol=1e-6)
    assert model.seen[:3] == [32, 16, 8]


def test_a_resnet18_fine_tuned_with_another_head_is_accepted_its_head_being_discarded(tmp_path):
    from torchvision.models import resnet18

    tuned = resnet18(num_classes=10)
    torch.save(tuned.state_dict(), tmp_path / "tuned.pth")
    model, _ = build_backbone(str(tmp_path / "tuned.pth"), seed=0)
    assert torch.equal(model.layer4[1].conv2.weight, tuned.layer4[1].conv2.weight)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some notes\n", "is not a PyTorch state_dict file"),
        (b"root:x:0:0:root:/root:/bin/bash\n", "is not a PyTorch state_dict file"),
    ],
)
def test_a_weights_file_that_is_no_state_dict_is_refused_at_config_time(tmp_path, content, message):
    from echoes.planning.config import ConfigError, validate_config
    from tests.test_config import SCHEMA

    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    config = {"models": {"m": {"class": "MeanOfFrames"}}, "features": {"weights": str(path)}}
    with pytest.raises(ConfigError, match=f"config key features.weights: .*weights.pth {message}"):
        validate_config(config, SCHEMA)
    config["features"]["weights"] = str(tmp_path / "typo.pth")
    with pytest.raises(ConfigError, match="config key features.weights: .*typo.pth.* nor an existing file"):
        validate_config(config, SCHEMA)


def test_a_state_dict_of_another_network_is_refused_saying_what_differs(tmp_path):
    torch.save({"conv1.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(WeightsUnavailable, match="not a ResNet18 state_dict \\(missing: .*other shape: conv1.weight"):
        build_backbone(str(tmp_path / "other.pth"), seed=0)
