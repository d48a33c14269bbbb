"""Decoded frame shards (``data/<dataset>/frames/shard<i>-of<n>.h5``): uint8 frames per clip.

Written by the decode stage (one shard per job), read by feature extraction. Each shard holds
``frames`` ``[clips, T, size, size, 3]`` uint8, the ``video_ids`` that decoded, and the ids and
reasons of the clips that did not, and the partial clips (decoded, but fewer frames than the
container declares) with their counts. This module is the only one that writes or reads them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import h5py
import numpy as np

from echoes.contracts.hdf5 import check_format, read_pairs, write_pairs
from echoes.files import atomic_path

FRAMES_FORMAT = 2


class FrameShardError(ValueError):
    """A shard this version cannot read; the message names the file."""


def write_frame_shard(
    out: Path,
    frames: Sequence[np.ndarray],
    video_ids: Sequence[str],
    failed: Sequence[tuple[str, str]],
    partial: Sequence[tuple[str, str]] = (),
    *,
    t: int,
    size: int,
    shard: int,
    n_shards: int,
) -> None:
    """One shard, atomically: the frames of ``video_ids`` and the ``(id, reason)`` of the failed clips."""
    string = h5py.string_dtype()
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        stacked = np.stack(frames) if len(frames) else np.zeros((0, t, size, size, 3), np.uint8)
        h5.create_dataset("frames", data=stacked, chunks=(1, t, size, size, 3) if len(frames) else None)
        h5.create_dataset("video_ids", data=np.array(list(video_ids), dtype=object), dtype=string)
        write_pairs(h5, "failed_ids", "failed_reasons", failed)
        write_pairs(h5, "partial_ids", "partial_reasons", partial)
        h5.attrs.update(
            {"format": FRAMES_FORMAT, "frames_per_clip": t, "frame_size": size, "shard": shard, "n_shards": n_shards}
        )


def _check(h5: h5py.File, path: Path) -> None:
    check_format(h5, path, FRAMES_FORMAT, "frame shard", FrameShardError)


def read_frame_shards(paths: Sequence[Path]) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """Video ids that decoded, ``(id, reason)`` of those that did not, and of the partial ones, over all shards."""
    ids, failed, partial = [], [], []
    for path in paths:
        with h5py.File(path, "r") as h5:
            _check(h5, path)
            ids += [s.decode() for s in h5["video_ids"][:]]
            failed += read_pairs(h5, "failed_ids", "failed_reasons")
            partial += read_pairs(h5, "partial_ids", "partial_reasons")
    return ids, failed, partial


def shard_geometry(path: Path) -> tuple[int, int]:
    """``(T, frame size)`` of a shard."""
    with h5py.File(path, "r") as h5:
        _check(h5, path)
        return int(h5.attrs["frames_per_clip"]), int(h5.attrs["frame_size"])


def frame_chunks(paths: Sequence[Path], clips_per_chunk: int) -> Iterator[np.ndarray]:
    """The frames of every shard in order, ``clips_per_chunk`` clips at a time (never all in memory)."""
    for path in paths:
        with h5py.File(path, "r") as h5:
            _check(h5, path)
            frames = h5["frames"]
            for start in range(0, len(frames), clips_per_chunk):
                yield frames[start : start + clips_per_chunk]
