"""Decoding: uniform frame sampling, resizing, and bad files that are listed rather than lost."""

import shutil

import h5py
import numpy as np
import pytest

from echoes.data.synthetic import write_avi
from echoes.data.ucf101 import read_manifest
from echoes.video import VideoError, decode_clip, decode_shard, read_frame_shards, sample_indices, shard_slice


def test_samples_are_uniform_centres_of_equal_bins():
    assert sample_indices(100, 4).tolist() == [12, 37, 62, 87]
    assert sample_indices(16, 16).tolist() == list(range(16))


def test_a_clip_shorter_than_t_repeats_frames_in_order():
    indices = sample_indices(3, 7)
    assert len(indices) == 7 and indices.min() == 0 and indices.max() == 2
    assert np.all(np.diff(indices) >= 0)


def test_shards_partition_the_items():
    covered = [i for s in range(3) for i in range(10)[shard_slice(10, s, 3)]]
    assert covered == list(range(10))


def _gradient_video(path, n_frames, width=80, height=60):
    frames = np.zeros((n_frames, height, width, 3), np.uint8)
    for i in range(n_frames):
        frames[i] = 10 + 20 * i  # brightness encodes the frame index
    write_avi(path, frames)


def test_decoded_frames_are_resized_center_cropped_and_in_time_order(tmp_path):
    _gradient_video(tmp_path / "clip.avi", 10)
    frames = decode_clip(tmp_path / "clip.avi", 5, 32)
    assert frames.shape == (5, 32, 32, 3) and frames.dtype == np.uint8
    brightness = frames.mean(axis=(1, 2, 3))
    assert np.all(np.diff(brightness) > 0)


@pytest.mark.parametrize(
    "content", [b"", b"this is a text file, not a video\n" * 20], ids=["zero-length", "text-renamed-avi"]
)
def test_undecodable_files_raise_an_error_naming_the_file(tmp_path, content):
    path = tmp_path / "bad.avi"
    path.write_bytes(content)
    with pytest.raises(VideoError, match="bad.avi"):
        decode_clip(path, 4, 32)


def test_bad_clip_is_skipped_and_listed_without_shifting_the_others(tiny_dataset, tiny_manifest, tmp_path):
    clips = read_manifest(tiny_manifest).clips
    broken = tmp_path / "copy"
    shutil.copytree(tiny_dataset / "videos", broken)
    (broken / clips[1].path).write_bytes(b"garbage")
    result = decode_shard(tiny_manifest, broken, tmp_path / "s.h5", 0, 1, 4, 32)
    assert result.failed[0][0] == clips[1].video_id
    ids, failed = read_frame_shards([tmp_path / "s.h5"])
    assert ids == [c.video_id for c in clips if c is not clips[1]]
    assert failed[0][0] == clips[1].video_id
    with h5py.File(tmp_path / "s.h5") as h5:
        assert h5["frames"].shape == (len(clips) - 1, 4, 32, 32, 3)
    with pytest.raises(VideoError, match=clips[1].path.split("/")[1]):
        decode_shard(tiny_manifest, broken, tmp_path / "f.h5", 0, 1, 4, 32, on_bad_video="fail")
    assert not (tmp_path / "f.h5").exists()
