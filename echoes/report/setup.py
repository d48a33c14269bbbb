"""The report's Setup section: the data, the clips each split used, the features and where the runs ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from echoes.contracts.records import FeatureAttrs


def setup_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    first = runs[0]
    features = FeatureAttrs.read(first["features"])
    note = "" if features.pretrained else " — **not pretrained**: features from a seeded random initialisation"
    splits = sorted({r["split"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    data = f"data/{features.dataset}"
    return [
        f"- Dataset: `{features.dataset}`, official split(s) {', '.join(map(str, splits))}; "
        f"seeds {', '.join(map(str, seeds))}",
        f"- Clips of split {first['split']}: {first['train_clips'] + first.get('val_clips', 0)} training, "
        f"{first['test_clips']} test; videos missing from disk: "
        f"{features.missing_videos}; clips that failed to decode (skipped, listed in features.h5): "
        f"{features.skipped_clips}; partial clips (fewer frames than declared): "
        f"{features.partial_clips}, {features.partial_clips_left_out or 0} of them left out "
        f"(`frames.on_partial_video: {features.on_partial_video}`); files on disk that no split list names "
        f"(ignored): {features.unlisted_files}",
        f"- Clip lists: manifest [`{data}/manifest.tsv`](../{data}/manifest.tsv); skipped clips and their reasons "
        f"in [`{data}/features.h5`](../{data}/features.h5) (`skipped_video_ids`, `skipped_reasons`) and in "
        f"`logs/{features.dataset}/decode/`",
        frames_line(features, note),
        *unseen_lines(runs),
        f"- Training device: {', '.join(sorted({r['device'] for r in runs}))} "
        f"({threads_text(first.get('threads'))} per job); torch {first.get('versions', {}).get('torch', '?')}, "
        f"echoes {features.echoes_version}",
    ]


def unseen_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Test clips whose class no training clip of their split has: counted as errors, named here."""
    by_split = {r["split"]: r["unseen_test_classes"] for r in runs if r.get("unseen_test_classes")}
    return [
        f"- **Split {split}: {sum(unseen.values())} test clip(s) of classes that no training clip has** (never right, "
        f"counted as errors; `on_unseen_test_class`): " + ", ".join(f"{name} ({n})" for name, n in unseen.items())
        for split, unseen in sorted(by_split.items())
    ]


def threads_text(threads: int | None) -> str:
    return "? threads" if threads is None else f"{threads} thread{'' if threads == 1 else 's'}"


def frames_line(features: FeatureAttrs, note: str) -> str:
    if features.dataset == "precomputed":
        return (
            f"- Features: the user's own, {features.layer} over T = {features.frames_per_clip} steps, "
            f"{features.weights} (`dataset: precomputed`: no decoding, no CNN)"
        )
    return (
        f"- Frames: T = {features.frames_per_clip} per clip, {features.frame_size} px; "
        f"CNN: {features.backbone} ({features.layer}), weights {features.weights}{note}; "
        f"precision {features.precision}"
    )
