"""The report's Setup section: the data, the clips each split used, the features and where the runs ran."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def setup_lines(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    first = runs[0]
    features = first["features"]
    weights = str(features.get("weights", "?"))
    note = " — **not pretrained**: features from a seeded random initialisation" if weights.startswith("random") else ""
    splits = sorted({r["split"] for r in runs})
    seeds = sorted({r["seed"] for r in runs})
    data = f"data/{features.get('dataset', '?')}"
    return [
        f"- Dataset: `{features.get('dataset', '?')}`, official split(s) {', '.join(map(str, splits))}; "
        f"seeds {', '.join(map(str, seeds))}",
        f"- Clips of split {first['split']}: {first['train_clips'] + first.get('val_clips', 0)} training, "
        f"{first['test_clips']} test; videos missing from disk: "
        f"{features.get('missing_videos', 0)}; clips that failed to decode (skipped, listed in features.h5): "
        f"{features.get('skipped_clips', 0)}; partial clips (fewer frames than declared): "
        f"{features.get('partial_clips', 0)}, {features.get('partial_clips_left_out', 0)} of them left out "
        f"(`frames.on_partial_video: {features.get('on_partial_video', '?')}`); files on disk that no split list names "
        "(ignored): "
        f"{features.get('unlisted_files', 0)}",
        f"- Clip lists: manifest [`{data}/manifest.tsv`](../{data}/manifest.tsv); skipped clips and their reasons "
        f"in [`{data}/features.h5`](../{data}/features.h5) (`skipped_video_ids`, `skipped_reasons`) and in "
        f"`logs/{features.get('dataset', '?')}/decode/`",
        frames_line(features, weights, note),
        *unseen_lines(runs),
        f"- Training device: {', '.join(sorted({r['device'] for r in runs}))} "
        f"({threads_text(first.get('threads'))} per job); torch {first.get('versions', {}).get('torch', '?')}, "
        f"echoes {features.get('echoes_version', '?')}",
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


def frames_line(features: Mapping[str, Any], weights: str, note: str) -> str:
    if features.get("dataset") == "precomputed":
        return (
            f"- Features: the user's own, {features.get('layer')} over T = {features.get('frames_per_clip')} steps, "
            f"{weights} (`dataset: precomputed`: no decoding, no CNN)"
        )
    return (
        f"- Frames: T = {features.get('frames_per_clip')} per clip, {features.get('frame_size')} px; "
        f"CNN: {features.get('backbone')} ({features.get('layer')}), weights {weights}{note}; "
        f"precision {features.get('precision')}"
    )
