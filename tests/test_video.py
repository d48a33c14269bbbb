"""Decoding: uniform frame sampling, resizing, and bad files that are listed rather than lost."""

import re
import shutil

import av
import h5py
import numpy as np
import pytest

from echoes.contracts.frames import read_frame_shards
from echoes.contracts.manifest import read_manifest
from echoes.data.synthetic import write_avi
from echoes.video import VideoError, decode_clip, decode_shard, sample_indices, shard_slice


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
    ids, failed, partial = read_frame_shards([tmp_path / "s.h5"])
    assert ids == [c.video_id for c in clips if c is not clips[1]]
    assert failed[0][0] == clips[1].video_id and partial == []
    with h5py.File(tmp_path / "s.h5") as h5:
        assert h5["frames"].shape == (len(clips) - 1, 4, 32, 32, 3)


def test_a_truncated_avi_is_partial_with_its_counts_and_a_still_image_is_not_a_video(tmp_path):
    from echoes.data.synthetic import write_avi
    from echoes.video import read_clip

    frames = np.random.default_rng(0).integers(0, 255, (48, 64, 64, 3), dtype=np.uint8)
    write_avi(tmp_path / "full.avi", frames)
    whole = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "half.avi").write_bytes(whole[: len(whole) // 2])
    full, half = read_clip(tmp_path / "full.avi", 8, 32), read_clip(tmp_path / "half.avi", 8, 32)
    assert (full.decoded, full.declared, full.partial) == (48, 48, False)
    assert half.declared == 48 and half.decoded < 0.9 * 48 and half.partial
    assert half.frames.shape == (8, 32, 32, 3)

    import av

    with av.open(str(tmp_path / "still.mp4"), "w", format="image2pipe") as image:  # a PNG renamed .mp4
        stream = image.add_stream("png", rate=1)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "rgb24"
        image.mux(stream.encode(av.VideoFrame.from_ndarray(frames[0], format="rgb24")))
    with pytest.raises(VideoError, match="still.mp4: a still image .*not a video"):
        read_clip(tmp_path / "still.mp4", 8, 32)


def test_a_raw_mpeg4_stream_declares_nothing_and_is_never_called_partial(tmp_path):
    import av

    from echoes.video import read_clip

    with av.open(str(tmp_path / "raw.avi"), "w", format="m4v") as sink:
        stream = sink.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(20):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 10 * i, np.uint8), format="rgb24")
            sink.mux(stream.encode(frame.reformat(format="yuv420p")))
        sink.mux(stream.encode())
    clip = read_clip(tmp_path / "raw.avi", 4, 32)
    assert (clip.decoded, clip.declared, clip.partial) == (20, None, False)


def test_clip_policies_fail_listing_every_clip_or_leave_partial_ones_out():
    from echoes.data.preflight import ClipPolicyError, check_clip_policy

    skipped = [("a", "cannot decode"), ("b", "a still image")]
    partial = [("c", "decoded 24 of 48 declared frames")]
    assert check_clip_policy(skipped, partial, "skip", "skip") == {"c"}
    assert check_clip_policy(skipped, partial, "skip", "keep") == set()
    with pytest.raises(
        ClipPolicyError, match="2 clip\\(s\\) did not decode and frames.on_bad_video is 'fail': a: .*; b:"
    ):
        check_clip_policy(skipped, partial, "fail", "keep")
    with pytest.raises(ClipPolicyError, match="frames.on_partial_video is 'fail': c: decoded 24 of 48"):
        check_clip_policy(skipped, partial, "skip", "fail")


def write_video(path, n_frames, container, codec, width=80, height=60):
    """A clip whose brightness encodes the frame index, in any container/codec PyAV can write."""
    with av.open(str(path), mode="w", format=container) as output:
        stream = output.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(n_frames):
            image = np.full((height, width, 3), 10 + 200 * i // max(1, n_frames - 1), np.uint8)
            output.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        output.mux(stream.encode())
    return path


@pytest.mark.parametrize(
    ("name", "container", "codec"),
    [
        ("xvid.avi", "avi", "mpeg4"),
        ("h264.mp4", "mp4", "libx264"),
        ("hevc.mp4", "mp4", "libx265"),
        ("vp9.webm", "webm", "libvpx-vp9"),
        ("vp9.mkv", "matroska", "libvpx-vp9"),
        ("raw-stream.m4v", "m4v", "mpeg4"),  # MPEG-4 elementary stream: no container, no timestamps
    ],
)
def test_common_codecs_and_containers_decode_in_time_order(tmp_path, name, container, codec):
    frames = decode_clip(write_video(tmp_path / name, 13, container, codec), 5, 32)
    assert frames.shape == (5, 32, 32, 3)
    assert np.all(np.diff(frames.mean(axis=(1, 2, 3))) > 0)


@pytest.mark.parametrize("n_frames", [1, 3, 7, 17])
def test_odd_frame_counts_give_exactly_t_frames_forward_in_time(tmp_path, n_frames):
    frames = decode_clip(write_video(tmp_path / "odd.avi", n_frames, "avi", "mpeg4"), 8, 32)
    assert frames.shape == (8, 32, 32, 3)
    assert np.all(np.diff(frames.mean(axis=(1, 2, 3))) >= 0)


@pytest.mark.parametrize(("name", "container", "codec"), [("cut.avi", "avi", "mpeg4"), ("cut.mp4", "mp4", "libx264")])
def test_a_truncated_file_is_a_bad_video_naming_the_file(tmp_path, name, container, codec):
    path = write_video(tmp_path / name, 40, container, codec)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(VideoError, match=name):
        decode_clip(path, 4, 32)


def test_a_file_without_a_video_stream_is_a_bad_video(tmp_path):
    with av.open(str(tmp_path / "speech.wav"), mode="w", format="wav") as output:
        stream = output.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        output.mux(stream.encode(frame))
        output.mux(stream.encode())
    with pytest.raises(VideoError, match="speech.wav: no video stream"):
        decode_clip(tmp_path / "speech.wav", 4, 32)


def test_decode_logs_give_each_clips_counts_and_a_run_ends_with_a_clip_summary(
    tiny_dataset, tiny_manifest, tiny_features, tmp_path, capsys
):
    from echoes.data.preflight import clip_summary

    decode_shard(tiny_manifest, tiny_dataset / "videos", tmp_path / "s.h5", 0, 1, 4, 32)
    logged = capsys.readouterr().out.splitlines()
    clips = read_manifest(tiny_manifest).clips
    assert len(logged) == len(clips)
    assert all(re.fullmatch(r"\S+: decoded \d+ of \d+ declared frames", line) for line in logged)
    summary = clip_summary(tiny_features.parent)
    assert summary.startswith(f"clips: {len(clips)} with features, 0 did not decode (skipped), 0 partial")
    assert clip_summary(tmp_path / "nothing") == "clips: no features.h5 yet"
