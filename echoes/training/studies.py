"""Where a run's Optuna study lives: a named study in Optuna's own storage, resumable and shareable.

Every (model, split, seed) study is stored through Optuna's storage API (``tuning.storage``): a
``JournalFileBackend`` file by default (``results/studies/optuna.journal``; one file holds every
study), or any database URL Optuna takes (``postgresql://...`` for a cluster). So a study can be
opened with ``optuna.load_study`` or ``optuna-dashboard``, continued by a rerun of its job with the
same settings, and shared by several workers (``tuning.workers``).

- **Names** say what a study is: ``<model>-split<s>-seed<n>-<hash>``, the hash over everything that
  decides its trials (the model's entry, the training section, the budget, the data's identity and
  the code: the package's sources and a user model's module), but not over how many workers run it or
  where it is stored. An edit of the code starts a new study, as it reruns the job.
- **Per-trial seeds.** Each trial's sampler is seeded from the run's seed and the number of trials
  before it, so the k-th trial of a study is drawn the same way whether the study ran in one go,
  was resumed after a kill, or was continued by another process: TPE's draw depends on the stored
  history and that seed only. (With several workers the history a draw sees depends on which
  trials have finished, that is on timing: ``workers: 1`` is the reproducible setting.)
- **Counting** a trial happens when it is asked, under a lock on the storage (a ``.count-lock`` file
  beside a journal), so N workers together run the study's trial count once.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from echoes.training.protocol import Trial
from echoes.training.spec import RunSpec

#: Trials that count against the budget: finished, or being fitted by some worker.
COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)
DATABASE_URL = re.compile(r"^[a-z][a-z0-9+]*://")


def open_storage(location: str) -> str | optuna.storages.BaseStorage:
    """A database URL as Optuna takes it; anything else the path of a ``JournalFileBackend`` file."""
    if DATABASE_URL.match(location):
        return location
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    Path(location).parent.mkdir(parents=True, exist_ok=True)
    return JournalStorage(JournalFileBackend(str(location)))


@contextmanager
def storage_lock(location: str | None) -> Iterator[None]:
    """Hold ``<journal>.lock`` while a trial is counted and asked (nothing to hold for memory or a database)."""
    if location is None or DATABASE_URL.match(location):
        yield
        return
    lock = Path(f"{location}.count-lock")  # not .lock: the journal backend keeps its own lock file there
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def study_name(spec: RunSpec, data_identity: Mapping[str, Any]) -> str:
    """``<model>-split<s>-seed<n>-<hash of what decides the trials>``."""
    budget = {k: v for k, v in asdict(spec.budget).items() if k not in ("storage", "workers")}
    decided = {
        "class": spec.model_class,
        "params": dict(spec.params),
        "tune": dict(spec.tune),
        "search": dict(spec.search),
        "training": asdict(spec.training),
        "budget": budget,
        "data": dict(data_identity),
        "code": code_digest(spec.model_class),
    }
    digest = hashlib.sha256(json.dumps(decided, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return f"{spec.name}-split{spec.split}-seed{spec.seed}-{digest}"


def code_digest(model_class: str) -> str:
    """SHA-256 of the package's Python sources and, for a model named by import path, its module's."""
    import importlib.util

    import echoes

    files = sorted(Path(echoes.__file__).parent.rglob("*.py"))
    if "." in model_class:
        spec = importlib.util.find_spec(model_class.rpartition(".")[0])
        if spec is not None and spec.origin:
            files.append(Path(spec.origin))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.read_bytes())
    return digest.hexdigest()


def sampler_for(spec: RunSpec, index: int) -> optuna.samplers.BaseSampler:
    """The sampler of a study's ``index``-th counted trial, seeded from the run's seed and ``index``."""
    seed = (spec.seed * 1_000_003 + index) % 2**32
    if not spec.search:  # a grid's points are all enqueued (first_trials): nothing is drawn
        return optuna.samplers.RandomSampler(seed=seed)
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler}
    return samplers[spec.budget.sampler](seed=seed)


def counted(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return study.get_trials(deepcopy=False, states=COUNTED)


def fail_stale_trials(study: optuna.Study) -> int:
    """Mark trials left RUNNING by a worker that was killed as FAIL (call only where no worker runs): they
    no longer count, and the budget's trial is run again."""
    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    for trial in stale:
        study.tell(trial.number, state=TrialState.FAIL)
    return len(stale)


def trial_record(frozen: optuna.trial.FrozenTrial, candidate: Mapping[str, Any]) -> Trial:
    """The protocol's record of a finished trial, from what the study stored (``user_attrs``)."""
    attrs = frozen.user_attrs
    state = "pruned" if frozen.state == TrialState.PRUNED else "complete"
    return Trial(dict(candidate), attrs["val_accuracy"], attrs["val_loss"], attrs["fit_seconds"], attrs["seconds"],
                 frozen.number, state)  # fmt: skip


def store_record(trial: optuna.Trial, record: Trial) -> None:
    """What :func:`trial_record` reads back: the protocol's scores and seconds of the trial."""
    for key in ("val_accuracy", "val_loss", "fit_seconds", "seconds"):
        trial.set_user_attr(key, getattr(record, key))
