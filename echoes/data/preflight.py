"""Checks of the clip lists before heavy jobs run: every selected split can be trained and tested.

Run when the manifest is written (videos on disk), when feature extraction starts (clips that
decoded), and when the workflow is parsed with those files present, so that an empty split fails
in seconds, on the console, naming the split and its counts, rather than after hours of decoding.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
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


class UnseenClassError(ValueError):
    """Test clips of classes no training clip has, refused by ``on_unseen_test_class: fail``."""


UNSEEN_POLICIES = ("warn", "fail")


def unseen_classes(train: Iterable[str], test: Iterable[str]) -> dict[str, int]:
    """Classes of the test clips that no training clip has, with how many test clips each: those can never be right."""
    seen = set(train)
    return dict(sorted(Counter(c for c in test if c not in seen).items()))


def unseen_message(split: int, unseen: Mapping[str, int]) -> str:
    listed = ", ".join(f"{name} ({count})" for name, count in unseen.items())
    return (
        f"split {split}: {sum(unseen.values())} test clip(s) of {len(unseen)} class(es) that no training clip has "
        f"can never be classified right: {listed}"
    )


def apply_unseen_policy(messages: Sequence[str], policy: str) -> list[str]:
    """``on_unseen_test_class``: ``fail`` raises listing every split's unseen classes; ``warn`` returns the lines."""
    if policy not in UNSEEN_POLICIES:
        raise ValueError(f"on_unseen_test_class must be one of {UNSEEN_POLICIES}, got {policy!r}")
    if messages and policy == "fail":
        raise UnseenClassError(
            "; ".join(messages) + ". on_unseen_test_class is 'fail': add training clips of these classes, drop their "
            "test clips, or set it to 'warn' (the report then counts them as errors and names them)."
        )
    return list(messages)


def check_splits(
    manifest: Manifest, splits: Sequence[int], usable: Collection[str] | None = None, on_unseen: str = "warn"
) -> list[str]:
    """Raise :class:`SplitError` naming every selected split with no training or no test clip, or fewer
    than 2 classes among its training clips.

    ``usable`` narrows the clips to those that decoded. Test clips of classes that no training clip
    has (a model cannot predict them) are refused under ``on_unseen`` ``fail``, else returned as warnings.
    """
    what = "that decoded" if usable is not None else "with a video on disk"
    problems, unseen = [], []
    for split in splits:
        clips = [c for c in manifest.clips if usable is None or c.video_id in usable]
        train = [c for c in clips if c.splits.get(split) == "train"]
        test = [c for c in clips if c.splits.get(split) == "test"]
        if not train or not test:
            problems.append(f"split {split} has {len(train)} training and {len(test)} test clips {what}")
        trained = sorted({c.class_name for c in train})
        if train and len(trained) < 2:
            problems.append(f"the training clips of split {split} hold {len(trained)} class ({trained[0]}); a "
                            "classifier needs at least 2")  # fmt: skip
        missing = unseen_classes(trained, (c.class_name for c in test))
        if missing:
            unseen.append(unseen_message(split, missing))
    if problems:
        raise SplitError(
            "; ".join(problems) + ". Every split in config key `splits` needs both: check the split lists "
            "(trainlist0N.txt / testlist0N.txt), the videos folder, or choose other splits."
            + (" " + " ".join(unseen) if unseen else "")
        )
    return apply_unseen_policy(unseen, on_unseen)


def preflight(
    data_dir: str | Path, splits: Sequence[int], frames: Mapping[str, str] | None = None, on_unseen: str = "warn"
) -> None:
    """At workflow start: the clip policies and the selected splits against the files already on disk (if
    any); classes tested but never trained are printed (or refused: ``on_unseen_test_class: fail``)."""
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
    for warning in check_splits(manifest, splits, usable, on_unseen):
        print(f"WARNING: {warning}", file=sys.stderr)


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
