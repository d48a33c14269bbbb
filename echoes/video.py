"""Decoding: T frames per clip, sampled uniformly over the frames that really decode.

Frames are counted by decoding, never from ``stream.frames`` or the duration (both can be 0 or
wrong, and raw MPEG-4 streams have neither). What the container declares (its frame count, or
duration x frame rate) only tells a damaged clip from a short one: a truncated AVI decodes without
any error, just fewer frames, so a clip that decodes less than ``PARTIAL_FRACTION`` of what it
declares is *partial* (kept in the shard, listed with its counts; ``frames.on_partial_video``
decides downstream). A still image (an image format such as a PNG renamed ``.mp4``) is not a video. Decoding is
sequential and single-threaded: frame threading is a little faster alone but several times slower
when jobs share the cores.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from echoes.contracts.frames import write_frame_shard
from echoes.contracts.manifest import read_manifest

PARTIAL_FRACTION = 0.9


class VideoError(RuntimeError):
    """A clip that cannot give frames; the message names the file."""


@dataclass
class DecodedClip:
    """``t`` sampled frames, how many frames decoded, and how many the container declares (None: unknown)."""

    frames: np.ndarray
    decoded: int
    declared: int | None

    @property
    def partial(self) -> bool:
        return self.declared is not None and self.decoded < PARTIAL_FRACTION * self.declared


def declared_frames(stream: av.video.stream.VideoStream) -> int | None:
    """Frames the container says the stream has: its count, else duration x rate; None when it says nothing."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base and stream.average_rate:
        return round(float(stream.duration * stream.time_base * stream.average_rate))
    return None


def sample_indices(n_frames: int, t: int) -> np.ndarray:
    """Indices of ``t`` frames spread uniformly over ``n_frames``: the centre of each of t equal bins.

    A clip shorter than ``t`` repeats frames (each bin takes its nearest frame), so every clip
    yields exactly ``t`` frames and time still runs forward.
    """
    if n_frames < 1 or t < 1:
        raise ValueError(f"need at least one frame and t >= 1, got n_frames={n_frames}, t={t}")
    return np.minimum(((np.arange(t) + 0.5) * n_frames / t).astype(np.int64), n_frames - 1)


def resize_center_crop(frame: av.VideoFrame, size: int) -> np.ndarray:
    """Scale the shorter side to ``size`` (swscale, area filter), then cut the central square."""
    scale = size / min(frame.width, frame.height)
    width, height = max(size, round(frame.width * scale)), max(size, round(frame.height * scale))
    image = frame.to_ndarray(width=width, height=height, format="rgb24", interpolation="AREA")
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def read_clip(path: str | Path, t: int, size: int) -> DecodedClip:
    """``t`` frames of ``path`` as uint8 ``[t, size, size, 3]`` RGB, with the decoded and declared counts."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoError(f"{path}: no video stream")
            stream = container.streams.video[0]
            still = container.format.name.endswith("_pipe") or container.format.name == "image2"
            declared = declared_frames(stream)
            frames = list(container.decode(stream))
    except av.error.FFmpegError as error:
        raise VideoError(f"{path}: cannot decode ({error})") from error
    if not frames:
        raise VideoError(f"{path}: no frame decodes")
    if still:
        raise VideoError(f"{path}: a still image ({container.format.name}), not a video")
    sampled = np.stack([resize_center_crop(frames[i], size) for i in sample_indices(len(frames), t)])
    return DecodedClip(sampled, len(frames), declared)


def decode_clip(path: str | Path, t: int, size: int) -> np.ndarray:
    """``t`` frames of ``path`` as uint8 ``[t, size, size, 3]`` RGB (see :func:`read_clip`)."""
    return read_clip(path, t, size).frames


@dataclass
class DecodeResult:
    video_ids: list[str]
    failed: list[tuple[str, str]]  # (video_id, reason)
    partial: list[tuple[str, str]]  # (video_id, "decoded d of n declared frames")


def shard_slice(n_items: int, shard: int, n_shards: int) -> slice:
    """Contiguous, near-equal slice ``shard`` of ``n_shards`` (0-based) over ``n_items``."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is outside 0..{n_shards - 1}")
    return slice(shard * n_items // n_shards, (shard + 1) * n_items // n_shards)


def decode_shard(
    manifest_path: Path,
    videos_dir: Path,
    out: Path,
    shard: int,
    shards: int,
    per_clip: int,
    size: int,
) -> DecodeResult:
    """Decode shard ``shard`` (0-based) of ``shards`` of the manifest into an HDF5 file of frames.

    Arguments are named as in ``frames:`` of config.yaml. Nothing is dropped or stopped here:
    clips that do not decode and partial ones are listed with their reasons, and the policies
    (``frames.on_bad_video``, ``frames.on_partial_video``) act downstream, so changing one never
    throws away decoded frames.
    """
    t, n_shards = per_clip, shards
    manifest = read_manifest(manifest_path)
    clips = manifest.clips[shard_slice(len(manifest.clips), shard, n_shards)]
    ok, failed, partial, arrays = [], [], [], []
    for clip in tqdm(clips, desc=f"decode {shard + 1}/{n_shards}", unit="clip", mininterval=2):
        try:
            decoded = read_clip(Path(videos_dir) / clip.path, t, size)
        except VideoError as error:
            failed.append((clip.video_id, str(error)))
            print(f"{clip.video_id}: not decoded: {error}")
            continue
        arrays.append(decoded.frames)
        ok.append(clip.video_id)
        counts = f"decoded {decoded.decoded} of {decoded.declared if decoded.declared else 'unknown'} declared frames"
        print(f"{clip.video_id}: {counts}" + (" (partial)" if decoded.partial else ""))
        if decoded.partial:
            partial.append((clip.video_id, counts))
    write_frame_shard(out, arrays, ok, failed, partial, t=t, size=size, shard=shard, n_shards=n_shards)
    return DecodeResult(ok, failed, partial)
