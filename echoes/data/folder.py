"""Any folder of labelled videos, ``<root>/<Class>/<clip>`` (HMDB51, a user's own clips), as a dataset.

With split lists in UCF101's format the folder is read like UCF101. Without them Echoes writes
lists itself: for each split, a stratified draw of whole groups per class (UCF101's ``gNN`` when
every clip name carries one, otherwise each clip is its own group), from a seed, in UCF101's
formats plus ``split_info.json``, so the split can be inspected and reused. Class labels follow
the case-insensitive order of the folder names, written to ``classInd.txt``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from echoes.contracts.manifest import SPLITS
from echoes.data.ucf101 import assign_groups, has_groups, write_split_files
from echoes.files import atomic_dir

VIDEO_SUFFIXES = frozenset(
    {".avi", ".mp4", ".m4v", ".mkv", ".mov", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ogv"}
)


class DatasetFolderError(ValueError):
    """A folder that cannot become a dataset; the message names the folder at fault."""


@dataclass
class FolderScan:
    classes: list[str]
    clips: list[str]  # "<Class>/<file>", POSIX separators
    ignored: list[str]  # entries that are not videos (other suffixes, broken links, sub-folders)


def _is_video(path: Path) -> bool:
    """A readable file with a video suffix; spaces are refused because split lists are space-separated."""
    return path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES and not any(c.isspace() for c in path.name)


def scan_folder(root: str | Path) -> FolderScan:
    """Classes and clips under ``root``; symlinked folders and clips are followed, hidden entries skipped."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetFolderError(f"dataset folder {root} does not exist or is not a folder")
    classes, clips, ignored = [], [], []
    for folder in sorted(root.iterdir(), key=lambda p: (p.name.casefold(), p.name)):
        if folder.name.startswith("."):
            continue
        if not folder.is_dir():
            ignored.append(folder.name)
            continue
        if any(c.isspace() for c in folder.name):
            raise DatasetFolderError(f"class folder {folder}: names with spaces cannot be written in split lists")
        videos = []
        for item in sorted(folder.iterdir()):
            if not item.name.startswith("."):
                (videos if _is_video(item) else ignored).append(f"{folder.name}/{item.name}")
        if not videos:
            raise DatasetFolderError(f"class folder {folder} holds no videos ({', '.join(sorted(VIDEO_SUFFIXES))})")
        classes.append(folder.name)
        clips.extend(videos)
    if len(classes) < 2:
        raise DatasetFolderError(f"dataset folder {root} needs at least two class folders, found {classes}")
    return FolderScan(classes, clips, ignored)


def generate_splits(root: str | Path, splits_dir: str | Path, test_fraction: float = 0.3, seed: int = 0) -> FolderScan:
    """Write ``classInd.txt`` and three stratified, group-aware train/test lists for ``root``."""
    scan = scan_folder(root)
    stems = [Path(c).stem for c in scan.clips]
    groups = assign_groups(stems, "auto")
    grouping = "gNN in the clip names" if has_groups(stems) else "one group per clip (no gNN in the clip names)"
    by_class: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for clip, group in zip(scan.clips, groups, strict=True):
        by_class[clip.split("/")[0]].append((clip, group))
    too_few = [name for name, members in by_class.items() if len({g for _, g in members}) < 2]
    if too_few:
        raise DatasetFolderError(
            f"{len(too_few)} class folder(s) of {root} have clips from fewer than two groups: "
            f"{', '.join(sorted(too_few))}. A group is the set of clips cut from one long video (UCF101's _gNN_ "
            "in the clip name; without it each clip is its own group); a train/test split puts whole groups on "
            "one side, so each class needs clips from at least two. Add clips, or remove those classes."
        )
    lists = {}
    for split in SPLITS:
        rng = np.random.default_rng([seed, split])
        entries = []
        for name in scan.classes:
            test = set(draw_groups([g for _, g in by_class[name]], test_fraction, rng).tolist())
            entries.extend((clip, group in test) for clip, group in by_class[name])
        lists[split] = entries
    info = {
        "root": str(root),
        "seed": seed,
        "test_fraction": test_fraction,
        "grouping": grouping,
        "classes": len(scan.classes),
        "clips": len(scan.clips),
        "ignored": scan.ignored,
    }
    with atomic_dir(splits_dir) as tmp:
        write_split_files(tmp, scan.classes, lists)
        (tmp / "split_info.json").write_text(json.dumps(info, indent=2) + "\n")
    return scan


def draw_groups(groups: np.ndarray | list[int], fraction: float, rng: np.random.Generator) -> np.ndarray:
    """About ``fraction`` of the distinct groups (at least one, never all), drawn with ``rng``.

    Held-out sets (a validation set, a generated test list) take whole groups, so clips cut
    from one long video never sit on both sides.
    """
    unique = np.unique(groups)
    n_drawn = min(len(unique) - 1, max(1, round(fraction * len(unique))))
    return rng.choice(unique, size=n_drawn, replace=False)
