"""Reservoir representations and next-generation reservoir computing: what each one can compute.

The task that separates them is a two-event XOR in time: two events at random times, one in each
half of the clip, each of kind a or b; the class is whether the kinds match. A linear readout of
the last and mean states cannot compare the two events; the reservoir model space (second-order
statistics of the trajectory) and NG-RC (lagged products of the inputs) can.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse.linalg
import torch

from echoes.devices import MemoryWindow
from echoes.models import NGRC, DeepESN, SimpleESN
from echoes.models.representations import (
    StatePCA,
    add_upper_gram,
    mirror_upper_gram,
    model_space,
    representation_width,
    top_eigenvectors,
)
from echoes.models.reservoir import spectral_radius
from echoes.training.data import Batches
from echoes.training.evaluation import top_k_accuracy

T, DIM = 12, 8


def xor_in_time(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips ``[n, T, DIM]`` of noise with two events (kind a or b, 2 steps long) at random times, one in
    each half; label 1 when the kinds differ."""
    rng = np.random.default_rng(seed)
    kinds = np.random.default_rng(99).standard_normal((2, DIM)) * 2.0
    x = 0.3 * rng.standard_normal((n, T, DIM))
    first, second = rng.integers(2, size=n), rng.integers(2, size=n)
    for i in range(n):
        for kind, start in ((first[i], rng.integers(0, T // 2 - 1)), (second[i], rng.integers(T // 2, T - 1))):
            x[i, start : start + 2] += kinds[kind]
    return torch.from_numpy(x).float(), torch.from_numpy((first != second).astype(np.int64))


@pytest.fixture(scope="module")
def xor_task():
    """Train and test clips with each clip's mean over time subtracted, as ``normalisation: clip_mean`` gives
    every model (without it, a mean of products sees a "different" clip as the midpoint of the two "same" kinds)."""
    return tuple((x - x.mean(1, keepdim=True), y) for x, y in (xor_in_time(600, 0), xor_in_time(300, 1)))


def test_accuracy(model, task) -> float:
    (train_x, train_y), (test_x, test_y) = task
    model.fit(Batches(train_x, train_y, 256))
    with torch.no_grad():
        return top_k_accuracy(model(test_x), test_y, 1)


test_accuracy.__test__ = False  # a helper, not a test


# Near-linear units (input scaling 0.01): the last and mean states are then linear functions of the clip,
# which no linear readout turns into an XOR; the representations must bring the nonlinearity themselves.
ESN = {"reservoir_size": 300, "input_scaling": 0.01, "leak_rate": 0.3, "seed": 0}


@pytest.mark.parametrize(
    "model",
    [
        SimpleESN(DIM, num_classes=2, representation="model_space", bidirectional=True, reduced_size=12, **ESN),
        SimpleESN(DIM, num_classes=2, representation="model_space", reduced_size=12, **ESN),
        NGRC(DIM, T, num_classes=2, reduced_size=DIM, delay=1),
    ],
    ids=["bidirectional model space", "model space", "NG-RC"],
)
def test_the_strong_representations_solve_an_xor_in_time_that_last_and_mean_states_cannot(model, xor_task):
    baseline = SimpleESN(DIM, num_classes=2, representation="last_mean", **ESN)
    assert test_accuracy(baseline, xor_task) < 0.65
    assert test_accuracy(model, xor_task) > 0.95


def test_every_representation_has_the_width_its_readout_was_built_for():
    x = torch.randn(5, T, DIM)
    for representation, bidirectional in [("last", False), ("mean", True), ("last_mean", True), ("states", True),
                                          ("model_space", False), ("model_space", True)]:  # fmt: skip
        model = DeepESN(DIM, 20, 3, num_reservoirs=2, representation=representation, bidirectional=bidirectional,
                        reduced_size=6, num_frames=T)  # fmt: skip
        model.fit(Batches(x, torch.tensor([0, 1, 2, 0, 1]), 2))
        expected = representation_width(representation, 2 * 20 * (1 + bidirectional), 6, T)
        assert model.encode(x).shape == (5, expected) == (5, model.readout.in_features)


def test_the_bidirectional_pass_sets_the_reversed_clips_states_beside_the_forward_ones():
    x = torch.randn(3, T, DIM)
    both = SimpleESN(DIM, 30, 2, representation="last", bidirectional=True, seed=4)
    forward = SimpleESN(DIM, 30, 2, representation="last", seed=4)
    encoded = both.encode(x)
    assert torch.allclose(encoded[:, :30], forward.encode(x), atol=1e-6)
    assert torch.allclose(encoded[:, 30:], forward.encode(x.flip(1)), atol=1e-6)


def test_the_model_space_is_the_per_clip_ridge_model_of_the_next_reduced_state():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3)) * 0.3
    c = rng.standard_normal(3)
    states = [rng.standard_normal(3)]
    for _ in range(30):
        states.append(a @ states[-1] + c)
    reduced = torch.tensor(np.array(states)).T[:, :, None].permute(1, 0, 2).contiguous()  # [T, k, B=1]
    coefficients = model_space(reduced.double(), ridge=1e-9)[0]
    assert np.allclose(coefficients[:9].reshape(3, 3), a, atol=1e-5)
    assert np.allclose(coefficients[9:], c, atol=1e-5)


@pytest.mark.parametrize("width", [40, 600])  # 600: wide enough for the Gram's upper block rows
def test_the_state_pca_streamed_over_batches_is_the_pca_of_all_states(width):
    scales = torch.cat([torch.tensor([10.0, 6.0, 3.0]), torch.full((width - 3,), 0.5)])  # three clear components
    generator = torch.Generator().manual_seed(0)
    states = torch.randn(4, width, 30, generator=generator) * scales[None, :, None] + 5.0  # [T, N, B], large mean
    pca = StatePCA(width, 3)
    pca.start()
    for block in states.split(7, dim=2):
        pca.update(block)
    pca.finish()
    flat = states.permute(0, 2, 1).reshape(-1, width).double()
    centred = flat - flat.mean(0)
    vectors = torch.linalg.eigh(centred.T @ centred)[1][:, -3:].flip(1)
    assert torch.allclose(pca.mean.double(), flat.mean(0), atol=1e-4)
    assert torch.allclose((pca.components.double().T @ vectors).abs(), torch.eye(3, dtype=torch.float64), atol=1e-4)


def test_the_gram_of_wide_states_is_summed_from_its_upper_block_rows_alone_then_mirrored_in_place():
    x = torch.randn(300, 600, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    products = torch.zeros(600, 600, dtype=torch.float64)
    add_upper_gram(products, x)
    full = x.T @ x
    assert torch.allclose(products.triu(), full.triu())
    assert products[150:, :150].abs().sum() == 0  # below the first block row's diagonal block: not computed
    assert mirror_upper_gram(products) is products
    assert torch.allclose(products, full)


def test_the_subspace_iteration_finds_the_leading_eigenvectors_of_a_large_matrix():
    rng = np.random.default_rng(1)
    basis = np.linalg.qr(rng.standard_normal((1500, 1500)))[0]
    values = np.concatenate([[100.0, 50.0, 20.0], rng.uniform(0, 1, 1497)])
    matrix = torch.tensor((basis * values) @ basis.T)
    found = top_eigenvectors(matrix, 3, seed=0)
    assert torch.allclose((found.T @ torch.tensor(basis[:, :3])).abs(), torch.eye(3, dtype=torch.float64), atol=1e-6)


def test_ngrc_features_are_the_delayed_reduced_inputs_and_their_unique_products():
    x = torch.randn(2, 5, 3)
    model = NGRC(3, 5, 2, reduced_size=3, delay=2, strides=2, representation="last_mean")
    model.fit(Batches(x, torch.tensor([0, 1]), 2))
    reduced = (x - model.pca.mean) @ model.pca.components  # [B, T, 3]
    padded = torch.cat([torch.zeros(2, 2, 3), reduced], 1)
    linear = torch.cat([padded[:, 2:], padded[:, :5]], 2)  # newest first: t, then t - 2
    rows, columns = torch.triu_indices(6, 6)
    quadratic = linear[..., rows] * linear[..., columns]
    expected_last = torch.cat([linear[:, -1], quadratic[:, -1]], 1)
    expected_mean = torch.cat([linear.mean(1), quadratic.mean(1)], 1)
    assert torch.allclose(model.encode(x), torch.cat([expected_last, expected_mean], 1), atol=1e-5)
    assert model.readout.in_features == 2 * (6 + 21)


def test_ngrc_refuses_delays_longer_than_the_clip_and_keeps_at_most_every_input_dimension():
    with pytest.raises(ValueError, match="delay 4 with strides 2 reaches 6 steps back, but clips have 5"):
        NGRC(3, 5, delay=4, strides=2)
    assert NGRC(3, 5, reduced_size=24).pca.components.shape == (3, 3)


def test_a_fit_that_passes_twice_refuses_a_one_shot_iterator():
    model = SimpleESN(DIM, 20, 2, representation="states", reduced_size=4, num_frames=T)
    with pytest.raises(TypeError, match="re-iterable"):
        model.fit((x, y) for x, y in [(torch.randn(4, T, DIM), torch.tensor([0, 1, 0, 1]))])


def test_the_spectral_radius_is_computed_where_arpack_does_not_converge():
    """The leaky matrix of a 1,000-unit reservoir on which ARPACK ran 10,001 iterations without converging
    (PITFALLS, 2026-12-04): the dense solve takes over."""
    reservoir = SimpleESN(12, 1000, 3, leak_rate=0.1, spectral_radius=0.88, seed=0).reservoir
    leaky = 0.9 * np.eye(1000) + 0.1 * reservoir.W.double().numpy()
    with pytest.raises(scipy.sparse.linalg.ArpackNoConvergence):
        scipy.sparse.linalg.eigs(leaky, k=1, which="LM", v0=np.random.default_rng(0).standard_normal(1000),
                                 tol=1e-10, maxiter=300, return_eigenvectors=False)  # fmt: skip
    exact = float(np.abs(np.linalg.eigvals(leaky)).max())
    assert spectral_radius(leaky) == pytest.approx(exact, rel=1e-12)


@pytest.mark.slow
def test_a_bidirectional_model_space_fit_at_ucf101_width_holds_blocks_of_states_never_the_dataset():
    """T = 16 steps of 512-d features under 1,000 units, both directions (UCF101's shapes): four times the
    clips, 1,536 more, would add 1,536 x 16 x 2,000 x 4 bytes = 188 MiB if the fit held every clip's
    states; it holds one harvest block at a time, so its peak memory does not grow with the clips."""
    peaks = []
    for clips in (512, 2048):
        x, y = torch.randn(clips, 16, 512, generator=torch.Generator().manual_seed(0)), torch.arange(clips) % 101
        model = SimpleESN(512, 1000, 101, representation="model_space", bidirectional=True, reduced_size=30,
                          num_frames=16)  # fmt: skip
        model.block_width = 256
        window = MemoryWindow()
        model.fit(Batches(x, y, 512))
        peaks.append(window.peak_above_baseline_mib())
        assert model.encode(x[:8]).shape == (8, 30 * 31)
    assert peaks[1] - peaks[0] < 64, peaks
