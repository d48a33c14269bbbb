"""The embedded synthetic dataset: real videos, UCF101 formats, deterministic, order-only classes."""

import av
import numpy as np
import pytest

from echoes.data.synthetic import Scene, SyntheticSpec, generate, held_out_groups, render_clip, task_families
from echoes.data.ucf101 import build_manifest
from echoes.video import decode_clip

from .conftest import TINY


def test_every_clip_is_a_real_mpeg4_avi_that_pyav_decodes(tiny_dataset):
    paths = sorted((tiny_dataset / "videos").rglob("*.avi"))
    assert len(paths) == TINY.num_classes * TINY.clips_per_class
    with av.open(str(paths[0])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "mpeg4"
        frames = list(container.decode(stream))
    assert len(frames) >= TINY.frames - TINY.frames // 4
    assert (frames[0].width, frames[0].height) == (TINY.width, TINY.height)


def test_layout_and_names_follow_ucf101(tiny_dataset):
    classes, clips = build_manifest(tiny_dataset / "splits")
    assert classes == TINY.classes
    for clip in clips:
        folder, name = clip.path.split("/")
        assert folder == clip.class_name and name.startswith(f"v_{folder}_g") and name.endswith(".avi")
        assert (tiny_dataset / "videos" / clip.path).is_file()
    assert {c.splits[1] for c in clips} == {"train", "test"}


def test_split_files_use_crlf_and_one_based_labels(tiny_dataset):
    raw = (tiny_dataset / "splits" / "trainlist01.txt").read_bytes()
    assert raw.endswith(b"\r\n")
    assert raw.split(b"\r\n")[0].split()[1] == b"1"
    assert (tiny_dataset / "splits" / "classInd.txt").read_bytes().startswith(b"1 GrowingDisk\r\n")


def test_each_split_tests_on_whole_groups_and_the_three_splits_differ():
    folds = [held_out_groups(split, 10) for split in (1, 2, 3)]
    assert all(folds) and not (folds[0] & folds[1]) and not (folds[1] & folds[2])


def test_same_seed_gives_the_same_videos_and_another_seed_does_not(tmp_path, tiny_dataset):
    again = generate(tmp_path / "again", TINY)
    other = generate(tmp_path / "other", SyntheticSpec(**{**TINY.__dict__, "seed": 2}))
    clip = "GrowingDisk/v_GrowingDisk_g01_c01.avi"
    first = decode_clip(tiny_dataset / "videos" / clip, 4, 32)
    assert np.array_equal(first, decode_clip(again / "videos" / clip, 4, 32))
    assert not np.array_equal(first, decode_clip(other / "videos" / clip, 4, 32))


def test_worker_processes_write_the_same_files_as_one_process(tmp_path, tiny_dataset):
    parallel = generate(tmp_path / "parallel", TINY, workers=2)
    files = sorted(p.relative_to(tiny_dataset) for p in tiny_dataset.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(parallel) for p in parallel.rglob("*") if p.is_file())
    assert all((tiny_dataset / f).read_bytes() == (parallel / f).read_bytes() for f in files)


@pytest.mark.parametrize("pair", [0, 2, 3, 4])
def test_a_class_and_its_twin_hold_the_same_frames_in_reverse_order(pair):
    """So the mean of a clip's frames cannot tell the two classes of an order pair apart."""
    spec = SyntheticSpec(num_classes=10, noise=0.0)
    scene = Scene(np.array([20.0, 30, 40]), np.array([200.0, 180, 160]), 80.0, 60.0, 40.0)
    forward = render_clip(2 * pair, 9, scene, spec, np.random.default_rng(0))
    backward = render_clip(2 * pair + 1, 9, scene, spec, np.random.default_rng(0))
    assert np.array_equal(forward[::-1], backward)
    assert not np.array_equal(forward, backward)


def test_same_different_clips_flash_two_colours_that_match_or_not():
    """The class is whether the two flashes' colours match; each frame alone says nothing about it."""
    spec = SyntheticSpec(num_classes=4, noise=0.0)
    assert spec.classes[2:] == ["SameColours", "DifferentColours"]
    assert task_families(spec.classes) == ["order", "order", "same_different", "same_different"]
    assert task_families(["GrowingDisk", "ApplyEyeMakeup"]) is None  # real data has no families
    scene = Scene(np.array([20.0, 30, 40]), np.array([200.0, 180, 160]), 80.0, 60.0, 40.0)
    background = render_clip(2, 24, scene, spec, np.random.default_rng(0))[0].astype(float)
    matches = {}
    for different in (0, 1):
        for seed in range(12):
            frames = render_clip(2 + different, 24, scene, spec, np.random.default_rng(seed)).astype(float)
            shown = [f for f in frames if np.abs(f - background).sum() > 0]
            assert len(shown) == 2 * 6  # two flashes of n // 4 frames, one in each half
            first, second = (_is_blue(f, background) for f in (shown[0], shown[-1]))
            matches.setdefault(different, set()).add(first == second)
    assert matches == {0: {True}, 1: {False}}


def _is_blue(frame: np.ndarray, background: np.ndarray) -> bool:
    flash = frame[(frame != background).any(axis=2)]
    return flash[:, 2].mean() > flash[:, 0].mean()


@pytest.mark.parametrize(
    "bad", [{"num_classes": 3}, {"num_classes": 12}, {"groups": 2}, {"clips_per_class": 2}, {"width": 63}]
)
def test_impossible_specs_are_refused(bad):
    with pytest.raises(ValueError):
        SyntheticSpec(**bad)


def test_task_families_travel_from_the_generator_through_the_manifest_to_the_features(tiny_manifest, tiny_features):
    """The training core scores each task family apart because the data says which they are
    (taskFamilies.txt -> manifest -> features.h5), not because it knows the generator's classes."""
    from echoes.contracts.features import read_features
    from echoes.contracts.manifest import read_manifest

    manifest = read_manifest(tiny_manifest)
    assert manifest.families == dict(zip(TINY.classes, task_families(TINY.classes), strict=True))
    features = read_features(tiny_features)
    assert (
        features.families
        == task_families(features.classes)
        == ["order", "order", "same_different"] * 1 + ["same_different"]
    )
