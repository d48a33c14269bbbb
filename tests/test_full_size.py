"""A full-size UCF101 rehearsal, in seconds: everything that scales with the clip count, at 13,320 clips.

The layout is UCF101's own, built from the official split lists (``tests/data/ucfTrainTestlist``,
CRLF and the HandstandPushups quirk included) with every clip a symlink to one tiny real video.
Features are small (T = 4, D = 16) so that the file's geometry, the splits and the report can be
checked at full size without computing 2.4 M frames of CNN features.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from echoes.contracts.features import FeatureSet, read_features, save_features
from echoes.contracts.manifest import read_manifest
from echoes.contracts.records import FeatureAttrs
from echoes.data.preflight import check_splits
from echoes.data.ucf101 import prepare_manifest
from echoes.training.data import load_split
from echoes.training.job import train_on_split
from echoes.training.spec import RunSpec
from echoes.video import shard_slice
from tests.test_workflow import ROOT, pending_jobs

LISTS = ROOT / "tests" / "data" / "ucfTrainTestlist"
OFFICIAL = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}

pytestmark = pytest.mark.slow  # 13,320 symlinks, a snakemake dry run, a fit on 9,537 clips: tens of seconds


@pytest.fixture(scope="module")
def ucf101_layout(tiny_dataset, tmp_path_factory) -> Path:
    """``UCF-101/<Class>/<clip>.avi`` for all 13,320 clips the lists name (symlinks), and the lists."""
    root = tmp_path_factory.mktemp("ucf101-full")
    clip = next((tiny_dataset / "videos").rglob("*.avi"))
    names = set()
    for list_file in sorted(LISTS.glob("*list0*.txt")):
        names |= {line.split()[0] for line in list_file.read_text().splitlines() if line.strip()}
    for name in names:
        path = root / "UCF-101" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            path.symlink_to(clip)
    shutil.copytree(LISTS, root / "ucfTrainTestlist")
    return root


@pytest.fixture(scope="module")
def manifest_path(ucf101_layout) -> Path:
    out = ucf101_layout / "data" / "ucf101" / "manifest.tsv"
    out.parent.mkdir(parents=True)
    prepare_manifest(ucf101_layout / "UCF-101", ucf101_layout / "ucfTrainTestlist", out)
    return out


def test_the_manifest_holds_every_clip_once_with_the_official_roles_and_groups(manifest_path):
    manifest = read_manifest(manifest_path)
    assert len(manifest.clips) == 13320 and len(manifest.classes) == 101
    assert manifest.classes.index("HandstandPushups") == 36 and (manifest.missing, manifest.unlisted) == (0, 0)
    for split, counts in OFFICIAL.items():
        assert (len(manifest.ids(split, "train")), len(manifest.ids(split, "test"))) == counts
    assert {c.group for c in manifest.clips} == set(range(1, 26))
    assert {c.group for c in manifest.clips if c.splits[1] == "test"} == set(range(1, 8))  # split 1 tests g01-g07
    assert check_splits(manifest, [1, 2, 3]) == []


def test_decoding_shards_cover_every_clip_once_in_near_equal_parts():
    for shards in (4, 8, 16):
        sizes = [len(range(13320)[shard_slice(13320, s, shards)]) for s in range(shards)]
        assert sum(sizes) == 13320 and max(sizes) - min(sizes) <= 1


def test_the_dag_of_all_three_splits_plans_every_job_with_the_manifest_on_disk(ucf101_layout, manifest_path, tmp_path):
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    folders = {"videos_dir": str(ucf101_layout / "UCF-101"), "splits_dir": str(ucf101_layout / "ucfTrainTestlist")}
    config.update(
        dataset="ucf101", ucf101=folders, splits=[1, 2, 3], features={"weights": "random"}, frames={"shards": 4}
    )
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    (tmp_path / "data" / "ucf101").mkdir(parents=True)
    shutil.copy(manifest_path, tmp_path / "data" / "ucf101" / "manifest.tsv")  # read by the preflight
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "snakemake", "-n", "--snakefile", str(ROOT / "Snakefile"), "--cores", "2"]
    command += ["--directory", str(tmp_path), "--configfile", str(tmp_path / "config.yaml")]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = pending_jobs(result.stdout + result.stderr)
    assert jobs["decode_frames"] == config["frames"]["shards"] and jobs["extract_features"] == 1
    assert jobs["train_model"] == len(config["models"]) * 3 * len(config["seeds"])


def test_features_training_and_the_report_at_full_size(manifest_path, tmp_path):
    from echoes.contracts.metrics import write_metrics
    from echoes.report.comparison import render_report

    manifest = read_manifest(manifest_path)
    rng = np.random.default_rng(0)
    labels = np.array([c.label for c in manifest.clips])
    centres = rng.standard_normal((101, 16)).astype(np.float32)
    features = centres[labels][:, None, :] + rng.standard_normal((13320, 4, 16)).astype(np.float32)
    ids, groups = [c.video_id for c in manifest.clips], np.array([c.group for c in manifest.clips])
    attrs = FeatureAttrs(dataset="ucf101", frames_per_clip=4, frame_size=224, weights="random (seed 0)")
    save_features(tmp_path / "features.h5", FeatureSet(features, labels, groups, ids, manifest.classes, attrs))
    assert read_features(tmp_path / "features.h5").features.shape == (13320, 4, 16)
    data = load_split(tmp_path / "features.h5", manifest_path, 1)
    assert (len(data.train_x), len(data.test_x)) == OFFICIAL[1]
    spec = RunSpec.from_config("MeanOfFrames", {"class": "MeanOfFrames"}, {}, threads=2)
    metrics, _, _ = train_on_split(data, spec)
    assert metrics["train_clips"] + metrics["val_clips"] == 9537 and len(metrics["confusion"]) == 101
    assert set(metrics["accuracy_by_group"]) == {f"g{g:02d}" for g in range(1, 8)}
    run = write_metrics(tmp_path / "metrics.json", metrics)
    text = render_report({"MeanOfFrames": [tmp_path / "metrics.json"]}, tmp_path / "comparison.md", tmp_path / "fig")
    assert "Clips of split 1: 9537 training, 3783 test" in text and run["accuracy_top1"] > 0.5
    confused = [line for line in text.split("## Most confused classes")[1].splitlines() if line.startswith("- ")]
    assert len(confused) == 1 and confused[0].count("→") == 3 and len(text.splitlines()) < 80  # short at 101
