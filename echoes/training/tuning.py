"""Tuning: one Optuna study per run, every trial fitted on the fit clips and scored on validation.

The rules (which clips validate, how many trials, which wins) are :mod:`echoes.training.protocol`'s;
what a trial may set is :mod:`echoes.training.space`'s. Optuna proposes the trials (``GridSampler``
for a ``tune`` grid, TPE or random sampling for a ``search`` space, seeded from the run's seed, so
two runs of one seed try the same trials; a search's first trials are the entry's own settings
under each input normalisation); the study maximises validation accuracy, and the selection among
the trials is the protocol's own (accuracy, then validation loss). With ``tuning.pruning``,
gradient models report each epoch's validation loss (negated: the study maximises) to Optuna's
median pruner, which stops trials that trail the median of earlier ones.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna

from echoes.contracts.records import Epoch
from echoes.devices import seed_everything
from echoes.models import BaseModel, build_model, constructor_arguments, constructor_defaults, resolve_model_class
from echoes.normalisation import Normaliser, normalise
from echoes.training.data import SplitData
from echoes.training.evaluation import pass_size, predict, require_finite, top_k_accuracy, validation_loss
from echoes.training.fits import fit_closed_form, fit_epochs, fit_gradient, kept_epoch
from echoes.training.protocol import Trial, candidates, select, split_candidate, trials_wanted, wants_another
from echoes.training.space import is_range, space_size
from echoes.training.spec import RunSpec, TrainingConfig
from echoes.training.studies import (
    counted,
    fail_stale_trials,
    open_storage,
    sampler_for,
    storage_lock,
    store_record,
    study_name,
    trial_record,
)

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)

PRUNING_WARMUP_EPOCHS = 5  # a trial's first epochs say little about where it ends


@dataclass
class Fitted:
    """A candidate fitted on the fit clips: its model, settings, history and validation scores."""

    trial: Trial
    model: BaseModel
    params: dict
    cfg: TrainingConfig
    history: list[Epoch]
    info: dict


@dataclass
class Tuned:
    """What a study found: the headline's selected trial (best of the first ``trials_wanted``),
    with ``tuning.seconds`` the best finished within that time, and every trial in order."""

    best: Fitted
    trials: list[Trial]
    sampler: str
    space: dict[str, Any]
    wanted: int
    within_budget: Fitted | None = None
    within_count: int = 0


def _settings(spec: RunSpec, candidate: Mapping[str, Any]) -> tuple[dict, TrainingConfig]:
    """The model params and training settings of one trial (its values over the entry's)."""
    arguments, _ = constructor_arguments(resolve_model_class(spec.model_class))
    key = f"models.{spec.name}.{'search' if spec.search else 'tune'}"
    overrides, training_overrides = split_candidate(candidate, arguments, TrainingConfig.__dataclass_fields__, key)
    return {**spec.params, **overrides}, spec.training.with_overrides(training_overrides)


def _build(spec: RunSpec, params: dict, feature_shape: tuple[int, ...], num_classes: int) -> BaseModel:
    seed_everything(spec.seed)
    return build_model(
        spec.model_class, params, feature_shape[-1], num_classes, spec.seed, key=f"models.{spec.name}",
        num_frames=feature_shape[1],
    ).to(spec.device)  # fmt: skip


def fit_candidate(
    data: SplitData,
    fit_idx: np.ndarray,
    val_idx: np.ndarray,
    spec: RunSpec,
    candidate: Mapping[str, Any],
    on_epoch: Callable[[Epoch], None] | None = None,
) -> Fitted:
    """Fit one candidate on the fit clips and score it on the validation clips (never on test)."""
    start = time.perf_counter()
    params, cfg = _settings(spec, candidate)
    fit_x, val_x = normalise(data.train_x[fit_idx], data.train_x[val_idx], mode=cfg.normalisation)
    fit_y, val_y = data.train_y[fit_idx], data.train_y[val_idx]
    model = _build(spec, params, tuple(fit_x.shape), len(data.classes))
    if model.fit_method == "closed_form":
        history, info = fit_closed_form(model, (fit_x, fit_y), cfg, spec.device)
    else:
        history = fit_gradient(model, (fit_x, fit_y), (val_x, val_y), cfg, spec.device, spec.seed, on_epoch)
        info = {}
    logits = predict(model, val_x, pass_size(model, cfg), spec.device)
    require_finite(model, logits, f"candidate {dict(candidate)}")
    fit_seconds = sum(h.seconds for h in history)
    accuracy, loss = top_k_accuracy(logits, val_y, 1), validation_loss(model, logits, val_y)
    trial = Trial(dict(candidate), accuracy, loss, fit_seconds, time.perf_counter() - start)
    print(f"candidate {dict(candidate)}: validation accuracy {accuracy:.3f}, loss {loss:.4f}", file=sys.stderr)
    return Fitted(trial, model, params, cfg, history, info)


def suggest(trial: optuna.Trial, key: str, values: Any) -> Any:
    """The trial's value for one key of the space: a choice, or a draw from a range."""
    if not is_range(values):
        return trial.suggest_categorical(key, list(values))
    log, step = bool(values.get("log")), values.get("step")
    if values["type"] == "int":
        return trial.suggest_int(key, int(values["low"]), int(values["high"]), step=int(step or 1), log=log)
    return trial.suggest_float(key, float(values["low"]), float(values["high"]), step=step, log=log)


def open_study(spec: RunSpec, data: SplitData) -> tuple[optuna.Study, str, int | None]:
    """The run's study: in ``tuning.storage`` under its name (created, or loaded to be continued), else
    in memory; the sampler's name and the space's number of distinct points (None with a range). A new
    search study starts with the entry's own settings (:func:`entry_trials`)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # each trial is logged below, in the protocol's words
    if spec.search:
        points, name = space_size(spec.search), spec.budget.sampler
    else:
        points, name = len(candidates({k: list(v) for k, v in spec.tune.items()})), "grid"
    pruner = (
        optuna.pruners.MedianPruner(n_warmup_steps=PRUNING_WARMUP_EPOCHS)
        if spec.budget.pruning
        else optuna.pruners.NopPruner()
    )
    location = spec.budget.storage
    with storage_lock(location):
        study = optuna.create_study(
            storage=open_storage(location) if location else None,
            study_name=study_name(spec, data_identity(data)) if location else None,
            load_if_exists=True,
            direction="maximize",
            sampler=sampler_for(spec, 0),
            pruner=pruner,
        )
        if not study.get_trials(deepcopy=False):
            for trial in first_trials(spec):
                study.enqueue_trial(trial)
    return study, name, points


def first_trials(spec: RunSpec) -> list[dict[str, Any]]:
    """What a new study runs first: a search's entry settings (:func:`entry_trials`); a grid's every point,
    in an order drawn from the run's seed (as Optuna's GridSampler visits them)."""
    if spec.search:
        return entry_trials(spec)[: spec.budget.trials]
    points = candidates({k: list(v) for k, v in spec.tune.items()})
    return [points[i] for i in np.random.default_rng(spec.seed).permutation(len(points))] if spec.tune else []


def data_identity(data: SplitData) -> dict[str, Any]:
    """What a stored study's trials were fitted on: the features' provenance, the classes and the clip counts."""
    return {
        "features": data.attrs.record(),
        "classes": data.classes,
        "train": len(data.train_x),
        "test": len(data.test_x),
    }


def entry_trials(spec: RunSpec) -> list[dict[str, Any]]:
    """A search's first trials: the entry's own settings (:func:`entry_settings`) under every input
    normalisation of the space, the entry's first. The protocol offers every model the same
    normalisations; a few random draws could leave one of them untried (and on the synthetic set
    an LSTM without ``clip_mean`` learns the scenes instead of the motion)."""
    settings = entry_settings(spec)
    choices = spec.search.get("normalisation")
    if not choices or is_range(choices):
        return [settings]
    first = settings.get("normalisation", choices[0])
    return [settings | {"normalisation": mode} for mode in [first, *(c for c in choices if c != first)]]


def entry_settings(spec: RunSpec) -> dict[str, Any]:
    """The first trial of a search: the entry's own settings (its params, the training section, the
    model's defaults) for each key of the space they lie in; Optuna draws the rest. So a search
    never ends below the untuned model on validation, for every kind of model alike."""
    cls = resolve_model_class(spec.model_class)
    own = constructor_defaults(cls) | dict(spec.params)
    settings = {}
    for key, values in spec.search.items():
        value = own[key] if key in own else getattr(spec.training, key, None)
        inside = (
            isinstance(value, int | float) and not isinstance(value, bool) and values["low"] <= value <= values["high"]
            if is_range(values)
            else value in values
        )
        if inside:
            settings[key] = value
    return settings


class _Reporter:
    """Reports each epoch's validation loss to the trial; raises :class:`optuna.TrialPruned` when told."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial = trial
        self.last: Epoch | None = None

    def __call__(self, entry: Epoch) -> None:
        self.last = entry
        self.trial.report(-entry.val_loss, entry.epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"epoch {entry.epoch}")


class _Trials:
    """The trials of one study that this process runs: asked under the storage's lock while the budget
    wants another (:func:`echoes.training.protocol.wants_another`), fitted, told back with their scores."""

    def __init__(self, study: optuna.Study, data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray,
                 spec: RunSpec, points: int | None) -> None:  # fmt: skip
        self.study, self.data, self.fit_idx, self.val_idx, self.spec, self.points = (
            study,
            data,
            fit_idx,
            val_idx,
            spec,
            points,
        )
        self.space = dict(spec.search or spec.tune)
        self.fitted: dict[int, Fitted] = {}

    def next_trial(self) -> optuna.Trial | None:
        """Count the study's trials and, if the budget wants another, ask for it (one worker at a time)."""
        with storage_lock(self.spec.budget.storage):
            done = counted(self.study)
            spent = sum(t.user_attrs.get("seconds", 0.0) for t in done if t.state != optuna.trial.TrialState.RUNNING)
            if not wants_another(len(done), spent, self.spec.budget, self.points, not self.spec.search):
                return None
            self.study.sampler = sampler_for(self.spec, len(done))
            return self.study.ask()

    def run(self, asked: optuna.Trial) -> None:
        """Fit the trial's candidate and tell the study its validation accuracy (or that it was pruned or failed)."""
        candidate = {key: suggest(asked, key, values) for key, values in self.space.items()}
        reporter = _Reporter(asked) if self.spec.budget.pruning else None
        start = time.perf_counter()
        try:
            fitted = fit_candidate(self.data, self.fit_idx, self.val_idx, self.spec, candidate, reporter)
        except optuna.TrialPruned as pruned:
            last = reporter.last
            print(f"candidate {candidate}: pruned at {pruned}", file=sys.stderr)
            record = Trial(candidate, last.val_accuracy, last.val_loss, 0.0, time.perf_counter() - start)
            store_record(asked, record)
            self.study.tell(asked, state=optuna.trial.TrialState.PRUNED)
            return
        except BaseException:
            self.study.tell(asked, state=optuna.trial.TrialState.FAIL)
            raise
        fitted.trial.number = asked.number
        store_record(asked, fitted.trial)
        self.study.tell(asked, fitted.trial.val_accuracy)
        self.fitted[asked.number] = fitted

    def run_all(self) -> dict[int, Fitted]:
        while (asked := self.next_trial()) is not None:
            self.run(asked)
        return self.fitted


def run_trials(
    study: optuna.Study, data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, spec: RunSpec,
    points: int | None, exclusive: bool = True,
) -> dict[int, Fitted]:  # fmt: skip
    """Run the study's trials until its budget is spent (by this process and any other worker); the
    trials fitted here by number. ``exclusive``: no other worker runs now, so trials a killed process
    left RUNNING are failed first and run again."""
    if exclusive and (stale := fail_stale_trials(study)):
        print(f"{stale} trial(s) left running by a killed job were failed and are run again", file=sys.stderr)
    return _Trials(study, data, fit_idx, val_idx, spec, points).run_all()


def tune(data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, spec: RunSpec) -> Tuned:
    """Trials until the budget is spent, continuing the run's stored study if it has some already; the
    best of the headline's trials and, with ``tuning.seconds``, the best within that time (each fitted
    again if another process or an earlier job fitted it).

    Takes the split's training clips only: the test clips cannot choose anything here.
    """
    study, sampler, points = open_study(spec, data)
    fitted = run_trials(study, data, fit_idx, val_idx, spec, points)
    records = [
        trial_record(t, t.params)
        for t in sorted(study.get_trials(deepcopy=False, states=FINISHED), key=lambda t: t.number)
    ]
    wanted = trials_wanted(spec.budget, points, not spec.search)
    best, within, within_count = select(records, wanted, spec.budget.seconds)
    if best is None:
        raise RuntimeError(f"models.{spec.name}: every trial was pruned; turn tuning.pruning off")

    def model_of(record: Trial) -> Fitted:
        return fitted.get(record.number) or refit_trial(data, fit_idx, val_idx, spec, record)

    space = dict(spec.search or spec.tune)
    return Tuned(model_of(best), records, sampler, space, wanted, within and model_of(within), within_count)


def refit_trial(data: SplitData, fit_idx: np.ndarray, val_idx: np.ndarray, spec: RunSpec, record: Trial) -> Fitted:
    """A stored trial fitted again (a resumed study, or another worker's trial): the same settings and
    seed give the same model; the stored record stays the trial's."""
    print(f"fitting trial {record.number} of the stored study again: {record.params}", file=sys.stderr)
    fitted = fit_candidate(data, fit_idx, val_idx, spec, record.params)
    fitted.trial = record
    return fitted


def refit(data: SplitData, spec: RunSpec, selected: Fitted) -> tuple[Fitted, Normaliser]:
    """The selected trial's settings fitted again on all training clips (``training.refit``):
    gradient models for the epochs early stopping kept, closed-form ones with their ridge chosen
    by GCV again. Returns the refitted model and the normaliser of all training clips."""
    normaliser = Normaliser.fit(data.train_x, selected.cfg.normalisation)
    train = (normaliser(data.train_x), data.train_y)
    model = _build(spec, selected.params, tuple(train[0].shape), len(data.classes))
    if model.fit_method == "closed_form":
        history, info = fit_closed_form(model, train, selected.cfg, spec.device)
    else:
        epochs = kept_epoch(selected.history, selected.cfg.min_delta)
        history, info = fit_epochs(model, train, selected.cfg, spec.device, spec.seed, epochs), {}
    print(f"refitted the selected trial on all {len(train[0])} training clips", file=sys.stderr)
    return Fitted(selected.trial, model, selected.params, selected.cfg, history, info), normaliser
