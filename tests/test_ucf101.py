"""Split lists in UCF101's official formats and the manifest built from them."""

import pytest

from echoes.contracts.manifest import read_manifest, write_manifest
from echoes.data.ucf101 import (
    SplitFileError,
    available_splits,
    build_manifest,
    check_videos_exist,
    parse_group,
    prepare_manifest,
    read_class_index,
    read_split_list,
)

CLASSES = ["ApplyEyeMakeup", "HandstandPushups", "Hammering", "HammerThrow"]


@pytest.fixture
def splits_dir(tmp_path):
    """Official-format lists (CRLF, 1-based) with UCF101's casing trap and case-insensitive order."""
    folder = tmp_path / "ucfTrainTestlist"
    folder.mkdir()
    (folder / "classInd.txt").write_bytes(b"".join(f"{i} {c}\r\n".encode() for i, c in enumerate(CLASSES, 1)))
    (folder / "trainlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\n"
        b"HandstandPushups/v_HandStandPushups_g08_c01.avi 2\r\n"
        b"HammerThrow/v_HammerThrow_g09_c02.avi 4\r\n"
    )
    (folder / "testlist01.txt").write_bytes(
        b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi\r\nHammering/v_Hammering_g01_c03.avi\r\n"
    )
    return folder


def test_labels_come_from_classind_not_from_sorted_folder_names(splits_dir):
    classes, clips = build_manifest(splits_dir, splits=[1])
    assert classes == CLASSES  # sorted() would put HammerThrow before Hammering
    by_id = {c.video_id: c for c in clips}
    assert by_id["v_Hammering_g01_c03"].label == 2
    assert by_id["v_HammerThrow_g09_c02"].label == 3


def test_handstand_pushups_files_keep_their_own_casing(splits_dir):
    _, clips = build_manifest(splits_dir, splits=[1])
    clip = next(c for c in clips if c.class_name == "HandstandPushups")
    assert clip.path == "HandstandPushups/v_HandStandPushups_g08_c01.avi"
    assert clip.label == 1 and clip.group == 8


def test_manifest_records_role_per_split_and_group(splits_dir):
    _, clips = build_manifest(splits_dir, splits=[1])
    roles = {c.video_id: (c.splits[1], c.group) for c in clips}
    assert roles["v_ApplyEyeMakeup_g08_c01"] == ("train", 8)
    assert roles["v_ApplyEyeMakeup_g01_c01"] == ("test", 1)


def test_manifest_round_trips(splits_dir, tmp_path):
    classes, clips = build_manifest(splits_dir, splits=[1])
    write_manifest(tmp_path / "m.tsv", classes, clips, missing=2, unlisted=3)
    manifest = read_manifest(tmp_path / "m.tsv")
    assert manifest.classes == classes and manifest.clips == clips
    assert (manifest.missing, manifest.unlisted) == (2, 3)
    assert manifest.ids(1, "test") == ["v_ApplyEyeMakeup_g01_c01", "v_Hammering_g01_c03"]


def test_manifest_from_an_older_version_is_an_error_naming_it(splits_dir, tmp_path):
    classes, clips = build_manifest(splits_dir, splits=[1])
    path = tmp_path / "m.tsv"
    write_manifest(path, classes, clips)
    path.write_text("".join(line for line in path.read_text().splitlines(True) if not line.startswith("# unlisted")))
    with pytest.raises(ValueError, match=r"m\.tsv: manifest header lacks # unlisted.*rerun snakemake"):
        read_manifest(path)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("Juggling/v_Juggling_g01_c01.avi 1", "not in classInd.txt"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 3", "disagrees"),
        ("ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1 extra", "expected"),
        ("../etc/v_passwd_g01_c01.avi 1", "inside the dataset root"),
        ("/abs/v_x_g01_c01.avi 1", "inside the dataset root"),
    ],
)
def test_a_bad_line_is_reported_with_file_and_line_number(tmp_path, line, message):
    path = tmp_path / "trainlist01.txt"
    path.write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi 1\r\n" + line.encode() + b"\r\n")
    with pytest.raises(SplitFileError, match=message) as error:
        read_split_list(path, CLASSES)
    assert f"{path}:2" in str(error.value)


def test_class_index_with_gaps_is_refused(tmp_path):
    path = tmp_path / "classInd.txt"
    path.write_text("1 A\n3 B\n")
    with pytest.raises(SplitFileError, match="without gaps"):
        read_class_index(path)


def test_group_is_parsed_from_the_clip_name():
    assert parse_group("v_YoYo_g25_c04") == 25
    with pytest.raises(SplitFileError):
        parse_group("clip_without_group")


def test_missing_videos_fail_listing_count_and_paths_unless_allowed(splits_dir, tmp_path):
    _, clips = build_manifest(splits_dir, splits=[1])
    videos = tmp_path / "videos"
    present = videos / clips[0].path
    present.parent.mkdir(parents=True)
    present.write_bytes(b"x")
    with pytest.raises(FileNotFoundError, match=r"4 of 5 videos .* missing") as error:
        check_videos_exist(videos, clips)
    assert clips[1].path in str(error.value)
    assert check_videos_exist(videos, clips, allow_missing=True) == clips[:1]


def test_only_splits_with_both_lists_are_read(splits_dir):
    (splits_dir / "trainlist02.txt").write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi 1\r\n")
    assert available_splits(splits_dir) == [1]  # testlist02.txt is absent
    _, clips = build_manifest(splits_dir)
    assert all(set(c.splits) == {1} for c in clips)


def test_a_splits_folder_without_lists_is_refused(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 A\n2 B\n")
    with pytest.raises(FileNotFoundError, match="no trainlist0N.txt"):
        build_manifest(tmp_path)


def test_clip_ids_by_path_keep_same_named_clips_of_two_classes_apart(tmp_path):
    (tmp_path / "classInd.txt").write_text("1 Run\n2 Walk\n")
    (tmp_path / "trainlist01.txt").write_text("Run/clip1.mp4\nWalk/clip1.mp4\n")
    (tmp_path / "testlist01.txt").write_text("Run/clip2.mp4\nWalk/clip2.mp4\n")
    with pytest.raises(SplitFileError, match="share the clip id 'clip1'"):
        build_manifest(tmp_path, groups="auto")
    _, clips = build_manifest(tmp_path, groups="auto", ids="path")
    assert [c.video_id for c in clips] == ["Run/clip1", "Walk/clip1", "Run/clip2", "Walk/clip2"]
    assert [c.group for c in clips] == [0, 1, 2, 3]  # no gNN: one group per clip


def make_videos(root, clips):
    for clip in clips:
        path = root / clip.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"video")


def test_manifest_counts_unlisted_files_and_follows_symlinks(splits_dir, tmp_path):
    _, clips = build_manifest(splits_dir)
    storage, videos = tmp_path / "storage", tmp_path / "videos"
    make_videos(storage, clips)
    videos.mkdir()
    for folder in storage.iterdir():  # a symlink farm, as on many clusters
        (videos / folder.name).symlink_to(folder)
    (storage / "Hammering" / "v_Hammering_g02_c01.avi").write_bytes(b"not in any list")
    (storage / "Hammering" / "notes.txt").write_text("hello")
    manifest = prepare_manifest(videos, splits_dir, tmp_path / "manifest.tsv")
    assert len(manifest.clips) == 5 and manifest.unlisted == 2 and manifest.missing == 0
    assert read_manifest(tmp_path / "manifest.tsv").unlisted == 2


def test_a_broken_symlink_counts_as_a_missing_video(splits_dir, tmp_path):
    _, clips = build_manifest(splits_dir)
    videos = tmp_path / "videos"
    make_videos(videos, clips[1:])
    (videos / clips[0].path).parent.mkdir(parents=True, exist_ok=True)
    (videos / clips[0].path).symlink_to(tmp_path / "gone.avi")
    with pytest.raises(FileNotFoundError, match=r"1 of 5 videos .*on_missing_video: skip"):
        prepare_manifest(videos, splits_dir, tmp_path / "manifest.tsv")
    assert not (tmp_path / "manifest.tsv").exists()
    manifest = prepare_manifest(videos, splits_dir, tmp_path / "manifest.tsv", on_missing_video="skip")
    assert manifest.missing == 1 and clips[0].video_id not in [c.video_id for c in manifest.clips]


def test_preflight_names_every_split_without_training_or_test_clips_one_trained_class_or_untrained_classes():
    from echoes.contracts.manifest import Clip, Manifest
    from echoes.data.preflight import SplitError, UnseenClassError, check_splits

    clips = [
        Clip("a1", "A/a1.avi", 0, "A", 1, {1: "train", 2: "test"}),
        Clip("c1", "C/c1.avi", 2, "C", 1, {1: "train", 2: "test"}),
        Clip("b1", "B/b1.avi", 1, "B", 2, {1: "test", 2: "test"}),
        Clip("a2", "A/a2.avi", 0, "A", 3, {1: "test", 2: "test", 3: "train"}),
    ]
    manifest = Manifest(["A", "B", "C"], clips)
    unseen = "split 1: 1 test clip(s) of 1 class(es) that no training clip has can never be classified right: B (1)"
    assert check_splits(manifest, [1]) == [unseen]
    with pytest.raises(UnseenClassError, match=r"B \(1\)\. on_unseen_test_class is 'fail'"):
        check_splits(manifest, [1], on_unseen="fail")
    with pytest.raises(
        SplitError, match="split 2 has 0 training and 4 test clips.*; split 3 has 1 training and 0 test"
    ):
        check_splits(manifest, [1, 2, 3])
    with pytest.raises(SplitError, match=r"the training clips of split 3 hold 1 class \(A\)"):
        check_splits(manifest, [3])
    with pytest.raises(SplitError, match="split 1 has 0 training and 2 test clips that decoded"):
        check_splits(manifest, [1], usable={"b1", "a2"})


def test_a_split_list_with_a_byte_that_is_not_utf8_names_file_and_line(tmp_path):
    path = tmp_path / "trainlist01.txt"
    path.write_bytes(b"A/v_A_g01_c01.avi 1\r\nA/v_A_g02_c01_caf\xe9.avi 1\r\n")
    with pytest.raises(SplitFileError, match="trainlist01.txt:2: byte 0xe9 at offset 38 is not UTF-8"):
        read_split_list(path, ["A"])
