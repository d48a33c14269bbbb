"""UCF101's split lists, read into the manifest every later stage reads (echoes.contracts.manifest).

The official files (``classInd.txt``, ``trainlist0K.txt``, ``testlist0K.txt``) have CRLF line
endings and 1-based labels; labels come from ``classInd.txt``, never from sorting folder names
(UCF101's order is case-insensitive, and ``HandstandPushups/`` holds ``v_HandStandPushups_*``).
The synthetic dataset is written in the same formats, so one reader serves both.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from echoes.contracts.manifest import SPLITS, Clip, Manifest, write_manifest
from echoes.data.preflight import check_splits

GROUP_PATTERN = re.compile(r"_g(\d+)_c(\d+)$")


class SplitFileError(ValueError):
    """A split list that cannot be trusted; the message names the file and the line."""


def _lines(path: Path) -> Iterable[tuple[int, str]]:
    """Numbered non-empty lines; a byte that is not UTF-8 is an error naming the file, line and byte."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        raise SplitFileError(
            f"{path}:{line}: byte {raw[error.start]:#04x} at offset {error.start} is not UTF-8; save the list as "
            "UTF-8 (or ASCII, as UCF101 ships it)"
        ) from error
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if line:
            yield number, line


def read_class_index(path: Path) -> list[str]:
    """Class names in label order from ``classInd.txt`` (``<1-based index> <name>`` per line)."""
    names: dict[int, str] = {}
    for number, line in _lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitFileError(f"{path}:{number}: expected '<index> <ClassName>', got {line!r}")
        names[int(parts[0])] = parts[1]
    if sorted(names) != list(range(1, len(names) + 1)):
        raise SplitFileError(f"{path}: class indices must run 1..{len(names)} without gaps")
    return [names[i] for i in range(1, len(names) + 1)]


def _safe_relpath(raw: str, where: str) -> str:
    path = PurePosixPath(raw.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or len(path.parts) != 2:
        raise SplitFileError(f"{where}: path {raw!r} must be '<Class>/<clip>' inside the dataset root")
    return str(path)


def read_split_list(path: Path, classes: Sequence[str]) -> list[tuple[str, int]]:
    """``(relative path, 0-based label)`` for each line of a train or test list.

    A train list carries 1-based labels that must agree with the folder; a test list carries
    none, so the folder name (looked up in ``classInd.txt``) gives the label.
    """
    index = {name: i for i, name in enumerate(classes)}
    entries = []
    for number, line in _lines(path):
        where = f"{path}:{number}"
        parts = line.split()
        if len(parts) not in (1, 2):
            raise SplitFileError(f"{where}: expected '<Class>/<clip> [label]', got {line!r}")
        relpath = _safe_relpath(parts[0], where)
        folder = relpath.split("/")[0]
        if folder not in index:
            raise SplitFileError(f"{where}: class {folder!r} is not in classInd.txt")
        label = index[folder]
        if len(parts) == 2 and (not parts[1].isdigit() or int(parts[1]) - 1 != label):
            raise SplitFileError(f"{where}: label {parts[1]!r} disagrees with class {folder!r} (expected {label + 1})")
        entries.append((relpath, label))
    return entries


def parse_group(video_id: str) -> int:
    """The ``gNN`` of ``v_<Class>_gNN_cMM``: clips of one group come from one long video."""
    match = GROUP_PATTERN.search(video_id)
    if not match:
        raise SplitFileError(f"video {video_id!r} is not named like v_<Class>_gNN_cMM")
    return int(match.group(1))


def available_splits(splits_dir: Path) -> list[int]:
    """The splits whose train and test lists both exist (UCF101 has all three; a user's set may not)."""
    return [s for s in SPLITS if all((Path(splits_dir) / f"{r}list0{s}.txt").exists() for r in ("train", "test"))]


def has_groups(names: Sequence[str]) -> bool:
    """Every name carries UCF101's ``_gNN_cMM`` (a user's own clips may not)."""
    return all(GROUP_PATTERN.search(n) for n in names)


def assign_groups(names: Sequence[str], groups: str = "ucf101") -> list[int]:
    """Group per clip: UCF101's ``gNN`` (``groups='ucf101'``, required), or with ``'auto'`` the
    ``gNN`` when every clip has one and otherwise one group per clip (a clip-level split)."""
    if groups == "ucf101" or has_groups(names):
        return [parse_group(n) for n in names]
    return list(range(len(names)))


def build_manifest(
    splits_dir: Path, splits: Sequence[int] | None = None, groups: str = "ucf101", ids: str = "stem"
) -> tuple[list[str], list[Clip]]:
    """Every clip named by any of ``splits`` (default: every split with lists) once, in first-seen
    order, with its membership per split.

    ``ids='stem'`` names a clip by its file name (UCF101's names are unique); ``'path'`` by
    ``<Class>/<stem>``, for a user's folders where two classes may both hold ``clip01.mp4``.
    """
    splits_dir = Path(splits_dir)
    classes = read_class_index(splits_dir / "classInd.txt")
    splits = available_splits(splits_dir) if splits is None else splits
    if not splits:
        raise FileNotFoundError(f"{splits_dir} holds no trainlist0N.txt/testlist0N.txt pair (N = 1, 2 or 3)")
    clips: dict[str, Clip] = {}
    for split in splits:
        for role in ("train", "test"):
            list_path = splits_dir / f"{role}list0{split}.txt"
            if not list_path.exists():
                raise FileNotFoundError(f"split {split} needs {list_path}, which does not exist")
            for relpath, label in read_split_list(list_path, classes):
                path = PurePosixPath(relpath)
                video_id = path.stem if ids == "stem" else str(path.with_suffix(""))
                clip = clips.get(video_id)
                if clip is None:
                    clip = clips[video_id] = Clip(video_id, relpath, label, classes[label], -1)
                elif clip.path != relpath:
                    raise SplitFileError(f"{list_path}: {relpath} and {clip.path} share the clip id {video_id!r}")
                if split in clip.splits:
                    raise SplitFileError(f"{list_path}: {relpath} is listed twice in split {split}")
                clip.splits[split] = role
    for clip, group in zip(clips.values(), assign_groups(list(clips), groups), strict=True):
        clip.group = group
    return classes, list(clips.values())


def check_videos_exist(videos_dir: Path, clips: Sequence[Clip], allow_missing: bool = False) -> list[Clip]:
    """The clips whose files exist (a broken symlink counts as missing); missing ones fail the run
    unless ``allow_missing``."""
    videos_dir = Path(videos_dir)
    if not videos_dir.is_dir():
        raise FileNotFoundError(f"videos folder {videos_dir} does not exist")
    on_disk = [(videos_dir / c.path).is_file() for c in clips]  # one stat per clip: UCF101 has 13,320
    present = [c for c, found in zip(clips, on_disk, strict=True) if found]
    missing = [c.path for c, found in zip(clips, on_disk, strict=True) if not found]
    if missing and not allow_missing:
        shown = ", ".join(missing[:5])
        raise FileNotFoundError(
            f"{len(missing)} of {len(clips)} videos named by the split lists are missing under {videos_dir} "
            f"(first: {shown}); set `on_missing_video: skip` in config to continue with the rest"
        )
    return present


def unlisted_files(videos_dir: Path, clips: Sequence[Clip]) -> list[str]:
    """Files under ``<videos_dir>/<Class>/`` that no split list names: ignored, but counted."""
    listed = {c.path for c in clips}
    on_disk = (
        f"{folder.name}/{item.name}"
        for folder in Path(videos_dir).iterdir()
        if folder.is_dir()
        for item in folder.iterdir()
        if not item.name.startswith(".")
    )
    return sorted(p for p in on_disk if p not in listed)


def write_split_files(
    splits_dir: Path, classes: Sequence[str], splits: Mapping[int, Sequence[tuple[str, bool]]]
) -> None:
    """Write ``classInd.txt`` and train/test lists in UCF101's exact formats (CRLF, 1-based labels).

    ``splits`` maps a split number to ``(relative path, is_test)`` pairs.
    """
    splits_dir = Path(splits_dir)
    splits_dir.mkdir(parents=True, exist_ok=True)
    index = {name: i + 1 for i, name in enumerate(classes)}
    (splits_dir / "classInd.txt").write_bytes("".join(f"{i} {n}\r\n" for n, i in index.items()).encode())
    for split, entries in splits.items():
        train = "".join(f"{p} {index[p.split('/')[0]]}\r\n" for p, is_test in entries if not is_test)
        test = "".join(f"{p}\r\n" for p, is_test in entries if is_test)
        (splits_dir / f"trainlist0{split}.txt").write_bytes(train.encode())
        (splits_dir / f"testlist0{split}.txt").write_bytes(test.encode())


TASK_FAMILIES_FILE = "taskFamilies.txt"


def write_task_families(splits_dir: Path, families: Mapping[str, str]) -> None:
    """``taskFamilies.txt`` beside the split lists: ``<Class> <family>`` per line, the groups of classes the
    report scores separately (the synthetic set's ``order`` and ``same_different``; any dataset may have one)."""
    (Path(splits_dir) / TASK_FAMILIES_FILE).write_bytes("".join(f"{c} {f}\r\n" for c, f in families.items()).encode())


def read_task_families(splits_dir: Path, classes: Sequence[str]) -> dict[str, str]:
    """The task family of every class from ``taskFamilies.txt``, if the folder has one ({} otherwise);
    a class it leaves out, or one it names that classInd.txt does not, is an error naming the file."""
    path = Path(splits_dir) / TASK_FAMILIES_FILE
    if not path.is_file():
        return {}
    families = dict(line.split(maxsplit=1) for line in path.read_text().splitlines() if line.strip())
    families = {name: family.strip() for name, family in families.items()}
    unknown, missing = sorted(set(families) - set(classes)), [c for c in classes if c not in families]
    if unknown or missing:
        raise ValueError(
            f"{path}: every class of classInd.txt needs one task family; "
            + "; ".join(filter(None, [f"not classes: {', '.join(unknown)}" * bool(unknown),
                                      f"without a family: {', '.join(missing)}" * bool(missing)]))
        )  # fmt: skip
    return {c: families[c] for c in classes}


def prepare_manifest(
    videos_dir: Path,
    splits_dir: Path,
    out: Path,
    on_missing_video: str = "fail",
    groups: str = "ucf101",
    ids: str = "stem",
    splits: Sequence[int] = (),
    on_unseen: str = "warn",
) -> Manifest:
    """Stage entry point: read every split list, check the videos, count the unlisted files, write
    the manifest. ``on_missing_video='skip'`` continues without the missing videos (and counts them).
    The selected ``splits`` are then checked (:func:`echoes.data.preflight.check_splits`; test clips
    of classes no training clip has are printed, or refused under ``on_unseen`` ``fail``)."""

    classes, clips = build_manifest(splits_dir, groups=groups, ids=ids)
    present = check_videos_exist(videos_dir, clips, allow_missing=on_missing_video == "skip")
    unlisted = unlisted_files(videos_dir, clips)
    families = read_task_families(splits_dir, classes)
    manifest = Manifest(classes, present, len(clips) - len(present), len(unlisted), families)
    write_manifest(out, classes, present, manifest.missing, manifest.unlisted, families)
    if unlisted:
        print(f"ignored {len(unlisted)} file(s) that no split list names, e.g. {', '.join(unlisted[:3])}")
    print(f"{len(present)} clips, {len(classes)} classes, {manifest.missing} missing, {len(unlisted)} unlisted files")
    for warning in check_splits(manifest, splits, on_unseen=on_unseen):
        print(f"WARNING: {warning}")
    return manifest
