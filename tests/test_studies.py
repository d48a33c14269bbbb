"""Tuning studies kept in Optuna's storage: opened by Optuna itself, resumed by a rerun, shared by workers."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace

import optuna
import pytest
import torch

from echoes.training.data import load_split
from echoes.training.job import train_on_split
from echoes.training.protocol import better, group_holdout
from echoes.training.spec import RunSpec
from echoes.training.studies import study_name
from echoes.training.tuning import data_identity, open_study, run_trials, tune
from tests.specs import spec

SEARCH = {"leak_rate": {"low": 0.05, "high": 1.0, "log": True, "type": "float"},
          "spectral_radius": {"low": 0.5, "high": 1.5, "type": "float"}}  # fmt: skip


def esn_spec(storage, trials: int = 5, **tuning):
    run = spec("SimpleESN", {"reservoir_size": 40}, {"normalisation": "clip_mean"}, search=SEARCH, name="esn",
               tuning={"trials": trials, "storage": str(storage), **tuning})  # fmt: skip
    return replace(run, device="cpu")


@pytest.fixture
def data(temporal_order_task):
    return load_split(*temporal_order_task, 1)


def test_a_runs_study_is_stored_under_its_name_and_loads_with_optuna_holding_every_trial(data, tmp_path):
    storage = tmp_path / "studies" / "optuna.journal"
    run = esn_spec(storage)
    metrics, _, _ = train_on_split(data, run)
    name = study_name(run, data_identity(data))
    assert name.startswith("esn-split1-seed0-")
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(storage)))
    study = optuna.load_study(study_name=name, storage=journal)
    stored = {t.number: t for t in study.get_trials(states=(optuna.trial.TrialState.COMPLETE,))}
    assert len(stored) == len(metrics["tuning"]["trials"]) == 5
    for trial in metrics["tuning"]["trials"]:
        assert stored[trial["number"]].params == trial["params"]
        assert stored[trial["number"]].value == trial["val_accuracy"]


def test_a_rerun_with_the_same_settings_continues_its_study_and_gives_the_same_model(data, tmp_path):
    storage = tmp_path / "optuna.journal"
    first_metrics, first_model, _ = train_on_split(data, esn_spec(storage))
    second_metrics, second_model, _ = train_on_split(data, esn_spec(storage))  # nothing left to run: refits the best
    assert second_metrics["tuning"]["trials"] == first_metrics["tuning"]["trials"]
    assert second_metrics["tuning"]["selected"] == first_metrics["tuning"]["selected"]
    assert all(torch.equal(a, b) for a, b in zip(first_model.state_dict().values(), second_model.state_dict().values(),
                                                    strict=True))  # fmt: skip
    more, _, _ = train_on_split(data, esn_spec(storage, trials=7))  # another budget is another study
    assert len(more["tuning"]["trials"]) == 7


def test_a_killed_jobs_running_trial_is_run_again_as_the_uninterrupted_study_ran_it(data, tmp_path):
    uninterrupted, _, _ = train_on_split(data, esn_spec(tmp_path / "a.journal"))
    run = esn_spec(tmp_path / "b.journal")
    study, _, points = open_study(run, data)
    fit_idx, val_idx, _ = group_holdout(data.train_groups, run.training, run.seed)
    run_trials(study, data, fit_idx, val_idx, replace(run, budget=replace(run.budget, trials=3)), points)
    study.ask()  # the fourth trial, asked and never told: a job killed while fitting it
    resumed, _, _ = train_on_split(data, run)
    assert [t["params"] for t in resumed["tuning"]["trials"]] == [
        t["params"] for t in uninterrupted["tuning"]["trials"]
    ]
    assert resumed["accuracy_top1"] == uninterrupted["accuracy_top1"]


def _worker(features_manifest, storage) -> list[int]:
    data = load_split(*features_manifest, 1)
    run = esn_spec(storage, trials=8, workers=2)
    study, _, points = open_study(run, data)
    fit_idx, val_idx, _ = group_holdout(data.train_groups, run.training, run.seed)
    return sorted(run_trials(study, data, fit_idx, val_idx, run, points, exclusive=False))


def test_two_workers_sharing_one_storage_run_every_trial_once_and_the_job_selects_by_the_same_rule(
    temporal_order_task, data, tmp_path
):
    storage = tmp_path / "shared.journal"
    # spawned, not forked: a fork of a process with PyTorch's and Optuna's threads can deadlock
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        numbers = pool.starmap_async(_worker, [(temporal_order_task, storage)] * 2).get(timeout=300)
    assert sorted(numbers[0] + numbers[1]) == list(range(8))  # every trial once, none lost, none twice
    run = esn_spec(storage, trials=8, workers=2)
    study, _, _ = open_study(run, data)
    fit_idx, val_idx, _ = group_holdout(data.train_groups, run.training, run.seed)
    tuned = tune(data, fit_idx, val_idx, run)  # the training job: nothing left to run
    assert len(study.trials) == 8 and len(tuned.trials) == 8
    best = None
    for trial in tuned.trials:
        best = trial if better(trial, best) else best
    assert tuned.best.trial.number == best.number and tuned.best.trial.params == best.params


def test_the_tune_model_stage_runs_trials_into_the_shared_study_and_says_which(temporal_order_task, tmp_path):
    """What each tune_model job runs (echoes.stages.train.tune_worker_job): one after the other here, the
    first runs the whole budget and the second finds nothing left; the JSON names the study and the trials."""
    import json

    from echoes.stages.train import tune_worker_job

    features, manifest = temporal_order_task
    entry = {"class": "SimpleESN", "params": {"reservoir_size": 40}, "search": SEARCH}
    tuning = {"trials": 3, "storage": str(tmp_path / "optuna.journal"), "workers": 2}
    spec = RunSpec.from_config("esn", entry, {}, tuning, split=1, seed=0, device="cpu", threads=1)
    first = tune_worker_job(features, manifest, tmp_path / "w0.json", spec, on_partial_video="keep")
    second = tune_worker_job(features, manifest, tmp_path / "w1.json", spec, on_partial_video="keep")
    assert first == [0, 1, 2] and second == []
    written = json.loads((tmp_path / "w0.json").read_text())
    assert written["trials"] == [0, 1, 2] and written["study"].startswith("esn-split1-seed0-")
