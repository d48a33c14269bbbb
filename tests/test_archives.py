"""Extraction with the real tools (bsdtar, unar): both read zip and tar, which the tests can make."""

import shutil
import tarfile
import zipfile

import pytest

from echoes.data.archives import ArchiveError, MissingToolError, extract, require_extractor

TOOLS = ["bsdtar", "unar"]


@pytest.fixture(autouse=True)
def tools_installed():
    """The README's test command installs them (envs/system-packages.sh); a missing one is a failure."""
    missing = [t for t in TOOLS if not shutil.which(t)]
    assert not missing, f"{missing} not installed: run `sh envs/system-packages.sh`"


@pytest.fixture
def ucf_like_zip(tmp_path):
    path = tmp_path / "UCF101.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi", b"video bytes")
        archive.writestr("UCF-101/HandstandPushups/v_HandStandPushups_g01_c01.avi", b"more")
    return path


@pytest.mark.parametrize("tool", TOOLS)
def test_each_tool_unpacks_the_content_folder_into_place(ucf_like_zip, tmp_path, tool):
    dest = tmp_path / "raw" / "videos"
    assert extract(ucf_like_zip, dest, inner="UCF-101", tools=[tool]) == tool
    assert (dest / "HandstandPushups" / "v_HandStandPushups_g01_c01.avi").read_bytes() == b"more"
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == ["videos"]  # no scratch left


def test_a_tarball_without_a_top_folder_is_kept_whole(tmp_path):
    source = tmp_path / "src"
    (source / "Archery").mkdir(parents=True)
    (source / "Archery" / "v_Archery_g01_c01.avi").write_bytes(b"x")
    (source / "classInd.txt").write_text("1 Archery\n")
    with tarfile.open(tmp_path / "splits.tar.gz", "w:gz") as archive:
        for item in source.iterdir():
            archive.add(item, arcname=item.name)
    extract(tmp_path / "splits.tar.gz", tmp_path / "out")
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["Archery", "classInd.txt"]


def test_a_file_that_is_not_an_archive_fails_with_every_tools_reason(tmp_path):
    bogus = tmp_path / "UCF101.rar"
    bogus.write_text("<html>503 Service Unavailable</html>\n")
    with pytest.raises(ArchiveError) as error:
        extract(bogus, tmp_path / "videos")
    assert "bsdtar:" in str(error.value) and "unar:" in str(error.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["UCF101.rar"]


def test_without_any_tool_the_error_names_the_packages_to_install(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(MissingToolError, match="libarchive-tools unar"):
        require_extractor()
