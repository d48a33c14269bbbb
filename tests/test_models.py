"""Models checked against the maths: reservoir construction, batched states, ridge solutions, counts."""

import numpy as np
import pytest
import torch

from echoes.models import BUILTIN_MODELS, ModelConfigError, build_model, esn
from echoes.models.esn import DeepESN, Reservoir, SimpleESN, harvest_blocks, pool_states
from echoes.models.ridge import RidgeAccumulator
from echoes.models.simple_models import BaseModel, DeepRNN, SimpleRNN


@pytest.mark.parametrize("units", [100, 600])
def test_spectral_radius_is_set_exactly_on_w(units):
    reservoir = Reservoir(8, units, spectral_radius=0.85, sparsity=0.9, seed=1)
    radius = np.abs(np.linalg.eigvals(reservoir.W.double().numpy())).max()
    assert abs(radius - 0.85) < 1e-3


def test_sparsity_is_the_fraction_of_zero_recurrent_weights():
    reservoir = Reservoir(8, 300, sparsity=0.9, seed=0)
    assert abs(float((reservoir.W == 0).float().mean()) - 0.9) < 1e-3


def test_echo_state_property_two_initial_states_converge_under_the_same_input():
    reservoir = Reservoir(4, 200, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, seed=2)
    u = torch.randn(1, 200, 4)
    start = torch.full((1, 200), 0.9)
    a = reservoir(u, start)
    b = reservoir(u, torch.full((1, 200), -0.9))
    assert torch.equal(start, torch.full((1, 200), 0.9))  # the caller's state is read, never written
    assert torch.norm(a[0, 0] - b[0, 0]) > 1.0
    assert torch.norm(a[0, -1] - b[0, -1]) < 1e-4


@pytest.mark.parametrize(("sparsity", "csr"), [(0.9, True), (0.5, False)], ids=["csr", "dense"])
def test_batched_states_equal_a_plain_per_sequence_loop(sparsity, csr):
    reservoir = Reservoir(6, 50, sparsity=sparsity, leak_rate=0.4, input_scaling=0.3, bias_scaling=0.2, seed=3)
    assert reservoir.recurrent_matrix(torch.device("cpu")).is_sparse_csr == csr
    u = torch.randn(5, 9, 6)
    batched = reservoir(u)
    w_in, w, b, a = reservoir.W_in.double(), reservoir.W.double(), reservoir.bias.double(), reservoir.leak_rate
    for i in range(5):
        x = torch.zeros(50, dtype=torch.float64)
        for t in range(9):
            x = (1 - a) * x + a * torch.tanh(u[i, t].double() @ w_in + x @ w + b)
            assert torch.allclose(batched[i, t].double(), x, atol=1e-5)


def test_csr_kernel_only_for_sparse_reservoirs_and_never_on_gpu():
    cpu = torch.device("cpu")
    sparse, dense = Reservoir(4, 100, sparsity=0.9, seed=0), Reservoir(4, 100, sparsity=0.8, seed=0)
    assert sparse.recurrent_matrix(cpu).is_sparse_csr
    assert not dense.recurrent_matrix(cpu).is_sparse_csr  # 20 % connectivity: above SPARSE_MAX_DENSITY
    assert torch.equal(dense.recurrent_matrix(cpu), dense.W.T)
    assert not sparse.recurrent_matrix(torch.device("meta")).is_sparse_csr  # any non-CPU device: dense


def test_the_recurrent_matrix_is_built_once_and_rebuilt_when_w_is_loaded_or_moved_or_the_format_changes():
    cpu = torch.device("cpu")
    reservoir = Reservoir(4, 100, sparsity=0.9, seed=0)
    first = reservoir.recurrent_matrix(cpu)
    assert reservoir.recurrent_matrix(cpu) is first
    other = Reservoir(4, 100, sparsity=0.9, seed=1)
    reservoir.load_state_dict(other.state_dict())
    loaded = reservoir.recurrent_matrix(cpu)
    assert loaded is not first and torch.equal(loaded.to_dense(), other.W.T)
    reservoir.to(torch.float64)
    moved = reservoir.recurrent_matrix(cpu)
    assert moved is not loaded and moved.dtype == torch.float64
    reservoir.recurrent_format = "dense"
    assert not reservoir.recurrent_matrix(cpu).is_sparse_csr
    reservoir.recurrent_format = "sparse"
    with pytest.raises(ValueError, match="recurrent_format must be one of"):
        reservoir.recurrent_matrix(cpu)


@pytest.mark.parametrize("model_class", [SimpleESN, DeepESN])
def test_sparse_and_dense_kernels_and_any_block_size_give_the_same_features(model_class, monkeypatch):
    model = model_class(input_size=8, reservoir_size=120, num_classes=3, sparsity=0.9, seed=1)
    x = torch.randn(70, 6, 8)
    first_layer = model.layers[0]
    assert first_layer.recurrent_matrix(x.device).is_sparse_csr
    with torch.no_grad():
        sparse = model.encode(x)
        monkeypatch.setattr(esn, "SPARSE_BLOCK_BYTES", 4 * 120 * 32)  # blocks of 32: 32, 32, 6
        blocked = model.encode(x)
        reservoirs = model.layers
        for reservoir in reservoirs:
            reservoir.recurrent_format = "dense"
        assert not any(r.recurrent_matrix(x.device).is_sparse_csr for r in reservoirs)
        dense = model.encode(x)
    torch.testing.assert_close(sparse, dense, rtol=0, atol=1e-5)
    torch.testing.assert_close(blocked, dense, rtol=0, atol=1e-5)


def empty_csr(units: int) -> torch.Tensor:
    """A CSR ``W^T`` of ``units`` with no non-zeros: only its shape matters to the blocking."""
    rows, columns = torch.zeros(units + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    return torch.sparse_csr_tensor(rows, columns, torch.zeros(0), (units, units), check_invariants=True)


@pytest.mark.parametrize(("units", "size"), [(500, 512), (1000, 256), (2000, 128), (3000, 64), (4000, 64), (10**5, 32)])
def test_csr_blocks_are_the_largest_power_of_two_whose_states_fit_the_cache_budget(units, size):
    fits = size * units * 4 <= esn.SPARSE_BLOCK_BYTES
    assert (fits and 2 * size * units * 4 > esn.SPARSE_BLOCK_BYTES) or (size == 32 and not fits)
    blocks = harvest_blocks(torch.zeros(1100, 2, 3), [torch.zeros(2, 2), empty_csr(units)])
    assert all(block.shape[:2] == (2, 3) for block in blocks)
    assert [block.shape[2] for block in blocks] == [size] * (1100 // size) + [1100 % size] * bool(1100 % size)


def test_the_dense_kernel_takes_the_whole_batch_in_one_block():
    blocks = harvest_blocks(torch.zeros(1100, 2, 3), [torch.zeros(4, 4)])
    assert [block.shape for block in blocks] == [(2, 3, 1100)]


def test_pooling_summarises_feature_major_states_per_sequence():
    states = torch.arange(24.0).reshape(3, 4, 2)  # [T=3, N=4, B=2]
    assert torch.equal(pool_states(states, "last"), states[-1].T)
    assert torch.equal(pool_states(states, "mean"), states.mean(0).T)
    assert torch.equal(pool_states(states, "last_mean"), torch.cat([states[-1].T, states.mean(0).T], 1))
    assert pool_states(states, "last_mean").shape == (2, 8)


def test_same_seed_same_reservoir_other_seed_other_reservoir():
    assert torch.equal(Reservoir(4, 40, seed=7).W, Reservoir(4, 40, seed=7).W)
    assert not torch.equal(Reservoir(4, 40, seed=7).W, Reservoir(4, 40, seed=8).W)


def _stats(x, y, classes, chunks=1):
    acc = RidgeAccumulator(x.shape[1], classes)
    for xb, yb in zip(torch.tensor_split(x, chunks), torch.tensor_split(y, chunks), strict=True):
        acc.update(xb, yb)
    return acc


# (clips, dimensions): more clips than dimensions is solved from X^T X, fewer from X X^T (dual form)
PRIMAL, DUAL = (60, 7), (20, 50)


@pytest.mark.parametrize(("n", "d"), [PRIMAL, DUAL], ids=["primal", "dual"])
def test_ridge_solution_equals_lstsq_on_the_augmented_system(n, d):
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((n, d)), rng.integers(0, 3, n)
    ridge = 2.5
    acc = _stats(torch.from_numpy(x), torch.from_numpy(y), 3)
    assert acc.dual == (n <= d)
    weights, intercept = acc.solve(ridge)
    targets = np.eye(3)[y]
    # unpenalised intercept column, sqrt(ridge) rows for the weights only
    design = np.vstack([np.hstack([x, np.ones((n, 1))]), np.hstack([np.sqrt(ridge) * np.eye(d), np.zeros((d, 1))])])
    solution = np.linalg.lstsq(design, np.vstack([targets, np.zeros((d, 3))]), rcond=None)[0]
    assert np.allclose(weights.numpy(), solution[:d], atol=1e-8)
    assert np.allclose(intercept.numpy(), solution[d], atol=1e-8)


def test_zero_ridge_with_fewer_clips_than_dimensions_is_the_minimum_norm_interpolant():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 30)), rng.integers(0, 3, 12)
    weights, intercept = _stats(torch.from_numpy(x), torch.from_numpy(y), 3).solve(0.0)
    targets = np.eye(3)[y]
    assert np.allclose(x @ weights.numpy() + intercept.numpy(), targets, atol=1e-8)
    centred = x - x.mean(0)
    assert np.allclose(weights.numpy(), np.linalg.pinv(centred) @ (targets - targets.mean(0)), atol=1e-8)


def test_zero_ridge_with_collinear_features_and_more_clips_than_dimensions_is_the_minimum_norm_solution():
    rng = np.random.default_rng(5)
    base = rng.standard_normal((80, 6))
    x, y = np.hstack([base, base[:, :2]]), rng.integers(0, 3, 80)  # two duplicated columns: X^T X is singular
    acc = _stats(torch.from_numpy(x), torch.from_numpy(y), 3)
    assert not acc.dual
    weights, _ = acc.solve(0.0)
    targets = np.eye(3)[y]
    centred = x - x.mean(0)
    assert np.allclose(weights.numpy(), np.linalg.pinv(centred) @ (targets - targets.mean(0)), atol=1e-8)


@pytest.mark.parametrize(("n", "d", "chunks"), [(100, 12, 7), (100, 30, 7), (10, 40, 3)], ids=str)
def test_streamed_solution_equals_one_shot_solution(n, d, chunks):
    x, y = torch.randn(n, d, dtype=torch.float64), torch.randint(0, 4, (n,))
    one = _stats(x, y, 4)
    streamed = _stats(x, y, 4, chunks=chunks)  # (100, 30): starts dual, switches to X^T X mid-stream
    assert one.dual == streamed.dual == (n <= d)
    for ridge in (0.3, 30.0):
        assert all(
            torch.allclose(a, b, atol=1e-10) for a, b in zip(one.solve(ridge), streamed.solve(ridge), strict=True)
        )
    assert one.gcv_scores() == pytest.approx(streamed.gcv_scores(), rel=1e-9)


@pytest.mark.parametrize(("n", "d"), [(40, 5), (15, 30)], ids=["primal", "dual"])
def test_gcv_matches_its_closed_form_definition(n, d):
    x, y = torch.randn(n, d, dtype=torch.float64), torch.randint(0, 2, (n,))
    acc = _stats(x, y, 2)
    for ridge in (0.05, 1.7, 40.0):
        score = acc.gcv_scores([ridge])[ridge]
        xc = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1)
        penalty = torch.diag(torch.tensor([ridge] * d + [0.0], dtype=torch.float64))
        hat = xc @ torch.linalg.solve(xc.T @ xc + penalty, xc.T)
        targets = torch.nn.functional.one_hot(y, 2).double()
        residual = targets - hat @ targets
        expected = (residual**2).mean() / (1 - torch.trace(hat) / n) ** 2
        assert score == pytest.approx(float(expected), rel=1e-8)


def test_automatic_ridge_picks_a_large_ridge_for_pure_noise_and_a_small_one_for_a_clean_signal():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((200, 30)))
    noise_labels = torch.from_numpy(rng.integers(0, 2, 200))
    clean_labels = (x[:, 0] > 0).long()
    noisy, clean = _stats(x, noise_labels, 2), _stats(x, clean_labels, 2)
    grid = [1e-3, 1e-1, 10.0, 1e3, 1e5]
    assert noisy.select_ridge(grid) >= 1e3
    assert clean.select_ridge(grid) <= 10.0
    scores = clean.gcv_scores(grid)
    assert clean.select_ridge(grid) == min(scores, key=scores.get)


def test_only_the_readout_counts_as_trainable():
    esn = SimpleESN(input_size=16, reservoir_size=50, num_classes=5, pooling="last_mean")
    assert esn.trainable_parameters() == (2 * 50 + 1) * 5
    assert esn.total_parameters() == (2 * 50 + 1) * 5 + 16 * 50 + 50 * 50 + 50
    deep = DeepESN(input_size=16, reservoir_size=20, num_classes=5, num_reservoirs=3, pooling="last")
    assert deep.trainable_parameters() == (3 * 20 + 1) * 5
    assert deep.total_parameters() == deep.trainable_parameters() + (16 * 20 + 2 * 20 * 20) + 3 * (20 * 20 + 20)


def test_lstm_parameter_counts_match_the_formula():
    lstm = lambda i, h: 4 * (i * h + h * h + 2 * h)  # noqa: E731
    assert SimpleRNN(10, 8, 3).trainable_parameters() == lstm(10, 8) + 8 * 3 + 3
    assert DeepRNN(10, 8, 3, num_layers=3).trainable_parameters() == lstm(10, 8) + 2 * lstm(8, 8) + 8 * 3 + 3


def test_deep_esn_layers_are_driven_by_the_layer_below_scaled_by_coupling_strength():
    deep = DeepESN(input_size=6, reservoir_size=30, num_classes=2, num_reservoirs=2, coupling_strength=0.25, seed=0)
    assert deep.layers[1].W_in.shape == (30, 30)
    assert float(deep.layers[1].W_in.abs().max()) <= 0.25
    x = torch.randn(3, 5, 6)
    first = deep.layers[0](x).permute(1, 2, 0)  # feature-major [T, N, B], as pool_states takes them
    second = deep.layers[1].run(first)
    expected = torch.cat([pool_states(first, "last_mean"), pool_states(second, "last_mean")], 1)
    assert torch.allclose(deep.encode(x), expected)


@pytest.mark.parametrize("name", list(BUILTIN_MODELS))
def test_every_builtin_maps_batch_time_features_to_class_logits(name):
    model = build_model(name, {}, input_size=12, num_classes=4, seed=0, num_frames=5)
    assert isinstance(model, BaseModel)
    assert model(torch.randn(3, 5, 12)).shape == (3, 4)


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("SimpleESN", {"spectral_radius": -1.0}, "spectral_radius"),
        ("SimpleESN", {"sparsity": 1.0}, "sparsity"),
        ("SimpleESN", {"reservoir_size": 0}, "reservoir_size"),
        ("DeepESN", {"num_reservoirs": 4}, "num_reservoirs"),
        ("DeepESN", {"num_reservoirs": 2, "num_layers": 2}, "former name"),
        ("DeepRNN", {"num_layers": 1}, "num_layers"),
        ("SimpleESN", {"units": 10}, "does not accept"),
        ("SimpleESN", {"seed": 3}, "set by Echoes"),
        ("no.such.Model", {}, "cannot import"),
        ("Transformer", {}, "not a built-in"),
    ],
)
def test_bad_model_configs_name_the_key(name, params, message):
    with pytest.raises(ModelConfigError, match=message) as error:
        build_model(name, params, input_size=4, num_classes=2, key="models.m")
    assert "models.m" in str(error.value)


def test_deep_esn_num_layers_is_the_former_name_of_num_reservoirs_and_one_reservoir_is_a_simple_esn():
    x = torch.randn(5, 4, 6)
    old = DeepESN(input_size=6, reservoir_size=20, num_classes=2, num_layers=2, seed=3)
    new = DeepESN(input_size=6, reservoir_size=20, num_classes=2, num_reservoirs=2, seed=3)
    assert len(new.layers) == 2 and torch.equal(old.encode(x), new.encode(x))
    single = DeepESN(input_size=6, reservoir_size=20, num_classes=2, num_reservoirs=1, seed=3)
    assert torch.equal(single.encode(x), SimpleESN(input_size=6, reservoir_size=20, num_classes=2, seed=3).encode(x))
