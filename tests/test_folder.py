"""Any folder of labelled videos as a dataset: scanning, and the split Echoes writes when none is given."""

import json

import pytest

from echoes.data.folder import DatasetFolderError, generate_splits, scan_folder
from echoes.data.ucf101 import build_manifest, read_class_index


def make_tree(root, layout):
    for relpath in layout:
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"video")
    return root


@pytest.fixture
def grouped(tmp_path):
    """Two classes, four groups each, two clips per group, UCF101-style names, plus clutter."""
    classes, groups, clips = ("jumpRope", "JumpingJack"), range(1, 5), (1, 2)
    layout = [f"{c}/v_{c}_g{g:02d}_c{k:02d}.avi" for c in classes for g in groups for k in clips]
    root = make_tree(tmp_path / "clips", layout + ["JumpingJack/readme.txt", "stray.mp4"])
    return root


def test_classes_follow_case_insensitive_folder_order_and_clutter_is_listed(grouped):
    scan = scan_folder(grouped)
    assert scan.classes == ["JumpingJack", "jumpRope"]
    assert len(scan.clips) == 16
    assert scan.ignored == ["JumpingJack/readme.txt", "stray.mp4"]


def test_generated_splits_keep_groups_apart_and_every_class_on_both_sides(grouped, tmp_path):
    out = tmp_path / "splits"
    generate_splits(grouped, out, test_fraction=0.25, seed=3)
    assert read_class_index(out / "classInd.txt") == ["JumpingJack", "jumpRope"]
    assert (out / "trainlist01.txt").read_bytes().endswith(b"\r\n")
    classes, clips = build_manifest(out)
    for split in (1, 2, 3):
        for label in range(2):
            sides = {c.splits[split]: set() for c in clips}
            for c in clips:
                if c.label == label:
                    sides[c.splits[split]].add(c.group)
            assert len(sides["test"]) == 1 and len(sides["train"]) == 3
            assert not sides["test"] & sides["train"]
    info = json.loads((out / "split_info.json").read_text())
    assert info["grouping"].startswith("gNN") and info["ignored"] == ["JumpingJack/readme.txt", "stray.mp4"]


def test_the_same_seed_writes_the_same_lists_and_another_seed_differs(grouped, tmp_path):
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        generate_splits(grouped, tmp_path / name, seed=seed)
    lists = {n: (tmp_path / n / "testlist01.txt").read_bytes() for n in "abc"}
    assert lists["a"] == lists["b"] != lists["c"]


def test_without_groups_the_split_is_stratified_per_clip(tmp_path):
    root = make_tree(tmp_path / "mine", [f"{c}/take{k}.mp4" for c in ("wave", "clap") for k in range(10)])
    generate_splits(root, tmp_path / "splits", test_fraction=0.3)
    test = (tmp_path / "splits" / "testlist01.txt").read_text().split()
    assert sum(p.startswith("wave/") for p in test) == 3 and sum(p.startswith("clap/") for p in test) == 3
    _, clips = build_manifest(tmp_path / "splits", groups="auto", ids="path")
    assert len({c.group for c in clips}) == 20


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (["wave/a.mp4", "wave/b.mp4", "clap/notes.txt"], "clap holds no videos"),
        (["wave/a.mp4", "wave/b.mp4"], "at least two class folders"),
        (["wave/a.mp4", "clap/b.mp4", "clap/c.mp4"], "1 class folder\\(s\\) .* two groups: wave. A group is"),
        (
            ["wave/a.mp4", "clap/b.mp4", "jump/c.mp4", "run/d.mp4", "run/e.mp4"],
            "3 class folder\\(s\\) .*: clap, jump, wave\\. A group is the set of clips cut from one long video",
        ),
    ],
)
def test_folders_that_cannot_be_split_are_refused_naming_the_folder(tmp_path, layout, message):
    root = make_tree(tmp_path / "mine", layout)
    with pytest.raises(DatasetFolderError, match=message):
        generate_splits(root, tmp_path / "splits")
    assert not (tmp_path / "splits").exists()


def test_a_missing_root_is_named(tmp_path):
    with pytest.raises(DatasetFolderError, match="nowhere"):
        scan_folder(tmp_path / "nowhere")


def test_symlinked_class_folders_and_clips_are_followed_and_broken_links_ignored(tmp_path):
    storage = make_tree(tmp_path / "store", ["a1.mp4", "a2.mp4", "b1.mp4", "b2.mp4"])
    root = tmp_path / "root"
    (root / "a").mkdir(parents=True)
    for name in ("a1.mp4", "a2.mp4"):
        (root / "a" / name).symlink_to(storage / name)
    (root / "a" / "gone.mp4").symlink_to(storage / "gone.mp4")
    (root / "b").symlink_to(storage)
    scan = scan_folder(root)
    assert scan.clips[:2] == ["a/a1.mp4", "a/a2.mp4"] and "a/gone.mp4" in scan.ignored
    assert "b/b1.mp4" in scan.clips
