"""Split lists in UCF101's official formats and the manifest built from them."""

import pytest

from echoes.data.ucf101 import (
    SplitFileError,
    build_manifest,
    check_videos_exist,
    parse_group,
    read_class_index,
    read_manifest,
    read_split_list,
    write_manifest,
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
    write_manifest(tmp_path / "m.tsv", classes, clips, missing=2)
    manifest = read_manifest(tmp_path / "m.tsv")
    assert manifest.classes == classes and manifest.clips == clips and manifest.missing == 2
    assert manifest.ids(1, "test") == ["v_ApplyEyeMakeup_g01_c01", "v_Hammering_g01_c03"]


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
