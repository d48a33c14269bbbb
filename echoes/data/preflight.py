"""Checks of the clip lists before heavy jobs run: every selected split can be trained and tested.

Run when the manifest is written (videos on disk), when feature extraction starts (clips that
decoded), and when the workflow is parsed with those files present, so that an empty split fails
in seconds, on the console, naming the split and its counts, rather than after hours of decoding.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import suppress
from pathlib import Path

from echoes.contracts.features import FeaturesFileError, read_clip_lists
from echoes.contracts.manifest import Manifest, read_manifest


class ClipPolicyError(ValueError):
    """Clips that a ``fail`` policy refuses; the message lists them all, with the policy's config key."""


def check_clip_policy(
    skipped: Sequence[tuple[str, str]],
    partial: Sequence[tuple[str, str]],
    on_bad_video: str,
    on_partial_video: str,
) -> set[str]:
    """Apply ``frames.on_bad_video`` and ``frames.on_partial_video``; returns the partial ids to leave out.

    ``fail`` raises once, listing every offending clip (the first 20, and how many); ``skip`` leaves
    them out (a clip that does not decode never has features anyway); ``keep`` uses partial clips.
    """
    problems = []
    for policy, key, clips, what in (
        (on_bad_video, "frames.on_bad_video", skipped, "did not decode"),
        (on_partial_video, "frames.on_partial_video", partial, "are partial (fewer frames than declared)"),
    ):
        if policy == "fail" and clips:
            listed = "; ".join(f"{video_id}: {reason}" for video_id, reason in clips[:20])
            more = f" (and {len(clips) - 20} more)" if len(clips) > 20 else ""
            problems.append(f"{len(clips)} clip(s) {what} and {key} is 'fail': {listed}{more}")
    if problems:
        raise ClipPolicyError(" | ".join(problems) + ". Set the policy to skip (or keep partial clips) to go on.")
    return {video_id for video_id, _ in partial} if on_partial_video == "skip" else set()


class SplitError(ValueError):
    """A selected split without training or test clips; the message lists every such split."""


def check_splits(manifest: Manifest, splits: Sequence[int], usable: Collection[str] | None = None) -> list[str]:
    """Raise :class:`SplitError` naming every selected split with no training or no test clip.

    ``usable`` narrows the clips to those that decoded. Returns warnings: classes tested but never
    trained on (a model cannot predict them) in each split.
    """
    what = "that decoded" if usable is not None else "with a video on disk"
    problems, warnings = [], []
    for split in splits:
        clips = [c for c in manifest.clips if usable is None or c.video_id in usable]
        train = [c for c in clips if c.splits.get(split) == "train"]
        test = [c for c in clips if c.splits.get(split) == "test"]
        if not train or not test:
            problems.append(f"split {split} has {len(train)} training and {len(test)} test clips {what}")
        untrained = sorted({c.class_name for c in test} - {c.class_name for c in train})
        if untrained:
            warnings.append(
                f"split {split}: {len(untrained)} class(es) have test clips but no training clip: "
                + ", ".join(untrained)
            )
    if problems:
        raise SplitError(
            "; ".join(problems) + ". Every split in config key `splits` needs both: check the split lists "
            "(trainlist0N.txt / testlist0N.txt), the videos folder, or choose other splits."
            + (" " + " ".join(warnings) if warnings else "")
        )
    return warnings


def preflight(data_dir: str | Path, splits: Sequence[int], frames: Mapping[str, str] | None = None) -> None:
    """At workflow start: the clip policies and the selected splits against the files already on disk (if any)."""
    manifest_path, features_path = Path(data_dir) / "manifest.tsv", Path(data_dir) / "features.h5"
    if not manifest_path.is_file():
        return
    try:
        manifest = read_manifest(manifest_path)
    except ValueError:
        return  # another format: the manifest job rebuilds and checks it
    usable = None
    if features_path.is_file():
        with suppress(FeaturesFileError):  # another format: feature extraction rebuilds and checks it
            ids, skipped, partial = read_clip_lists(features_path)
            left_out = check_clip_policy(
                skipped, partial, **(frames or {"on_bad_video": "skip", "on_partial_video": "keep"})
            )
            usable = set(ids) - left_out
    check_splits(manifest, splits, usable)


def clip_summary(data_dir: str | Path) -> str:
    """The line printed at the end of every run: how many clips did not decode, how many are partial."""
    features_path = Path(data_dir) / "features.h5"
    if not features_path.is_file():
        return "clips: no features.h5 yet"
    try:
        ids, skipped, partial = read_clip_lists(features_path)
    except FeaturesFileError:
        return f"clips: {features_path} is of another format (rerun to rebuild it)"
    return (
        f"clips: {len(ids)} with features, {len(skipped)} did not decode (skipped), {len(partial)} partial "
        f"(fewer frames than declared); lists and reasons in {features_path} and the decode logs"
    )
