"""A bad config.yaml is refused before any job runs, naming the key at fault."""

import copy
import urllib.error
from pathlib import Path

import pytest
import torch
import yaml
from torchvision.models import resnet18

from echoes.planning.config import ConfigError, plans_only, validate_config
from echoes.training.space import TuningBudget
from echoes.training.spec import RunSpec

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"


@pytest.fixture
def config():
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def test_the_default_config_is_valid_and_defaults_are_filled(config):
    assert "frames" not in config and "training" not in config
    validate_config(config, SCHEMA)
    assert config["frames"]["on_bad_video"] == "skip"
    assert config["training"]["inference_repeats"] == 10


def test_a_minimal_config_gets_every_default():
    config = {"models": {"esn": {"class": "SimpleESN"}}}
    validate_config(config, SCHEMA)
    assert config["dataset"] == "synthetic" and config["splits"] == [1] and config["seeds"] == [0, 1, 2]
    assert config["models"]["esn"]["params"] == {} and config["synthetic"]["num_classes"] == 6


def test_the_cnn_and_frame_size_default_to_what_fits_the_dataset(tmp_path):
    synthetic = {"models": {"esn": {"class": "SimpleESN"}}}
    validate_config(synthetic, SCHEMA)
    assert (synthetic["features"]["weights"], synthetic["frames"]["size"]) == ("random", 64)
    weights = tmp_path / "resnet18.pth"
    torch.save(resnet18(weights=None).state_dict(), weights)
    real = {"dataset": "folder", "folder": {"videos_dir": str(tmp_path)}, "features": {"weights": str(weights)}}
    real["models"] = {"esn": {"class": "SimpleESN"}}
    validate_config(real, SCHEMA)
    assert real["frames"]["size"] == 224 and real["features"]["weights"] == str(weights)


def test_imagenet_weights_are_fetched_when_the_workflow_is_parsed_and_offline_that_fails_naming_the_file(
    tmp_path, monkeypatch, capsys
):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    real = {"dataset": "folder", "folder": {"videos_dir": str(tmp_path)}, "models": {"esn": {"class": "SimpleESN"}}}
    with pytest.raises(ConfigError, match=r"IMAGENET1K_V1 could not be downloaded.*resnet18-f37072fd.pth"):
        validate_config(copy.deepcopy(real), SCHEMA)
    validate_config(real, SCHEMA, fetch_weights=False)  # a dry run: announced, not fetched
    assert "resnet18-f37072fd.pth is not there yet: a run downloads it" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "plans"),
    [(["snakemake", "-n"], True), (["snakemake", "-np", "--cores", "2"], True), (["snakemake", "--dry-run"], True),
     (["snakemake", "--lint"], True), (["snakemake", "--cores", "8", "--resources", "gpu=1"], False)],
)  # fmt: skip
def test_a_command_line_that_only_plans_is_told_apart(argv, plans):
    assert plans_only(argv) == plans


def test_split_and_seed_lists_given_on_the_command_line_are_integers():
    """``snakemake --config splits=[1,2,3]`` hands the workflow the strings "1", "2", "3"."""
    from snakemake.cli import parse_config

    config = {"models": {"esn": {"class": "SimpleESN"}}, **parse_config(["splits=[1,2,3]", "seeds=[0,1,2]"])}
    assert config["splits"] == ["1", "2", "3"]
    validate_config(config, SCHEMA)
    assert config["splits"] == [1, 2, 3] and config["seeds"] == [0, 1, 2]


def test_an_unknown_model_parameter_is_named_with_the_allowed_ones():
    config = {"models": {"deep": {"class": "DeepESN", "params": {"num_layers": 2}}}}
    with pytest.raises(ConfigError, match=r"models.deep.params.*'num_layers' was unexpected.*allowed:.*num_reservoirs"):
        validate_config(config, SCHEMA)


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c["models"]["SimpleESN"].update({"class": "NoSuchModel"}), "models.SimpleESN.class"),
        (lambda c: c["models"]["SimpleESN"].update({"class": "nowhere.Model"}), "models.SimpleESN.class"),
        (
            lambda c: c["models"]["SimpleESN"]["params"].update({"spectral_radius": -0.5}),
            "models.SimpleESN.params.spectral_radius",
        ),
        (lambda c: c["models"]["SimpleESN"]["params"].update({"sparsity": 1.0}), "models.SimpleESN.params.sparsity"),
        (lambda c: c["models"]["SimpleESN"]["params"].update({"sparsity": -0.1}), "models.SimpleESN.params.sparsity"),
        (
            lambda c: c["models"]["DeepESN"]["params"].update({"input_connectivity": 0}),
            "models.DeepESN.params.input_connectivity",
        ),
        (
            lambda c: c["models"]["SimpleESN"]["params"].update({"reservoir_size": 0}),
            "models.SimpleESN.params.reservoir_size",
        ),
        (
            lambda c: c["models"]["DeepESN"]["params"].update({"coupling_strength": 0}),
            "models.DeepESN.params.coupling_strength",
        ),
        (lambda c: c["models"]["SimpleESN"]["params"].update({"spectral_raduis": 0.9}), "models.SimpleESN.params"),
        (lambda c: c.update({"dataset": "kinetics"}), "dataset"),
        (lambda c: c.update({"splits": [4]}), "splits.0"),
        (lambda c: c.update({"dataset": "folder"}), "folder.videos_dir"),
        (lambda c: c.update({"dataset": "ucf101", "ucf101": {"videos_dir": "/no/such/UCF-101"}}), "ucf101.videos_dir"),
        (lambda c: c.update({"dataset": "ucf101", "ucf101": {"videos_sha256": "abc"}}), "ucf101.videos_sha256"),
        (lambda c: c.update({"ucf101": {"videos_urls": ["ftp://x/UCF101.rar"]}}), "ucf101.videos_urls.0"),
        (lambda c: c.update({"on_missing_video": "ignore"}), "on_missing_video"),
        (lambda c: c.update({"training": {"learning_rate": 0}}), "training.learning_rate"),
        (lambda c: c.update({"modles": {}}), "(top level)"),
        (lambda c: c["models"]["SimpleESN"].update({"tuning": {"seconds": 0}}), "models.SimpleESN.tuning.seconds"),
        (lambda c: c["models"]["SimpleESN"].update({"tuning": {"trials": 60}}), "models.SimpleESN.tuning"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(config, change, key):
    bad = copy.deepcopy(config)
    change(bad)
    with pytest.raises(ConfigError) as error:
        validate_config(bad, SCHEMA)
    assert f"config key {key}" in str(error.value)


def test_user_model_params_are_checked_against_its_constructor(config):
    config["models"]["mine"] = {"class": "tests.user_models.MyCustomRNN", "params": {"hidden_size": 8, "depth": 2}}
    with pytest.raises(ConfigError, match=r"models.mine.params.*depth"):
        validate_config(config, SCHEMA)


def test_unset_training_and_tuning_settings_take_the_code_defaults(config):
    """The defaults are written once, in TrainingConfig and TuningBudget; the workflow's one exception is
    where studies are kept (a file, not memory)."""
    from echoes.training.space import TuningBudget
    from echoes.training.spec import TrainingConfig

    config.pop("training", None)
    config.pop("tuning", None)
    validate_config(config, SCHEMA)
    assert TrainingConfig.from_mapping(config["training"]) == TrainingConfig()
    assert TuningBudget.from_mapping(config["tuning"]) == TuningBudget(storage="results/studies/optuna.journal")


def test_a_training_key_the_code_does_not_know_is_an_error_not_dropped():
    from echoes.training.spec import TrainingConfig

    assert TrainingConfig.from_mapping({"on_failure": "fail"}).on_failure == "fail"
    with pytest.raises(ValueError, match="training.patienc: not a training setting"):
        TrainingConfig.from_mapping({"patienc": 3})


def test_tuning_grids_are_checked_candidate_by_candidate():
    def entry(tune):
        return {"models": {"lstm": {"class": "SimpleRNN", "tune": tune}}}

    validate_config(entry({"normalisation": ["global", "clip_mean"], "dropout": [0.0, 0.5]}), SCHEMA)
    with pytest.raises(ConfigError, match="models.lstm.tune: candidate .*'dropout': 1.5.*dropout"):
        validate_config(entry({"dropout": [0.2, 1.5]}), SCHEMA)
    with pytest.raises(ConfigError, match="models.lstm.tune: candidate .*normalisation"):
        validate_config(entry({"normalisation": ["global", "per_frame"]}), SCHEMA)
    with pytest.raises(ConfigError, match="models.lstm.tune.leak_rate: neither"):
        validate_config(entry({"leak_rate": [0.1]}), SCHEMA)
    with pytest.raises(ConfigError, match="models.lstm.tune.on_failure: neither"):
        validate_config(entry({"on_failure": ["fail"]}), SCHEMA)


def test_a_built_in_model_without_tune_or_search_searches_its_familys_default_space():
    config = validate_config({"models": {"esn": {"class": "SimpleESN"}, "lstm": {"class": "SimpleRNN"}}}, SCHEMA)
    esn, lstm = config["models"]["esn"]["search"], config["models"]["lstm"]["search"]
    assert esn["input_scaling"] == {"low": 0.01, "high": 10, "log": True, "type": "float"}
    assert set(esn) == {
        "spectral_radius", "input_scaling", "leak_rate", "representation", "bidirectional", "reservoir_size",
        "normalisation",
    }  # fmt: skip
    assert lstm["learning_rate"]["log"] and lstm["hidden_size"] == [128, 256, 512]
    assert config["tuning"] == {"trials": 4, "seconds": None, "sampler": "tpe", "pruning": False, "max_trials": 1000,
                                "storage": "results/studies/optuna.journal", "workers": 1}  # fmt: skip
    gridded = validate_config({"models": {"esn": {"class": "SimpleESN", "tune": {"leak_rate": [0.1]}}}}, SCHEMA)
    assert "search" not in gridded["models"]["esn"]
    untuned = validate_config({"models": {"esn": {"class": "SimpleESN", "search": {}}}}, SCHEMA)
    assert untuned["models"]["esn"]["search"] == {}


def test_a_range_takes_its_type_from_the_schema_or_else_from_its_bounds():
    space = {"hidden_size": {"low": 16, "high": 64}, "learning_rate": {"low": 1, "high": 2}}
    config = validate_config({"models": {"lstm": {"class": "SimpleRNN", "search": space}}}, SCHEMA)
    resolved = config["models"]["lstm"]["search"]
    assert resolved["hidden_size"]["type"] == "int" and resolved["learning_rate"]["type"] == "float"
    user = {
        "class": "tests.user_models.MyCustomRNN",
        "params": {"hidden_size": 4},
        "search": {"hidden_size": {"low": 4, "high": 8}},
    }
    assert validate_config({"models": {"gru": user}}, SCHEMA)["models"]["gru"]["search"]["hidden_size"]["type"] == "int"


@pytest.mark.parametrize(
    ("search", "message"),
    [
        ({"dropout": {"low": 0.5, "high": 0.1}}, "search.dropout: low \\(0.5\\) must be below high"),
        (
            {"learning_rate": {"low": 0, "high": 0.1, "log": True}},
            "search.learning_rate: a log-scale range needs low > 0",
        ),
        ({"dropout": {"low": 0.0, "high": 1.5}}, "search: candidate .*'dropout': 1.5"),
        ({"normalisation": ["global", "per_frame"]}, "search: candidate .*per_frame"),
        ({"leak_rate": {"low": 0.1, "high": 1}}, "search.leak_rate: neither"),
        ({"refit": [True, False]}, "search.refit: neither"),
    ],
)
def test_search_spaces_are_checked_before_any_job(search, message):
    with pytest.raises(ConfigError, match=message):
        validate_config({"models": {"lstm": {"class": "SimpleRNN", "search": search}}}, SCHEMA)


def test_a_model_gives_a_grid_or_a_space_not_both():
    entry = {"class": "SimpleESN", "tune": {"leak_rate": [0.1]}, "search": {"spectral_radius": [0.9]}}
    with pytest.raises(ConfigError, match="models.esn: give a tune grid or a search space, not both"):
        validate_config({"models": {"esn": entry}}, SCHEMA)


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ({"models": {"SimpleESN": {"class": "SimpleESN", "params": {"spectral_radius": float("nan")}}}}, "models"),
        ({"training": {"learning_rate": float("inf")}}, "training.learning_rate"),
        ({"models": {"m": {"class": "SimpleRNN", "tune": {"dropout": [0.1, float("-inf")]}}}}, "tune.dropout\\[1\\]"),
    ],
)
def test_nan_and_infinity_are_refused_wherever_they_are(patch, key):
    config = {"models": {"m": {"class": "MeanOfFrames"}}, **patch}
    with pytest.raises(ConfigError, match=f"config key .*{key}.*: (nan|inf|-inf) is not a finite number"):
        validate_config(config, SCHEMA)


def test_a_key_given_twice_in_a_config_file_is_an_error_naming_file_and_lines(tmp_path):
    from echoes.planning.config import check_config_file

    path = tmp_path / "config.yaml"
    path.write_text("models:\n  SimpleESN:\n    class: SimpleESN\n  SimpleESN:\n    class: DeepESN\n")
    with pytest.raises(ConfigError, match="config.yaml, line 4: key 'SimpleESN' appears twice.*first on line 2"):
        check_config_file(path)
    path.write_text("models:\n  SimpleESN:\n    class: SimpleESN\n")
    check_config_file(path)


@pytest.mark.parametrize("uri", ["", "   ", "garbage", "sqlite://", "mlflow.db"])
def test_a_tracking_uri_mlflow_cannot_use_is_refused_naming_the_key(uri):
    config = {"models": {"m": {"class": "MeanOfFrames"}}, "tracking": {"uri": uri}}
    with pytest.raises(ConfigError, match="tracking.uri"):
        validate_config(config, SCHEMA)
    for good in ("sqlite:///results/mlflow.db", "http://127.0.0.1:5000", "postgresql://u@host/db"):
        validate_config({"models": {"m": {"class": "MeanOfFrames"}}, "tracking": {"uri": good}}, SCHEMA)


def test_a_builtin_named_by_import_path_gets_the_same_checks():
    config = {"models": {"esn": {"class": "echoes.models.esn.SimpleESN", "params": {"reservoir_size": -3}}}}
    with pytest.raises(ConfigError, match="models.esn.*reservoir_size.*-3 is less than the minimum of 1"):
        validate_config(config, SCHEMA)


def test_a_user_models_params_are_checked_by_building_it_before_any_job():
    config = {"models": {"gru": {"class": "tests.user_models.MyCustomRNN", "params": {"hidden_size": -4}}}}
    with pytest.raises(ConfigError, match="models.gru.params: MyCustomRNN\\(...\\) fails"):
        validate_config(config, SCHEMA)


def test_a_model_entrys_tuning_seconds_replaces_the_sections_and_only_for_that_model(config):
    validate_config(config, SCHEMA)

    def budget(name: str, section: dict) -> TuningBudget:
        return RunSpec.from_config(name, config["models"][name], config["training"], section).budget

    assert budget("SimpleESN", config["tuning"]).seconds == 30 and budget("SimpleRNN", config["tuning"]).seconds is None
    section = {**config["tuning"], "seconds": 10}
    assert budget("SimpleESN", section).seconds == 30 and budget("DeepESN", section).seconds == 10
    assert {budget(name, section).trials for name in config["models"]} == {4}  # the headline's budget is everyone's
