"""Features a researcher already has (I3D, CLIP, VideoMAE, any sequences): ``dataset: precomputed``.

The file is ``.npz`` or ``.h5``/``.hdf5`` with these arrays:

- ``features`` ``[N, T, D]``, float: N sequences of T steps of D dimensions (any D). Every sequence
  has the same T: resample sequences of other lengths to a common T before (e.g. T indices spread
  evenly over each sequence, as Echoes samples frames); a ragged or object array is refused.
- ``labels`` ``[N]``: class names (strings) or integers;
- ``groups`` ``[N]`` (optional): sequences cut from one source share a group, and validation holds
  out whole groups; without it each sequence is its own group;
- ``split`` ``[N]``: ``train`` or ``test`` (split 1); or, instead, ``precomputed.splits_dir``: a
  folder of UCF101-format lists (``classInd.txt``, ``trainlist0N.txt``, ``testlist0N.txt``), and
  then ``ids`` ``[N]``: each row's clip id, the file stem the lists name (``v_ApplyEyeMakeup_g08_c01``).
- ``ids`` ``[N]`` (optional otherwise): names for the rows (default ``row000000``...);
- ``task_families`` ``[N]`` (optional): each row's task family, one per class (the report scores
  each family apart, as it does the synthetic set's ``order`` and ``same_different``).

:func:`check_precomputed` checks all of it when the workflow is parsed, before any job, with
errors naming the array and the problem; :func:`import_precomputed` (the ``import_features``
job) writes Echoes' own ``features.h5`` and manifest, so training, tuning, the report, sweeps
and MLflow work as for videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

import echoes
from echoes.contracts.features import FeatureSet, save_features
from echoes.contracts.manifest import Clip, write_manifest
from echoes.contracts.records import FeatureAttrs
from echoes.files import sha256_file

ROLES = ("train", "test")
SUFFIXES = (".npz", ".h5", ".hdf5")


class PrecomputedError(ValueError):
    """A features file that cannot be used; the message names the file, the array and the problem."""


@dataclass
class Precomputed:
    """A checked file: float32 features, labels as names, groups, ids and split roles by split."""

    features: np.ndarray
    classes: list[str]
    labels: np.ndarray  # 0-based indices into classes
    groups: np.ndarray
    ids: list[str]
    roles: dict[int, list[str]]  # split -> role of each row ("" when a split does not name it)
    families: dict[str, str] | None = None  # class -> task family, from task_families


def read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The file's arrays by name (``.npz`` or HDF5 datasets at the top level)."""
    if path.suffix not in SUFFIXES:
        raise PrecomputedError(f"{path}: a features file is .npz, .h5 or .hdf5, not {path.suffix!r}")
    if not path.is_file():
        raise PrecomputedError(f"{path}: no such file (precomputed.path)")
    check_kind(path)
    if path.suffix == ".npz":
        with np.load(path, allow_pickle=False) as npz:
            arrays = {}
            for name in npz.files:
                try:
                    arrays[name] = npz[name]
                except ValueError as error:  # an object array: ragged sequences, or Python objects
                    raise PrecomputedError(
                        f"{path}: {name} is an object array ({error}); sequences of different lengths must be "
                        "resampled to one T and stacked as [N, T, D] floats"
                    ) from error
            return arrays
    import h5py

    with h5py.File(path, "r") as h5:
        return {name: h5[name][()] for name in h5 if isinstance(h5[name], h5py.Dataset)}


ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a .npz is a zip archive (an empty one starts with the second)


def check_kind(path: Path) -> None:
    """The file is what its name says, by its first bytes: never handed to numpy's pickle fallback,
    whose message suggests loading untrusted pickles."""
    import h5py

    if path.suffix == ".npz":
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head not in ZIP_MAGIC:
            raise PrecomputedError(
                f"{path}: not an .npz archive (an .npz is a zip file, which starts with b'PK\\x03\\x04'; this one "
                f"starts with {head!r}); write it with numpy.savez, or give an HDF5 file (.h5)"
            )
    elif not h5py.is_hdf5(path):
        raise PrecomputedError(f"{path}: not an HDF5 file (no HDF5 signature); write it with h5py, or give an .npz")


def as_strings(values: np.ndarray) -> list[str]:
    return [v.decode() if isinstance(v, bytes) else str(v) for v in values.tolist()]


def check_features(path: Path, arrays: dict[str, np.ndarray]) -> np.ndarray:
    for name in ("features", "labels"):
        if name not in arrays:
            raise PrecomputedError(f"{path}: no array {name!r} (it holds {', '.join(sorted(arrays)) or 'none'})")
    features = arrays["features"]
    if features.ndim != 3:
        raise PrecomputedError(
            f"{path}: features must be [N, T, D] (sequences, steps, dimensions), got shape {features.shape}; "
            "sequences of different lengths must be resampled to one T first"
        )
    if not np.issubdtype(features.dtype, np.floating):
        raise PrecomputedError(f"{path}: features must be floats, got {features.dtype}")
    bad = ~np.isfinite(features)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise PrecomputedError(f"{path}: features hold {int(bad.sum())} NaN or infinite values (first in row {row})")
    for name in ("labels", "groups", "split", "ids", "task_families"):
        if name in arrays and (arrays[name].ndim != 1 or len(arrays[name]) != len(features)):
            raise PrecomputedError(
                f"{path}: {name} must be [N] with N = {len(features)} like features, got shape {arrays[name].shape}"
            )
    return features.astype(np.float32, copy=False)


def class_names(path: Path, labels: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(classes, 0-based labels): integers keep their order, names are sorted; whitespace is refused
    (the manifest lists the classes separated by spaces)."""
    names = as_strings(labels)
    if np.issubdtype(labels.dtype, np.integer):
        classes = [str(v) for v in sorted(set(labels.tolist()))]
    else:
        classes = sorted(set(names))
    spaced = [c for c in classes if not c or any(ch.isspace() for ch in c)]
    if spaced:
        raise PrecomputedError(f"{path}: labels: class names may not be empty or hold whitespace, got {spaced[0]!r}")
    index = {c: i for i, c in enumerate(classes)}
    return classes, np.array([index[n] for n in names], dtype=np.int64)


def group_numbers(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Groups as 1-based integers, in order of first appearance; each row its own without ``groups``."""
    if "groups" not in arrays:
        return np.arange(1, len(arrays["features"]) + 1)
    numbers: dict[str, int] = {}
    return np.array([numbers.setdefault(g, len(numbers) + 1) for g in as_strings(arrays["groups"])])


def split_roles(path: Path, arrays: dict[str, np.ndarray], splits_dir: Path | None) -> dict[int, list[str]]:
    """Each row's role per split: from the ``split`` array (split 1) or from UCF101-format lists."""
    if splits_dir is None:
        if "split" not in arrays:
            raise PrecomputedError(f"{path}: no array 'split' (train/test per row) and no precomputed.splits_dir")
        roles = as_strings(arrays["split"])
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise PrecomputedError(f"{path}: split holds {unknown[0]!r}; every value must be 'train' or 'test'")
        return {1: roles}
    from echoes.data.ucf101 import build_manifest

    if "ids" not in arrays:
        raise PrecomputedError(f"{path}: with precomputed.splits_dir every row needs its clip id: no array 'ids'")
    _, clips = build_manifest(Path(splits_dir), ids="stem", groups="auto")
    ids = as_strings(arrays["ids"])
    named = {clip.video_id: clip for clip in clips}
    missing = [i for i in ids if i not in named]
    if missing:
        raise PrecomputedError(
            f"{path}: ids: {len(missing)} rows are in no list of {splits_dir} (first {missing[0]!r})"
        )
    splits = sorted({s for clip in clips for s in clip.splits})
    return {s: [named[i].splits.get(s, "") for i in ids] for s in splits}


def check_precomputed(path: str | Path, splits_dir: str | Path | None = None) -> Precomputed:
    """The file, checked: every problem is an error naming the file and the array."""
    path = Path(path)
    arrays = read_arrays(path)
    features = check_features(path, arrays)
    classes, labels = class_names(path, arrays["labels"])
    roles = split_roles(path, arrays, Path(splits_dir) if splits_dir else None)
    ids = as_strings(arrays["ids"]) if "ids" in arrays else [f"row{i:06d}" for i in range(len(features))]
    if len(set(ids)) != len(ids):
        raise PrecomputedError(f"{path}: ids must name every row once")
    for split, split_roles_ in roles.items():
        if not {"train", "test"} <= set(split_roles_):
            raise PrecomputedError(
                f"{path}: split {split} needs training and test rows, it has {sorted(set(split_roles_) - {''})}"
            )
    check_classes(path, classes, labels, roles)
    families = class_families(path, arrays, classes, labels)
    return Precomputed(features, classes, labels, group_numbers(arrays), ids, roles, families)


def class_families(path: Path, arrays: dict[str, np.ndarray], classes: list[str], labels: np.ndarray) -> dict | None:
    """Each class's task family from the rows' ``task_families``; a class with two is an error naming it."""
    if "task_families" not in arrays:
        return None
    families: dict[str, str] = {}
    for label, family in zip(labels.tolist(), as_strings(arrays["task_families"]), strict=True):
        known = families.setdefault(classes[label], family)
        if known != family or not family or any(ch.isspace() for ch in family):
            raise PrecomputedError(
                f"{path}: task_families: class {classes[label]!r} has {known!r} and {family!r}; each class needs "
                "one family, a name without whitespace"
            )
    return families


def check_classes(path: Path, classes: list[str], labels: np.ndarray, roles: dict[int, list[str]]) -> None:
    """At least two classes, in the file and among each split's training rows: a classifier of one class
    scores 100 % and says nothing."""
    if len(classes) < 2:
        raise PrecomputedError(
            f"{path}: labels hold {len(classes)} class ({classes[0]!r}); a classifier needs at least 2"
        )
    for split, split_roles_ in roles.items():
        trained = sorted({classes[label] for label, role in zip(labels, split_roles_, strict=True) if role == "train"})
        if len(trained) < 2:
            raise PrecomputedError(
                f"{path}: the training rows of split {split} hold {len(trained)} class ({', '.join(trained)}) of the "
                f"file's {len(classes)}; a classifier needs at least 2"
            )


def unseen_test_classes(data: Precomputed) -> list[str]:
    """Per split, the test rows of classes its training rows lack (:func:`echoes.data.preflight.unseen_message`)."""
    from echoes.data.preflight import unseen_classes, unseen_message

    messages = []
    for split, roles in data.roles.items():
        names = [data.classes[label] for label in data.labels]
        train = (name for name, role in zip(names, roles, strict=True) if role == "train")
        missing = unseen_classes(train, (name for name, role in zip(names, roles, strict=True) if role == "test"))
        if missing:
            messages.append(unseen_message(split, missing))
    return messages


def import_precomputed(
    path: str | Path, splits_dir: str | Path | None, features_out: Path, manifest_out: Path
) -> dict[str, int]:
    """Stage entry point: the user's file as Echoes' ``features.h5`` and ``manifest.tsv``."""
    data = check_precomputed(path, splits_dir)
    n, t, dim = data.features.shape
    clips = [
        Clip(
            video_id, "", int(label), data.classes[label], int(group), {s: r[i] for s, r in data.roles.items() if r[i]}
        )
        for i, (video_id, label, group) in enumerate(zip(data.ids, data.labels, data.groups, strict=True))
    ]
    write_manifest(manifest_out, data.classes, clips, families=data.families)
    attrs = FeatureAttrs(
        dataset="precomputed",
        backbone="precomputed",
        layer=f"{dim}-d features",
        weights=f"file {Path(path).name} (sha256 {sha256_file(path)})",
        frames_per_clip=t,
        frame_size="n/a",
        precision="as given (stored float32)",
        echoes_version=echoes.__version__,
    )
    families = [data.families[c] for c in data.classes] if data.families else None
    save_features(
        features_out,
        FeatureSet(data.features, data.labels, data.groups, data.ids, data.classes, attrs, families=families),
    )
    return {"clips": n, "steps": t, "dimensions": dim, "classes": len(data.classes)}
