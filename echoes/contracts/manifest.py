"""The manifest (``data/<dataset>/manifest.tsv``): every clip, its label, group and split roles.

Written once by the dataset stage; read by decoding, feature extraction and training. This module
is the only one that writes or reads it.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from echoes.files import atomic_path

SPLITS = (1, 2, 3)


@dataclass
class Clip:
    video_id: str
    path: str  # relative to the videos root, POSIX separators
    label: int  # 0-based, from classInd.txt
    class_name: str
    group: int
    splits: dict[int, str] = field(default_factory=dict)  # split -> "train" | "test"


MANIFEST_FORMAT = 2
MANIFEST_HEADER = ("format", "classes", "missing", "unlisted")
MANIFEST_FIELDS = ("video_id", "path", "label", "class_name", "group") + tuple(f"split{s}" for s in SPLITS)


def write_manifest(
    path: Path,
    classes: Sequence[str],
    clips: Sequence[Clip],
    missing: int = 0,
    unlisted: int = 0,
    families: Mapping[str, str] | None = None,
) -> None:
    """A TSV with one row per clip; header comments record the classes, the count of listed
    videos missing from disk and of files on disk that no list names, and each class's task family
    where the dataset has them."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        values = (MANIFEST_FORMAT, " ".join(classes), missing, unlisted)
        handle.writelines(f"# {key}\t{value}\n" for key, value in zip(MANIFEST_HEADER, values, strict=True))
        if families:
            handle.write(f"# families\t{' '.join(families[c] for c in classes)}\n")
        writer = csv.DictWriter(handle, MANIFEST_FIELDS, delimiter="\t")
        writer.writeheader()
        for clip in clips:
            row = {k: v for k, v in asdict(clip).items() if k != "splits"}
            row.update({f"split{s}": clip.splits.get(s, "") for s in SPLITS})
            writer.writerow(row)


@dataclass
class Manifest:
    classes: list[str]
    clips: list[Clip]
    missing: int = 0
    unlisted: int = 0
    families: dict[str, str] = field(default_factory=dict)  # class -> task family; {} without them

    def ids(self, split: int, role: str) -> list[str]:
        return [c.video_id for c in self.clips if c.splits.get(split) == role]


def read_manifest(path: Path) -> Manifest:
    """Read a manifest written by :func:`write_manifest`; a foreign or outdated file is an error naming it."""
    with open(path, newline="") as handle:
        lines = handle.read().splitlines()
    header = dict(line[2:].split("\t", 1) for line in lines if line.startswith("# ") and "\t" in line)
    absent = [key for key in MANIFEST_HEADER if key not in header]
    if absent or header["format"] != str(MANIFEST_FORMAT):
        raise ValueError(
            f"{path}: manifest header lacks {', '.join(f'# {k}' for k in absent) or 'nothing'} (format "
            f"{header.get('format')!r}, expected {MANIFEST_FORMAT}); it was written by another "
            "version of Echoes or by hand. Delete it and rerun snakemake to rebuild it."
        )
    rows = [line for line in lines if not line.startswith("# ")]
    clips = [
        Clip(
            video_id=row["video_id"],
            path=row["path"],
            label=int(row["label"]),
            class_name=row["class_name"],
            group=int(row["group"]),
            splits={s: row[f"split{s}"] for s in SPLITS if row[f"split{s}"]},
        )
        for row in csv.DictReader(rows, delimiter="\t")
    ]
    classes = header["classes"].split()
    families = dict(zip(classes, header["families"].split(), strict=True)) if "families" in header else {}
    return Manifest(classes, clips, int(header["missing"]), int(header["unlisted"]), families)
