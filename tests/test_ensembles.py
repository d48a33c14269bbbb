"""Ensembles of reservoir models (``ensemble_size``): independent draws, each with its own readout, whose
class scores are averaged; the first draw is the model without an ensemble."""

from __future__ import annotations

import pickle

import pytest
import torch

from echoes.models import DeepESN, SimpleESN, build_model
from echoes.training.data import Batches
from echoes.training.evaluation import top_k_accuracy
from tests.test_representations import DIM, T, xor_in_time

SMALL = {"reservoir_size": 40, "representation": "model_space", "bidirectional": True, "reduced_size": 6}


@pytest.fixture(scope="module")
def clips() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = xor_in_time(120, 3)
    return x - x.mean(1, keepdim=True), y


@pytest.mark.parametrize("model_class", [SimpleESN, DeepESN])
def test_the_first_draw_of_an_ensemble_is_the_model_without_one_and_the_scores_are_the_draws_mean(model_class, clips):
    x, y = clips
    single = model_class(DIM, num_classes=2, seed=7, num_frames=T, **SMALL)
    ensemble = model_class(DIM, num_classes=2, seed=7, num_frames=T, ensemble_size=3, **SMALL)
    single.fit(Batches(x, y, 64))
    ensemble.fit(Batches(x, y, 64))
    for own, alone in zip(ensemble.layers, single.layers, strict=True):
        assert torch.equal(own.W, alone.W) and torch.equal(own.W_in, alone.W_in)
    with torch.no_grad():
        first = ensemble.readout(ensemble.encode(x))
        assert torch.allclose(first, single(x), atol=1e-5)
        draws = [first, *(member(x) for member in ensemble.members)]
        assert torch.allclose(ensemble(x), torch.stack(draws).mean(0), atol=1e-6)
    assert len(ensemble.members) == 2
    weights = [ensemble.layers[0].W, *(member.layers[0].W for member in ensemble.members)]
    assert all(not torch.equal(a, b) for i, a in enumerate(weights) for b in weights[i + 1 :]), "draws must differ"


def test_an_ensemble_counts_every_draws_readout_as_trained_and_every_reservoir_in_the_total():
    single = build_model("DeepESN", SMALL, DIM, 2, seed=0, num_frames=T)
    ensemble = build_model("DeepESN", {**SMALL, "ensemble_size": 3}, DIM, 2, seed=0, num_frames=T)
    assert ensemble.trainable_parameters() == 3 * single.trainable_parameters()
    assert ensemble.total_parameters() == 3 * single.total_parameters()


def test_a_fitted_ensemble_reloads_from_its_params_and_state_and_pickles(clips):
    x, y = clips
    ensemble = build_model("SimpleESN", {**SMALL, "ensemble_size": 2}, DIM, 2, seed=1, num_frames=T)
    info = ensemble.fit(Batches(x, y, 64))
    assert len(info["member_ridges"]) == 2 and info["ridge"] == info["member_ridges"][0]
    reloaded = build_model("SimpleESN", {**SMALL, "ensemble_size": 2}, DIM, 2, seed=1, num_frames=T)
    reloaded.load_state_dict(ensemble.state_dict())
    with torch.no_grad():
        assert torch.equal(reloaded(x), ensemble(x))
        assert torch.equal(pickle.loads(pickle.dumps(ensemble))(x), ensemble(x))


def test_every_draw_harvests_in_the_block_width_forced_on_the_ensemble():
    ensemble = SimpleESN(DIM, num_classes=2, num_frames=T, ensemble_size=3, **SMALL)
    ensemble.block_width = 16
    assert [member.block_width for member in ensemble.members] == [16, 16]
    assert all(member.harvest is ensemble.harvest for member in ensemble.members)


def test_averaging_draws_beats_the_typical_draw_where_one_reservoir_is_too_small_for_the_task():
    """Ten-unit reservoirs solve the two-event XOR only in part, each in its own way: the mean of
    five draws' scores is right more often than the draws are on average."""
    (train_x, train_y), (test_x, test_y) = (
        (x - x.mean(1, keepdim=True), y) for x, y in (xor_in_time(600, 0), xor_in_time(300, 1))
    )
    settings = {**SMALL, "reservoir_size": 10, "reduced_size": 4, "input_scaling": 0.01, "leak_rate": 0.3}
    ensemble = SimpleESN(DIM, num_classes=2, num_frames=T, ensemble_size=5, **settings)
    ensemble.fit(Batches(train_x, train_y, 256))
    with torch.no_grad():
        draws = [ensemble.readout(ensemble.encode(test_x)), *(member(test_x) for member in ensemble.members)]
        each = [top_k_accuracy(scores, test_y, 1) for scores in draws]
        together = top_k_accuracy(ensemble(test_x), test_y, 1)
    assert together > sum(each) / len(each) + 0.03, (together, each)


def test_an_ensemble_size_below_one_names_the_parameter():
    with pytest.raises(ValueError, match="ensemble_size"):
        SimpleESN(DIM, num_classes=2, ensemble_size=0, **SMALL)
