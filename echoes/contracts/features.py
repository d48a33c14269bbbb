"""``data/<dataset>/features.h5``: one row of per-frame CNN features per clip, with labels and groups.

Datasets: ``features`` ``[N, T, F]`` (float32 or float16), ``labels`` ``[N]`` (0-based),
``groups`` ``[N]``, ``video_ids`` ``[N]``, ``classes`` ``[C]`` (and ``task_families`` ``[C]``, each
class's task family, where the dataset has them: the report scores each family apart), the clips
that failed to decode
(``skipped_video_ids``, ``skipped_reasons``) and the partial ones, which stay in the file
(``partial_video_ids``, ``partial_reasons``; ``frames.on_partial_video`` acts at training).
Attributes say how the features were made (backbone, weights, T, frame size, precision, dataset,
versions). One file holds every clip once; a split is a list of ids in the manifest. Written by
feature extraction, read by training; this module is the only one that writes or reads it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from echoes.contracts.hdf5 import check_format, read_pairs, write_pairs
from echoes.contracts.records import FeatureAttrs
from echoes.files import atomic_path

FEATURES_FORMAT = 2


class FeaturesFileError(ValueError):
    """A features file this version cannot read; the message names the file."""


@dataclass
class FeatureSet:
    """A features file in memory."""

    features: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    video_ids: list[str]
    classes: list[str]
    attrs: FeatureAttrs
    skipped: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)
    families: list[str] | None = None  # each class's task family (``task_families`` [C]), if the dataset has them


class FeatureWriter:
    """Rows written as they are computed (a dataset never sits in memory whole), then the metadata."""

    def __init__(self, h5: h5py.File, n_clips: int, t: int, dim: int, dtype: str) -> None:
        self._h5 = h5
        self._features = h5.create_dataset("features", (n_clips, t, dim), dtype=dtype)

    def write_rows(self, start: int, rows: np.ndarray) -> None:
        self._features[start : start + len(rows)] = rows

    def finish(
        self,
        video_ids: Sequence[str],
        labels: Sequence[int],
        groups: Sequence[int],
        classes: Sequence[str],
        skipped: Sequence[tuple[str, str]],
        attrs: FeatureAttrs,
        partial: Sequence[tuple[str, str]] = (),
        families: Sequence[str] | None = None,
    ) -> None:
        string = h5py.string_dtype()
        self._h5.create_dataset("video_ids", data=list(video_ids), dtype=string)
        self._h5.create_dataset("labels", data=np.asarray(labels, dtype=np.int64))
        self._h5.create_dataset("groups", data=np.asarray(groups, dtype=np.int64))
        self._h5.create_dataset("classes", data=list(classes), dtype=string)
        write_pairs(self._h5, "skipped_video_ids", "skipped_reasons", skipped)
        write_pairs(self._h5, "partial_video_ids", "partial_reasons", partial)
        if families:
            self._h5.create_dataset("task_families", data=list(families), dtype=string)
        self._h5.attrs.update({**attrs.record(), "format": FEATURES_FORMAT})


@contextmanager
def write_features(out: Path, n_clips: int, t: int, dim: int, dtype: str = "float32") -> Iterator[FeatureWriter]:
    """A :class:`FeatureWriter` on a temporary file, renamed to ``out`` only if the block succeeds."""
    with atomic_path(out) as tmp, h5py.File(tmp, "w") as h5:
        yield FeatureWriter(h5, n_clips, t, dim, dtype)


def save_features(out: Path, data: FeatureSet) -> None:
    """Write a whole :class:`FeatureSet` held in memory at once: the inverse of :func:`read_features`."""
    n, t, dim = data.features.shape
    with write_features(out, n, t, dim, str(data.features.dtype)) as writer:
        writer.write_rows(0, data.features)
        writer.finish(
            data.video_ids,
            data.labels,
            data.groups,
            data.classes,
            data.skipped,
            data.attrs,
            data.partial,
            data.families,
        )


def _check(h5: h5py.File, path: Path) -> None:
    check_format(h5, path, FEATURES_FORMAT, "features", FeaturesFileError)


def read_clip_lists(path: Path) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
    """The clips the file holds, the skipped ``(id, reason)`` and the partial ones, without loading features."""
    with h5py.File(path, "r") as h5:
        _check(h5, path)
        ids = [s.decode() for s in h5["video_ids"][:]]
        return (
            ids,
            read_pairs(h5, "skipped_video_ids", "skipped_reasons"),
            read_pairs(h5, "partial_video_ids", "partial_reasons"),
        )


def read_features(path: Path) -> FeatureSet:
    """The whole file; features as float32."""
    with h5py.File(path, "r") as h5:
        _check(h5, path)
        return FeatureSet(
            features=np.ascontiguousarray(h5["features"][:], dtype=np.float32),
            labels=h5["labels"][:],
            groups=h5["groups"][:],
            video_ids=[s.decode() for s in h5["video_ids"][:]],
            classes=[s.decode() for s in h5["classes"][:]],
            attrs=FeatureAttrs.read(h5.attrs),
            skipped=read_pairs(h5, "skipped_video_ids", "skipped_reasons"),
            partial=read_pairs(h5, "partial_video_ids", "partial_reasons"),
            families=[s.decode() for s in h5["task_families"][:]] if "task_families" in h5 else None,
        )


def read_first_clips(path: Path, clips: int) -> np.ndarray:
    """The first ``clips`` clips' features as float32 ``[clips, T, F]``, without loading the rest."""
    with h5py.File(path, "r") as h5:
        _check(h5, path)
        return np.ascontiguousarray(h5["features"][:clips], dtype=np.float32)
