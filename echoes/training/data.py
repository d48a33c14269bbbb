"""One split's clips in memory, as the training stage reads them from ``features.h5`` and the manifest."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from echoes.contracts.features import read_features
from echoes.contracts.manifest import read_manifest
from echoes.contracts.records import FeatureAttrs
from echoes.data.preflight import check_clip_policy


@dataclass
class SplitData:
    """One split's clips in memory: features ``[N, T, F]`` float32, labels, groups."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    train_groups: np.ndarray
    test_x: torch.Tensor
    test_y: torch.Tensor
    test_groups: np.ndarray
    classes: list[str]
    attrs: FeatureAttrs
    families: list[str] | None = None  # each class's task family, scored apart; None without them


def load_split(features_path: Path, manifest_path: Path, split: int, on_partial_video: str = "keep") -> SplitData:
    """The train and test clips of official ``split`` that have features (decoded successfully).

    Partial clips (fewer frames than their container declares) are left out under
    ``on_partial_video="skip"``; the count left out is ``attrs.partial_clips_left_out``.
    """
    manifest = read_manifest(manifest_path)
    data = read_features(features_path)
    left_out = check_clip_policy(data.skipped, data.partial, "skip", on_partial_video)
    row = {video_id: i for i, video_id in enumerate(data.video_ids) if video_id not in left_out}
    train = [row[v] for v in manifest.ids(split, "train") if v in row]
    test = [row[v] for v in manifest.ids(split, "test") if v in row]
    if not train or not test:
        raise ValueError(
            f"{features_path}: split {split} has {len(train)} training and {len(test)} test clips with features"
        )
    x = torch.from_numpy(data.features)
    y = torch.from_numpy(data.labels.astype(np.int64))
    fit, held_out = torch.tensor(train), torch.tensor(test)
    attrs = replace(data.attrs, partial_clips_left_out=len(left_out), on_partial_video=on_partial_video)
    groups = data.groups
    return SplitData(
        x[fit], y[fit], groups[train], x[held_out], y[held_out], groups[test], data.classes, attrs, data.families
    )


def batches(
    x: torch.Tensor, y: torch.Tensor, batch_size: int, generator: torch.Generator | None = None
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of ``(x, y)``: in a seeded random order when given a generator, else in order."""
    order = torch.randperm(len(x), generator=generator) if generator is not None else torch.arange(len(x))
    for start in range(0, len(x), batch_size):
        idx = order[start : start + batch_size]
        yield x[idx], y[idx]


class Batches:
    """``(x, y)`` in batches of ``batch_size``, in order, as views (no copy): re-iterable, so that a
    closed-form fit can pass over the fit clips twice (a PCA of states, then the readout)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, batch_size: int) -> None:
        self.x, self.y, self.batch_size = x, y, batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for start in range(0, len(self.x), self.batch_size):
            yield self.x[start : start + self.batch_size], self.y[start : start + self.batch_size]

    def __len__(self) -> int:
        return -(-len(self.x) // self.batch_size)
