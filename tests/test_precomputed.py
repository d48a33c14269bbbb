"""Features a researcher already has: imported as Echoes' own files, every malformed variant refused by name."""

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
import yaml

from echoes.contracts.features import read_features
from echoes.contracts.manifest import read_manifest
from echoes.data.precomputed import PrecomputedError, check_precomputed, import_precomputed
from echoes.planning.config import ConfigError, validate_config
from echoes.training.data import load_split
from tests.test_workflow import TINY_CONFIG, snakemake

SCHEMA = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "config.schema.yaml"
N, T, D = 60, 5, 7


def arrays(**changes) -> dict[str, np.ndarray]:
    """Three classes named by strings, 12 groups of 5 sequences, the first 9 groups for training."""
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, N)
    base = {
        "features": (rng.standard_normal((N, T, D)) + labels[:, None, None]).astype(np.float32),
        "labels": np.array(["walk", "run", "jump"])[labels],
        "groups": np.repeat([f"video{g}" for g in range(12)], 5),
        "split": np.where(np.arange(N) < 45, "train", "test"),
    }
    return {k: v for k, v in {**base, **changes}.items() if v is not None}


def npz(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "mine.npz"
    np.savez(path, **arrays(**changes))
    return path


def test_a_features_file_becomes_features_h5_and_a_manifest_that_training_reads(tmp_path):
    summary = import_precomputed(npz(tmp_path), None, tmp_path / "features.h5", tmp_path / "manifest.tsv")
    assert summary == {"clips": N, "steps": T, "dimensions": D, "classes": 3}
    features, manifest = read_features(tmp_path / "features.h5"), read_manifest(tmp_path / "manifest.tsv")
    assert features.features.shape == (N, T, D) and features.classes == ["jump", "run", "walk"]
    assert features.attrs.dataset == "precomputed" and features.attrs.weights.startswith("file mine.npz")
    assert len(manifest.ids(1, "train")) == 45 and len(manifest.ids(1, "test")) == 15
    assert len(set(features.groups.tolist())) == 12
    data = load_split(tmp_path / "features.h5", tmp_path / "manifest.tsv", 1)
    assert data.train_x.shape == (45, T, D) and data.test_x.shape == (15, T, D)


def test_an_hdf5_file_without_groups_makes_each_sequence_its_own_group(tmp_path):
    path = tmp_path / "mine.h5"
    with h5py.File(path, "w") as h5:
        for name, values in arrays(groups=None, labels=np.arange(N) % 3).items():
            h5.create_dataset(name, data=values.astype("S") if values.dtype.kind == "U" else values)
    data = check_precomputed(path)
    assert data.classes == ["0", "1", "2"] and len(set(data.groups.tolist())) == N


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"features": np.zeros((N, T * D), np.float32)}, r"features must be \[N, T, D\].*resampled to one T"),
        ({"features": np.full((N, T, D), np.nan, np.float32)}, "features hold .* NaN or infinite values"),
        ({"features": np.zeros((N, T, D), np.int64)}, "features must be floats"),
        ({"split": np.array(["train", "val"] * (N // 2))}, "split holds 'val'; every value must be 'train' or 'test'"),
        ({"labels": np.array(["walk"] * (N - 1))}, r"labels must be \[N\] with N = 60 like features"),
        ({"labels": None}, "no array 'labels'"),
        ({"split": None}, "no array 'split'"),
        ({"labels": np.array(["a walk"] * N)}, "class names may not be empty or hold whitespace"),
    ],
    ids=["rank", "nan", "ints", "split-value", "length", "no-labels", "no-split", "spaces"],
)
def test_each_malformed_file_is_refused_naming_the_array(tmp_path, changes, message):
    with pytest.raises(PrecomputedError, match=message):
        check_precomputed(npz(tmp_path, **changes))


def test_ragged_sequences_are_refused_with_what_to_do(tmp_path):
    path = tmp_path / "ragged.npz"
    ragged = np.empty(2, dtype=object)
    ragged[:] = [np.zeros((3, D)), np.zeros((4, D))]
    np.savez(path, features=ragged, labels=np.array(["a", "b"]), split=np.array(["train", "test"]))
    with pytest.raises(PrecomputedError, match="features is an object array .*resampled to one T"):
        check_precomputed(path)


def test_ucf101_format_lists_give_the_splits_and_ids_name_the_rows(tmp_path):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 Run\r\n2 Walk\r\n")
    names = [f"v_{c}_g{g:02d}_c01" for c in ("Run", "Walk") for g in range(1, 7)]
    train = [n for n in names if int(n.split("_g")[1][:2]) > 2]
    (lists / "trainlist01.txt").write_text("".join(f"{n.split('_')[1]}/{n}.avi {1 + (n.split('_')[1] == 'Walk')}\r\n"
                                                   for n in train))  # fmt: skip
    (lists / "testlist01.txt").write_text("".join(f"{n.split('_')[1]}/{n}.avi\r\n" for n in names if n not in train))
    path = tmp_path / "ucf.npz"
    np.savez(path, features=np.ones((12, T, D), np.float32), labels=np.array([n.split("_")[1] for n in names]),
             ids=np.array(names))  # fmt: skip
    data = check_precomputed(path, lists)
    assert data.roles[1].count("train") == 8 and data.roles[1].count("test") == 4
    np.savez(path, features=np.ones((12, T, D), np.float32), labels=np.zeros(12, int), ids=np.array(["x"] * 12))
    with pytest.raises(PrecomputedError, match="ids: 12 rows are in no list"):
        check_precomputed(path, lists)


def test_a_malformed_file_fails_when_the_config_is_read_before_any_job(tmp_path):
    config = {"dataset": "precomputed", "precomputed": {"path": str(npz(tmp_path, split=None))}}
    with pytest.raises(ConfigError, match="precomputed.path: .*no array 'split'"):
        validate_config(config | {"models": {"esn": {"class": "SimpleESN"}}}, SCHEMA)


@pytest.mark.e2e
def test_a_features_file_runs_to_the_comparison(tmp_path):
    workdir = tmp_path / "run"
    workdir.mkdir()
    models = {k: TINY_CONFIG["models"][k] for k in ("MeanOfFrames", "SimpleESN")}
    config = {**TINY_CONFIG, "models": models, "dataset": "precomputed", "precomputed": {"path": str(npz(tmp_path))}}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    output = snakemake(workdir)
    assert "decode_frames" not in output and "extract_features" not in output
    report = (workdir / "results" / "comparison.md").read_text()
    assert "Dataset: `precomputed`" in report and "the user's own, 7-d features over T = 5 steps" in report
    assert all(f"| {name}" in report for name in models)


def test_echoes_predict_classifies_a_features_file_with_a_run_trained_on_the_same_format(tmp_path, capsys):
    from echoes.cli import main
    from echoes.stages.train import run_training_job
    from tests.specs import spec

    import_precomputed(npz(tmp_path), None, tmp_path / "features.h5", tmp_path / "manifest.tsv")
    run = tmp_path / "run"
    esn = spec("SimpleESN", {"reservoir_size": 30}, {"min_val_groups": 2})
    metrics = run_training_job(tmp_path / "features.h5", tmp_path / "manifest.tsv", run, esn)
    new = tmp_path / "new.npz"
    np.savez(new, features=arrays()["features"][45:], ids=np.array([f"clip{i}" for i in range(15)]))
    assert main(["predict", "--features", str(new), "--run", str(run), "--top", "1"]) == 0
    printed = capsys.readouterr().out.splitlines()
    predicted = [line.split()[1] for line in printed if line.startswith("  1.")]
    assert printed[0].startswith("clip0  (ridge score)") and len(predicted) == 15
    truth = arrays()["labels"][45:]
    assert np.mean(np.array(predicted) == truth) == pytest.approx(metrics["accuracy_top1"])  # as evaluated
    np.savez(new, features=np.zeros((2, T + 1, D), np.float32))
    assert main(["predict", "--features", str(new), "--run", str(run)]) == 2
    assert f"features must be [N, {T}, {D}] for this run" in capsys.readouterr().err


def test_a_file_that_is_not_an_archive_is_refused_by_what_it_is_not_never_with_numpys_pickle_advice(tmp_path):
    garbage = tmp_path / "garbage.npz"
    garbage.write_text("this is not an archive")
    config = {
        "dataset": "precomputed",
        "precomputed": {"path": str(garbage)},
        "models": {"m": {"class": "MeanOfFrames"}},
    }
    with pytest.raises(ConfigError, match=r"config key precomputed.path: .*garbage.npz: not an .npz archive") as error:
        validate_config(config, SCHEMA)
    assert "pickle" not in str(error.value)
    (tmp_path / "garbage.h5").write_text("neither is this")
    with pytest.raises(PrecomputedError, match="garbage.h5: not an HDF5 file"):
        check_precomputed(tmp_path / "garbage.h5")


def test_fewer_than_two_classes_are_refused_overall_and_among_the_training_rows(tmp_path):
    with pytest.raises(PrecomputedError, match=r"labels hold 1 class \('walk'\); a classifier needs at least 2"):
        check_precomputed(npz(tmp_path, labels=np.array(["walk"] * N)))
    one_trained = np.where(np.arange(N) < 45, "walk", np.array(["run", "jump", "walk"])[np.arange(N) % 3])
    with pytest.raises(PrecomputedError, match=r"training rows of split 1 hold 1 class \(walk\) of the file's 3"):
        check_precomputed(npz(tmp_path, labels=one_trained))


def test_test_rows_of_a_class_training_never_sees_are_named_and_refused_only_when_asked(tmp_path, capsys):
    labels = np.where(np.arange(N) < 45, np.array(["run", "walk"])[np.arange(N) % 2], "jump")
    config = {"dataset": "precomputed", "precomputed": {"path": str(npz(tmp_path, labels=labels))},
              "models": {"m": {"class": "MeanOfFrames"}}}  # fmt: skip
    validate_config(dict(config), SCHEMA)
    assert "split 1: 15 test clip(s) of 1 class(es) that no training clip has can never be classified right: " \
           "jump (15)" in capsys.readouterr().err  # fmt: skip
    with pytest.raises(ConfigError, match=r"config key on_unseen_test_class: .*jump \(15\).*is 'fail'"):
        validate_config(config | {"on_unseen_test_class": "fail"}, SCHEMA)


def test_huge_but_finite_features_train_as_their_standardised_selves(tmp_path):
    """Values near 1e30 are valid float32; their squares are not: the statistics are summed in float64."""
    from echoes.training.job import train_on_split
    from tests.specs import spec

    results = []
    for scale in (1.0, 1e30):
        path = tmp_path / f"scale{scale:g}.npz"
        np.savez(path, **arrays(features=arrays()["features"] * np.float32(scale)))
        import_precomputed(path, None, tmp_path / "features.h5", tmp_path / "manifest.tsv")
        data = load_split(tmp_path / "features.h5", tmp_path / "manifest.tsv", 1)
        assert np.abs(data.train_x.numpy()).max() > 1e29 or scale == 1.0
        metrics, _, normaliser = train_on_split(data, spec("MeanOfFrames", search={}))
        assert torch.isfinite(normaliser.std).all() and torch.isfinite(normaliser(data.test_x)).all()
        results.append(metrics["accuracy_top1"])
    assert results[0] == results[1]


def test_task_families_of_a_features_file_are_scored_apart(tmp_path):
    """Own features can carry task families too: the report then scores each family apart."""
    from echoes.training.job import train_on_split
    from tests.specs import spec

    labels = arrays()["labels"]
    families = np.where(labels == "jump", "leaping", "striding")
    import_precomputed(npz(tmp_path, task_families=families), None, tmp_path / "features.h5", tmp_path / "manifest.tsv")
    data = load_split(tmp_path / "features.h5", tmp_path / "manifest.tsv", 1)
    assert data.families == ["leaping", "striding", "striding"]  # classes jump, run, walk
    metrics, _, _ = train_on_split(data, spec("MeanOfFrames", search={}))
    assert set(metrics["accuracy_by_family"]) == {"leaping", "striding"}
    test_families = [data.families[label] for label in data.test_y.tolist()]
    assert metrics["test_clips_by_family"] == {f: test_families.count(f) for f in ("leaping", "striding")}
    confusion = np.array(metrics["confusion"])  # rows: true class jump, run, walk
    leaping, striding = confusion[0, 1:].sum() / confusion[0].sum(), confusion[1:, 0].sum() / confusion[1:].sum()
    elsewhere = {"leaping": leaping, "striding": striding}
    assert metrics["read_as_other_family"] == pytest.approx(elsewhere)
    families[0] = "leaping" if labels[0] != "jump" else "striding"
    with pytest.raises(PrecomputedError, match=r"task_families: class '\w+' has '\w+' and '\w+'"):
        check_precomputed(npz(tmp_path, task_families=families))
