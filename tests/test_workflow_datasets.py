"""End to end on other datasets: pre-staged UCF101 folders, a download served on 127.0.0.1, any folder."""

import functools
import os
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import h5py
import pytest
import torch
import yaml
from torchvision.models import resnet18

from echoes.contracts.manifest import read_manifest
from echoes.data.synthetic import SyntheticSpec, generate
from tests.test_workflow import ROOT, TINY_CONFIG, pending_jobs, snakemake

MINI = SyntheticSpec(num_classes=4, clips_per_class=9, groups=4, frames=8, width=64, height=48, seed=2)


@pytest.fixture(scope="module")
def mini_ucf101(tmp_path_factory) -> Path:
    """``UCF-101/<Class>/<clip>.avi`` and ``ucfTrainTestlist/`` as UCF101 ships them, plus clutter."""
    root = tmp_path_factory.mktemp("ucf101")
    generate(root / "generated", MINI)
    os.replace(root / "generated" / "videos", root / "UCF-101")
    os.replace(root / "generated" / "splits", root / "ucfTrainTestlist")
    first_class = sorted((root / "UCF-101").iterdir())[0]
    (first_class / "Thumbs.db").write_bytes(b"clutter no split names")
    return root


def config_for(workdir: Path, **changes) -> Path:
    config = {**TINY_CONFIG, "models": {k: TINY_CONFIG["models"][k] for k in ("MeanOfFrames", "SimpleESN")}}
    config.update(changes)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    return workdir


@pytest.mark.e2e
def test_prestaged_ucf101_runs_the_whole_dag_in_place_with_a_missing_video_counted(mini_ucf101, tmp_path):
    """Real videos default to 224 px frames (ResNet18's training size); here with a local state_dict."""
    videos = tmp_path / "UCF-101"
    shutil.copytree(mini_ucf101 / "UCF-101", videos)
    removed = sorted(videos.glob("*/*.avi"))[0]
    removed.unlink()
    settings = {"videos_dir": str(videos), "splits_dir": str(mini_ucf101 / "ucfTrainTestlist")}
    workdir = tmp_path / "run"
    workdir.mkdir()
    weights = tmp_path / "resnet18-local.pth"
    torch.save(resnet18(weights=None).state_dict(), weights)
    frames = {k: v for k, v in TINY_CONFIG["frames"].items() if k != "size"}  # size: auto
    features = {**TINY_CONFIG["features"], "weights": str(weights)}
    config_for(workdir, dataset="ucf101", ucf101=settings, on_missing_video="skip", frames=frames, features=features)

    dry = snakemake(workdir, "-n")
    assert "download_ucf101" not in pending_jobs(dry) and "extract_ucf101" not in pending_jobs(dry)
    snakemake(workdir)

    assert not (workdir / "data" / "ucf101" / "raw").exists()  # nothing downloaded or copied
    manifest = read_manifest(workdir / "data" / "ucf101" / "manifest.tsv")
    assert (manifest.missing, manifest.unlisted) == (1, 1)
    with h5py.File(workdir / "data" / "ucf101" / "features.h5") as h5:
        assert h5.attrs["dataset"] == "ucf101" and removed.stem not in [v.decode() for v in h5["video_ids"][:]]
        assert h5.attrs["frame_size"] == 224 and h5.attrs["weights"].startswith("file resnet18-local.pth")
    report = (workdir / "results" / "comparison.md").read_text()
    assert "Dataset: `ucf101`" in report and "videos missing from disk: 1" in report
    assert "no split list names (ignored): 1" in report
    assert "(../data/ucf101/manifest.tsv)" in report and "(../data/ucf101/features.h5)" in report


@pytest.mark.e2e
def test_real_videos_default_to_imagenet_weights_and_offline_a_run_fails_in_seconds_naming_the_file(
    mini_ucf101, tmp_path
):
    settings = {"videos_dir": str(mini_ucf101 / "UCF-101"), "splits_dir": str(mini_ucf101 / "ucfTrainTestlist")}
    config = yaml.safe_load((ROOT / "config.yaml").read_text()) | {"dataset": "ucf101", "ucf101": settings}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))  # the repository's config, nothing else set
    offline = {"TORCH_HOME": str(tmp_path / "torch"), "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": ""}
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": "", **offline, "https_proxy": ""}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2"]
    started = time.monotonic()
    result = subprocess.run(
        [*command, "--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode != 0 and "features.weights: IMAGENET1K_V1 could not be downloaded" in output
    assert str(tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth") in output
    assert time.monotonic() - started < 60 and not (tmp_path / "data").exists()  # before any job


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def archive_server(mini_ucf101, tmp_path):
    """The mini UCF101 as two zip archives (bsdtar and unar read zip as they read RAR) on 127.0.0.1."""
    served = tmp_path / "served"
    served.mkdir()
    for name, folder in (("UCF101.zip", "UCF-101"), ("splits.zip", "ucfTrainTestlist")):
        with zipfile.ZipFile(served / name, "w") as archive:
            for path in sorted((mini_ucf101 / folder).rglob("*")):
                archive.write(path, path.relative_to(mini_ucf101))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.e2e
def test_ucf101_is_downloaded_verified_and_extracted_into_the_manifest(archive_server, mini_ucf101, tmp_path):
    settings = {
        "videos_urls": [f"{archive_server}/UCF101.zip"],
        "splits_urls": [f"{archive_server}/gone/splits.zip", f"{archive_server}/splits.zip"],
        "retries": 0,
    }
    workdir = tmp_path / "run"
    workdir.mkdir()
    config_for(workdir, dataset="ucf101", ucf101=settings)
    snakemake(workdir, "data/ucf101/manifest.tsv")

    data = workdir / "data" / "ucf101"
    assert sorted(p.name for p in (data / "downloads").iterdir()) == [
        "UCF101.zip",
        "UCF101.zip.sha256",
        "splits.zip",
        "splits.zip.sha256",
    ]
    assert sorted(p.name for p in (data / "raw").iterdir()) == ["splits", "videos"]
    assert (data / "raw" / "splits" / "classInd.txt").is_file()
    assert len(read_manifest(data / "manifest.tsv").clips) == MINI.num_classes * MINI.clips_per_class
    assert "Nothing to be done" in snakemake(workdir, "-n", "data/ucf101/manifest.tsv")


@pytest.mark.e2e
def test_any_folder_gets_a_generated_split_and_a_manifest(mini_ucf101, tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    config_for(workdir, dataset="folder", folder={"videos_dir": str(mini_ucf101 / "UCF-101"), "seed": 5})
    snakemake(workdir, "data/folder/manifest.tsv")
    splits = workdir / "data" / "folder" / "splits"
    assert sorted(p.name for p in splits.iterdir() if not p.name.startswith(".")) == [
        "classInd.txt",
        "split_info.json",
        "testlist01.txt",
        "testlist02.txt",
        "testlist03.txt",
        "trainlist01.txt",
        "trainlist02.txt",
        "trainlist03.txt",
    ]
    manifest = read_manifest(workdir / "data" / "folder" / "manifest.tsv")
    assert len(manifest.clips) == MINI.num_classes * MINI.clips_per_class and manifest.unlisted == 1
    assert manifest.clips[0].video_id.count("/") == 1  # <Class>/<stem>: unique across classes


@pytest.mark.e2e
def test_a_split_without_training_videos_fails_at_the_manifest_before_any_heavy_job(mini_ucf101, tmp_path):
    videos = tmp_path / "UCF-101"
    shutil.copytree(mini_ucf101 / "UCF-101", videos)
    splits = tmp_path / "ucfTrainTestlist"
    shutil.copytree(mini_ucf101 / "ucfTrainTestlist", splits)
    for listed in (splits / "trainlist01.txt").read_text().split():
        if listed.endswith(".avi"):
            (videos / listed).unlink()  # every training video of split 1 is missing from disk
    workdir = tmp_path / "run"
    workdir.mkdir()
    settings = {"videos_dir": str(videos), "splits_dir": str(splits)}
    config_for(workdir, dataset="ucf101", ucf101=settings, on_missing_video="skip")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MLFLOW_TRACKING_URI": ""}
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(workdir)]
    result = subprocess.run([*command, "--cores", "2"], capture_output=True, text=True, env=env, timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "SplitError: split 1 has 0 training and" in output  # on the console, not only in a job's log
    assert not (workdir / "data" / "ucf101" / "frames").exists()  # no decode job ran
    # once the manifest exists, the same check fails at parse time, before any job
    (workdir / "data" / "ucf101").mkdir(parents=True, exist_ok=True)
    from echoes.data.ucf101 import prepare_manifest

    prepare_manifest(videos, splits, workdir / "data" / "ucf101" / "manifest.tsv", on_missing_video="skip")
    parsed = subprocess.run([*command, "-n"], capture_output=True, text=True, env=env, timeout=600)
    assert parsed.returncode != 0 and "split 1 has 0 training and" in parsed.stdout + parsed.stderr
