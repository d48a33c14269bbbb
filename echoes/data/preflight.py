"""Checks of the clip lists before heavy jobs run: every selected split can be trained and tested.

Run when the manifest is written (videos on disk), when feature extraction starts (clips that
decoded), and when the workflow is parsed with those files present, so that an empty split fails
in seconds, on the console, naming the split and its counts, rather than after hours of decoding.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import suppress
from pathlib import Path

from echoes.contracts.features import FeaturesFileError, read_video_ids
from echoes.contracts.manifest import Manifest, read_manifest


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


def preflight(data_dir: str | Path, splits: Sequence[int]) -> None:
    """At workflow start: the selected splits against the manifest and features already on disk (if any)."""
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
            usable = set(read_video_ids(features_path))
    check_splits(manifest, splits, usable)
