"""The selection protocol: validation groups that track test, candidate grids, selection on validation."""

import numpy as np
import pytest

from echoes.training.protocol import Trial, better, candidates, split_candidate, validation_groups


@pytest.mark.parametrize("n_groups", [3, 4, 7, 18, 25])
@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.2, 0.5, 0.9])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_validation_never_draws_fewer_than_two_groups_and_leaves_some_to_fit(n_groups, fraction, seed):
    sizes = np.random.default_rng(seed).integers(4, 40, n_groups)
    groups = np.repeat(np.arange(1, n_groups + 1), sizes)
    held_out = validation_groups(groups, fraction, min_groups=2, seed=seed)
    assert len(held_out) >= 2
    assert len(held_out) < n_groups
    share = np.isin(groups, held_out).mean()
    assert share >= fraction or len(held_out) == n_groups - 1


def test_validation_takes_enough_groups_to_hold_the_fraction_of_clips():
    groups = np.repeat(np.arange(1, 8), 48)  # the default synthetic set: 7 training groups of 48 clips
    held_out = validation_groups(groups, 0.2, min_groups=2, seed=0)
    assert len(held_out) == 2  # 96 clips = 29 %; one group (14 %) would not do
    assert len(validation_groups(groups, 0.4, min_groups=2, seed=0)) == 3


def test_validation_is_drawn_per_seed_and_reproducible():
    groups = np.repeat(np.arange(1, 19), 10)
    draws = {tuple(validation_groups(groups, 0.2, 2, seed)) for seed in range(6)}
    assert len(draws) > 1
    assert np.array_equal(validation_groups(groups, 0.2, 2, 5), validation_groups(groups, 0.2, 2, 5))


def test_too_few_groups_for_validation_is_an_error_that_explains_groups():
    with pytest.raises(ValueError, match="2 group\\(s\\).*clips cut from one long video"):
        validation_groups(np.array([1, 1, 2, 2]), 0.2, min_groups=2, seed=0)


def test_candidates_are_the_grid_product_in_config_order():
    assert candidates({}) == [{}] and candidates(None) == [{}]
    assert candidates({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 1, "b": "y"},
        {"a": 2, "b": "x"},
        {"a": 2, "b": "y"},
    ]


def test_a_candidate_splits_into_model_params_and_training_settings():
    params, training = split_candidate({"dropout": 0.5, "weight_decay": 0.1}, ["dropout"], ["weight_decay"])
    assert params == {"dropout": 0.5} and training == {"weight_decay": 0.1}
    with pytest.raises(ValueError, match="models.X.tune.leak_rate: neither"):
        split_candidate({"leak_rate": 0.1}, ["dropout"], ["weight_decay"], "models.X.tune")


def test_selection_prefers_validation_accuracy_then_lower_loss_then_the_earlier_candidate():
    first = Trial({"a": 1}, val_accuracy=1.0, val_loss=0.2, fit_seconds=1)
    assert better(first, None)
    assert better(Trial({"a": 2}, 1.0, 0.1, 1), first)
    assert not better(Trial({"a": 2}, 1.0, 0.2, 1), first)
    assert not better(Trial({"a": 2}, 0.99, 0.0, 1), first)


def test_tuning_runs_the_headlines_trials_then_until_the_time_budget_is_spent():
    from echoes.training.protocol import wants_another
    from echoes.training.space import TuningBudget

    trials = TuningBudget(trials=3)
    assert [wants_another(n, 0.0, trials, None) for n in range(5)] == [True, True, True, False, False]
    timed = TuningBudget(trials=2, seconds=10.0, max_trials=6)
    assert wants_another(2, 9.9, timed, None) and not wants_another(2, 10.0, timed, None)
    assert wants_another(1, 50.0, timed, None)  # the headline's trials even past the time
    assert not wants_another(6, 1.0, timed, None)  # never past max_trials
    assert wants_another(3, 0.0, trials, 4, grid=True) and not wants_another(4, 0.0, timed, 4, grid=True)  # a grid
    assert wants_another(1, 0.0, trials, 2) and not wants_another(2, 0.0, timed, 2)  # 2 choices: 2 trials, no more


def test_a_space_is_described_probed_at_its_ends_and_typed():
    from echoes.training.space import check_space, describe, probes, resolve_types, space_size

    space = resolve_types({"lr": {"low": 1e-4, "high": 1e-2, "log": True}, "width": {"low": 8, "high": 64},
                           "norm": ["global", "clip_mean"]}, lambda key: None)  # fmt: skip
    assert space["lr"]["type"] == "float" and space["width"]["type"] == "int"
    assert space_size(space) is None and space_size({"norm": ["a", "b"], "k": [1, 2, 3]}) == 6
    assert describe(space) == "lr 0.0001–0.01 (log) × width 8–64 × norm {global, clip_mean}"
    assert probes(space) == [
        {"lr": 1e-4, "width": 8, "norm": "global"},
        {"lr": 1e-2, "width": 8, "norm": "global"},
        {"lr": 1e-4, "width": 64, "norm": "global"},
        {"lr": 1e-4, "width": 8, "norm": "clip_mean"},
    ]
    with pytest.raises(ValueError, match="m.search.norm: give a range"):
        check_space({"norm": []}, "m.search")
    with pytest.raises(ValueError, match="either log-scale or stepped"):
        check_space({"lr": {"low": 0.1, "high": 1, "log": True, "step": 0.1}}, "m.search")
