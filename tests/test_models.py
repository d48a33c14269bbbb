"""Models checked against the maths: reservoir construction, batched states, ridge solutions, counts."""

import copy
import inspect
import pickle
import threading
import time

import numpy as np
import pytest
import torch

from echoes.models import BUILTIN_MODELS, ModelConfigError, build_model, harvest
from echoes.models import esn_kernels as kernels
from echoes.models.esn import DeepESN, Reservoir, ReservoirStack, SimpleESN, pool_states
from echoes.models.harvest import candidate_widths, in_order, ops_on_one_thread
from echoes.models.ridge import RidgeAccumulator, widened_gcv
from echoes.models.simple_models import BaseModel, DeepRNN, SimpleRNN


def reservoir_of(input_size: int, units: int, **settings) -> Reservoir:
    """A reservoir with ReservoirStack's defaults for every setting not given."""
    stack = inspect.signature(ReservoirStack).parameters
    names = ("spectral_radius", "sparsity", "leak_rate", "input_scaling", "bias_scaling", "input_connectivity")
    return Reservoir(input_size, units, **{name: stack[name].default for name in names} | settings)


@pytest.mark.parametrize("units", [100, 600])
def test_spectral_radius_is_set_exactly_on_w(units):
    reservoir = reservoir_of(8, units, spectral_radius=0.85, sparsity=0.9, seed=1)
    radius = np.abs(np.linalg.eigvals(reservoir.W.double().numpy())).max()
    assert abs(radius - 0.85) < 1e-3


def test_sparsity_is_the_fraction_of_zero_recurrent_weights():
    reservoir = reservoir_of(8, 300, sparsity=0.9, seed=0)
    assert abs(float((reservoir.W == 0).float().mean()) - 0.9) < 1e-3


def test_echo_state_property_two_initial_states_converge_under_the_same_input():
    reservoir = reservoir_of(4, 200, spectral_radius=0.9, leak_rate=0.5, input_scaling=0.5, seed=2)
    u = torch.randn(1, 200, 4)
    start = torch.full((1, 200), 0.9)
    a = reservoir(u, start)
    b = reservoir(u, torch.full((1, 200), -0.9))
    assert torch.equal(start, torch.full((1, 200), 0.9))  # the caller's state is read, never written
    assert torch.norm(a[0, 0] - b[0, 0]) > 1.0
    assert torch.norm(a[0, -1] - b[0, -1]) < 1e-4


def form(matrix: torch.Tensor) -> str:
    return "csr" if matrix.is_sparse_csr else "onednn" if matrix.is_mkldnn else "dense"


needs_onednn = pytest.mark.skipif(not kernels.onednn_available(), reason="this PyTorch build has no oneDNN")


@pytest.mark.parametrize(
    ("sparsity", "input_connectivity", "input_format", "forms"),
    [
        (0.9, 1.0, "dense", ("dense", "csr")),
        pytest.param(0.9, 1.0, "onednn", ("onednn", "csr"), marks=needs_onednn),
        (0.5, 1.0, "dense", ("dense", "dense")),
        (0.9, 0.1, "auto", ("csr", "csr")),
        (0.5, 0.1, "auto", ("csr", "dense")),
    ],
    ids=["dense-in-csr-w", "onednn-in-csr-w", "dense-in-dense-w", "csr-in-csr-w", "csr-in-dense-w"],
)
def test_the_fast_harvest_equals_the_reference_step_in_every_form(sparsity, input_connectivity, input_format, forms):
    reservoir = reservoir_of(
        6, 50, sparsity=sparsity, leak_rate=0.4, input_scaling=0.3, bias_scaling=0.2, seed=3,
        input_connectivity=input_connectivity,
    )  # fmt: skip
    reservoir.input_format = input_format
    cpu = torch.device("cpu")
    assert (form(reservoir.input_matrix(cpu)), form(reservoir.recurrent_matrix(cpu))) == forms
    u = torch.randn(5, 9, 6)
    batched = reservoir(u)
    reference = copy.deepcopy(reservoir).double()  # the equation as written, in float64, one step at a time
    x = torch.zeros(5, 50, dtype=torch.float64)
    for t in range(9):
        x = reference.step(x, u[:, t].double())
        torch.testing.assert_close(batched[:, t].double(), x, rtol=0, atol=1e-5)


def test_the_reference_step_is_the_leaky_tanh_equation_and_leak_rate_one_a_plain_tanh_reservoir():
    reservoir = reservoir_of(3, 20, leak_rate=1.0, input_scaling=0.5, seed=0).double()
    u = torch.randn(2, 4, 3, dtype=torch.float64)
    x = torch.zeros(2, 20, dtype=torch.float64)
    for t in range(4):
        x = torch.tanh(u[:, t] @ reservoir.W_in + x @ reservoir.W + reservoir.bias)
    torch.testing.assert_close(reservoir(u)[:, -1], x, rtol=0, atol=1e-10)
    leaky = reservoir_of(3, 20, leak_rate=0.25, seed=0).double()
    state, step = torch.rand(2, 20, dtype=torch.float64), u[:, 0]
    drive = torch.tanh(step @ leaky.W_in + state @ leaky.W + leaky.bias)
    torch.testing.assert_close(leaky.step(state, step), 0.75 * state + 0.25 * drive)


def test_input_connectivity_is_the_fraction_of_nonzero_input_weights_and_keeps_w_and_b():
    dense, sparse = reservoir_of(64, 100, seed=4, input_connectivity=1.0), reservoir_of(64, 100, seed=4)
    assert sparse.input_connectivity == pytest.approx(0.1, abs=1e-4)  # the default, as in ReservoirPy
    assert dense.input_connectivity == 1.0
    assert torch.equal(dense.W, sparse.W) and torch.equal(dense.bias, sparse.bias)
    kept = sparse.W_in != 0
    assert torch.equal(sparse.W_in[kept], dense.W_in[kept])  # the surviving weights are the dense draw's
    with pytest.raises(ValueError, match="input_connectivity 1e-05 keeps no entry of a 64 x 100 W_in"):
        reservoir_of(64, 100, input_connectivity=1e-5)
    for bad in (0.0, 1.5, float("nan")):
        with pytest.raises(ValueError, match="input_connectivity must"):
            reservoir_of(64, 100, input_connectivity=bad)


def test_deep_esn_gives_every_reservoir_the_input_connectivity():
    deep = DeepESN(input_size=40, reservoir_size=50, num_classes=2, num_reservoirs=2, input_connectivity=0.2)
    assert [round(layer.input_connectivity, 3) for layer in deep.layers] == [0.2, 0.2]


def test_csr_form_only_for_sparse_matrices_on_cpu_with_int32_indices():
    cpu = torch.device("cpu")
    sparse, dense = reservoir_of(4, 100, sparsity=0.9, seed=0), reservoir_of(4, 100, sparsity=0.8, seed=0)
    assert sparse.recurrent_matrix(cpu).is_sparse_csr
    assert sparse.recurrent_matrix(cpu).col_indices().dtype == torch.int32
    assert not dense.recurrent_matrix(cpu).is_sparse_csr  # 20 % connectivity: above SPARSE_MAX_DENSITY
    assert torch.equal(dense.recurrent_matrix(cpu), dense.W.T)
    assert sparse.input_matrix(cpu).is_sparse_csr  # the default input_connectivity, 0.1
    assert not reservoir_of(4, 100, seed=0, input_connectivity=1.0).input_matrix(cpu).is_sparse_csr
    assert not sparse.recurrent_matrix(torch.device("meta")).is_sparse_csr  # neither CPU nor CUDA: dense


def test_on_cuda_the_form_is_the_one_a_micro_benchmark_finds_faster_measured_once_per_machine(monkeypatch):
    calls = []

    def measured(dense, csr):
        calls.append((dense.shape, csr.is_sparse_csr))
        return True

    monkeypatch.setattr(kernels, "csr_is_faster", measured)
    monkeypatch.setattr(kernels, "machine_key", lambda device: "a GPU")
    cuda = torch.device("cuda")
    sparse = reservoir_of(4, 100, sparsity=0.9, seed=0)
    assert kernels.fastest_form("W", sparse.W.T, sparse.bias, cuda) == "csr"
    assert calls == [((100, 100), True)]
    assert kernels.fastest_form("W", sparse.W.T, sparse.bias, cuda) == "csr" and len(calls) == 1  # kept
    dense = reservoir_of(4, 100, sparsity=0.5, seed=0)
    assert kernels.fastest_form("W", dense.W.T, dense.bias, cuda) == "dense"
    assert len(calls) == 1  # denser than SPARSE_MAX_DENSITY: not even measured


@needs_onednn
@pytest.mark.parametrize("faster", [True, False])
def test_on_cpu_a_dense_input_matrix_goes_through_onednn_where_a_micro_benchmark_finds_it_faster(monkeypatch, faster):
    calls = []
    monkeypatch.setattr(kernels, "onednn_is_faster", lambda dense, bias: calls.append(tuple(dense.shape)) or faster)
    cpu = torch.device("cpu")
    reservoir = reservoir_of(6, 50, sparsity=0.5, seed=3, input_connectivity=1.0)
    assert form(reservoir.input_matrix(cpu)) == ("onednn" if faster else "dense")
    assert form(reservoir.recurrent_matrix(cpu)) == "dense"  # oneDNN multiplies rows: the recurrence stays column-major
    assert calls == [(50, 6)]
    assert form(reservoir_of(6, 50, seed=3).input_matrix(cpu)) == "csr"  # a sparse W_in is not even measured
    assert len(calls) == 1


def test_a_onednn_that_fails_leaves_the_input_product_to_torch_matmul(monkeypatch):
    def refuses(dense, bias):
        raise RuntimeError("could not create a primitive")

    monkeypatch.setattr(kernels, "onednn_available", lambda: True)
    monkeypatch.setattr(kernels, "onednn_is_faster", refuses)
    reservoir = reservoir_of(6, 50, seed=3, input_connectivity=1.0)
    with pytest.warns(UserWarning, match="oneDNN's linear failed .could not create a primitive.; the input product"):
        assert form(reservoir.input_matrix(torch.device("cpu"))) == "dense"


@needs_onednn
def test_the_onednn_projection_is_the_input_product_plus_bias():
    reservoir = reservoir_of(6, 50, seed=3, input_connectivity=1.0)
    u = torch.randn(4, 6, 5)  # [T, F, B]
    out = torch.empty(4, 50, 5)
    kernels.project_onednn(kernels.to_onednn(reservoir.W_in.T.contiguous()), u, reservoir.bias, out)
    expected = torch.einsum("fn,tfb->tnb", reservoir.W_in.double(), u.double()) + reservoir.bias.double()[:, None]
    torch.testing.assert_close(out.double(), expected, rtol=0, atol=1e-5)
    # the micro-benchmark runs both projections for real (it raises if oneDNN refuses the shapes)
    assert isinstance(
        kernels.onednn_is_faster(reservoir.W_in.T.contiguous(), reservoir.bias, columns=8, repeats=1), bool
    )


@pytest.mark.parametrize("input_format", [pytest.param("onednn", marks=needs_onednn), "csr", "dense"])
def test_a_reservoir_copies_and_pickles_without_its_cached_matrices(input_format):
    reservoir = reservoir_of(6, 50, seed=3, input_connectivity=1.0)
    reservoir.input_format = input_format
    u = torch.randn(2, 4, 6)
    states = reservoir(u)
    for copied in (copy.deepcopy(reservoir), pickle.loads(pickle.dumps(reservoir))):
        assert copied._matrix_cache == {}
        assert torch.equal(copied(u), states)


def test_the_micro_benchmark_times_the_matrices_it_is_given():
    # one non-zero: its CSR product is next to free, the dense one 1.3 GFLOP. Few rows keep the product's
    # output (64 x 256) off fresh pages: a 2000-row output can take 10 ms of page faults per call alone
    nearly_empty = torch.zeros(64, 40_000)
    nearly_empty[0, 0] = 1.0
    assert kernels.csr_is_faster(nearly_empty, kernels.to_csr(nearly_empty))
    full = torch.randn(300, 300)  # every entry stored with its index: CSR only adds work
    assert not kernels.csr_is_faster(full, kernels.to_csr(full))


def test_the_matrices_are_built_once_and_rebuilt_when_weights_are_loaded_or_moved_or_the_format_changes():
    cpu = torch.device("cpu")
    reservoir = reservoir_of(4, 100, sparsity=0.9, seed=0)
    first = reservoir.recurrent_matrix(cpu)
    first_input = reservoir.input_matrix(cpu)
    assert reservoir.recurrent_matrix(cpu) is first and reservoir.input_matrix(cpu) is first_input
    other = reservoir_of(4, 100, sparsity=0.9, seed=1)
    reservoir.load_state_dict(other.state_dict())
    loaded = reservoir.recurrent_matrix(cpu)
    assert loaded is not first and torch.equal(loaded.to_dense(), other.W.T)
    assert torch.equal(reservoir.input_matrix(cpu).to_dense(), other.W_in.T)
    reservoir.to(torch.float64)
    moved = reservoir.recurrent_matrix(cpu)
    assert moved is not loaded and moved.dtype == torch.float64
    reservoir.recurrent_format = "dense"
    assert not reservoir.recurrent_matrix(cpu).is_sparse_csr
    reservoir.input_format = "csr"
    assert reservoir.input_matrix(cpu).is_sparse_csr
    reservoir.recurrent_format = "sparse"
    with pytest.raises(ValueError, match="recurrent_format must be one of"):
        reservoir.recurrent_matrix(cpu)
    reservoir.input_format = "coo"
    with pytest.raises(ValueError, match="input_format must be one of"):
        reservoir.input_matrix(cpu)
    reservoir.recurrent_format = "onednn"  # the input product's form only
    with pytest.raises(ValueError, match="recurrent_format must be one of"):
        reservoir.recurrent_matrix(cpu)


@pytest.mark.parametrize("model_class", [SimpleESN, DeepESN])
@pytest.mark.parametrize("input_connectivity", [1.0, 0.2])
def test_every_form_and_block_width_gives_the_same_features(model_class, input_connectivity):
    model = model_class(input_size=8, reservoir_size=120, num_classes=3, seed=1, input_connectivity=input_connectivity)
    x = torch.randn(70, 6, 8)
    assert model.layers[0].recurrent_matrix(x.device).is_sparse_csr
    with torch.no_grad():
        measured = model.encode(x)
        features = {}
        for width in (32, 64, 7, 70):
            model.block_width = width
            features[width] = model.encode(x)
        for reservoir in model.layers:
            reservoir.recurrent_format = reservoir.input_format = "dense"
        assert not any(r.recurrent_matrix(x.device).is_sparse_csr for r in model.layers)
        dense = model.encode(x)
    for blocked in [measured, *features.values()]:
        torch.testing.assert_close(blocked, dense, rtol=0, atol=1e-5)


def empty_csr(units: int) -> torch.Tensor:
    """A CSR ``W^T`` of ``units`` with no non-zeros: only its shape matters to the blocking."""
    rows, columns = torch.zeros(units + 1, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
    return torch.sparse_csr_tensor(rows, columns, torch.zeros(0), (units, units), check_invariants=True)


def test_blocks_are_powers_of_two_below_the_batch_for_csr_products_on_cpu_else_the_whole_batch():
    csr = kernels.to_csr(torch.eye(8))
    assert candidate_widths([torch.zeros(3, 3), csr], batch=1000) == [32, 64, 128, 256]
    assert candidate_widths([csr], batch=100) == [32, 64, 100]  # and the batch itself, if no wider
    assert candidate_widths([csr], batch=32) == [32]  # a small batch is one block
    assert candidate_widths([torch.zeros(3, 3)], batch=1000) == [1000]  # dense products want it wide
    assert candidate_widths([csr.to("meta")], batch=1000) == [1000]  # a GPU has no cache to fit


@pytest.mark.parametrize(
    ("cost", "timed_blocks", "best"),
    [
        ({32: 40.0, 64: 60.0, 128: 200.0, 256: 600.0}, [32, 32, 64, 32, 32, 64, 128, 64, 64, 128], 64),
        ({32: 40.0, 64: 60.0, 128: 100.0, 256: 150.0}, [32, 32, 64, 32, 32, 64, 128, 64, 64, 128], 128),
    ],
    ids=["stops-at-the-first-slower-width", "wider-is-faster-until-the-batch-runs-out"],
)
def test_the_first_harvest_times_each_width_against_the_best_so_far_while_wider_wins(
    monkeypatch, cost, timed_blocks, best
):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0)
    x = torch.randn(1000, 4, 8)
    with torch.no_grad():
        model.block_width = 1000
        expected = model.encode(x)
        model.block_width = None
        clock, harvested = {"now": 0.0}, []  # cost: seconds per block of each width
        encode_block = model._encode_block

        def timed(block, matrices, workspace):
            clock["now"] += cost.get(len(block), 0.0)
            harvested.append(len(block))
            return encode_block(block, matrices, workspace)

        monkeypatch.setattr(model, "_encode_block", timed)
        monkeypatch.setattr(harvest.time, "perf_counter", lambda: clock["now"])
        features = model.encode(x)
    assert harvested[: len(timed_blocks)] == timed_blocks
    # then the whole batch at the chosen width, as every later run on this machine harvests it (blocks
    # side by side on several threads: in any order)
    expected_blocks = [best] * (1000 // best) + [1000 % best] * (1000 % best > 0)
    assert sorted(harvested[len(timed_blocks) :], reverse=True) == expected_blocks
    torch.testing.assert_close(features, expected, rtol=0, atol=1e-5)
    assert model.measured_block_widths == [best]


def test_a_harvest_that_speeds_up_over_its_first_blocks_does_not_keep_the_narrower_width(monkeypatch):
    # seconds per sequence: 64 is faster than 32 once warm, and every block is slower the earlier it comes
    steady, warming = {32: 1.0, 64: 0.9, 128: 2.0, 256: 4.0}, [2.0, 1.5, 1.0, 0.6, 0.3, 0.1]
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0)
    clock, harvested = {"now": 0.0}, []
    encode_block = model._encode_block

    def timed(block, matrices, workspace):
        extra = warming[len(harvested)] if len(harvested) < len(warming) else 0.0
        clock["now"] += len(block) * (steady.get(len(block), 0.0) + extra)
        harvested.append(len(block))
        return encode_block(block, matrices, workspace)

    monkeypatch.setattr(model, "_encode_block", timed)
    monkeypatch.setattr(harvest.time, "perf_counter", lambda: clock["now"])
    with torch.no_grad():
        model.encode(torch.randn(1000, 4, 8))
    assert model.measured_block_widths == [64]


def test_the_block_width_is_timed_once_per_set_of_candidate_widths(monkeypatch):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0)
    timed = []
    time_widths = harvest.BlockedHarvest.time_widths
    monkeypatch.setattr(
        harvest.BlockedHarvest,
        "time_widths",
        staticmethod(lambda x, *rest: timed.append(len(x)) or time_widths(x, *rest)),
    )
    with torch.no_grad():
        for batch in (100, 100, 50, 1024, 300, 1024):
            model.encode(torch.randn(batch, 4, 8))
    assert timed == [100, 50, 1024]  # wider than 256, every batch has the candidates 32-256: timed once


def test_measuring_block_widths_draws_nothing_from_torchs_random_generator():
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0)
    x = torch.randn(300, 4, 8)
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    with torch.no_grad():
        model.encode(x)
    assert torch.equal(torch.rand(3), expected)


def test_a_small_batch_is_one_block_and_pays_for_no_measurement(monkeypatch):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0, input_connectivity=0.1)
    monkeypatch.setattr(harvest.time, "perf_counter", lambda: pytest.fail("a batch of 32 timed a block width"))
    with torch.no_grad():
        assert model.encode(torch.randn(32, 4, 8)).shape == (32, 128)


@pytest.fixture
def two_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


def test_blocks_run_side_by_side_each_op_on_one_thread_and_give_the_bytes_of_a_one_thread_harvest(two_threads):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0, input_connectivity=0.1)
    model.block_width = 32
    calls, encode_block = [], model._encode_block
    together = threading.Barrier(2, timeout=10)  # the first two blocks must run at once, or this fails
    x = torch.randn(300, 4, 8)
    first_two = {x[0:32].data_ptr(), x[32:64].data_ptr()}

    def spy(block, matrices, workspace):
        calls.append((threading.current_thread().name, torch.get_num_threads(), id(workspace)))
        if block.data_ptr() in first_two:
            together.wait()
        return encode_block(block, matrices, workspace)

    with torch.no_grad():
        model._encode_block = spy
        side_by_side = model.encode(x)
        assert torch.get_num_threads() == 2  # restored
        model._encode_block = encode_block
        with ops_on_one_thread():
            one_thread = model.encode(x)
    names = {name for name, _, _ in calls}
    assert len(calls) == 10 and len(names) == 2 and "MainThread" not in names
    assert {threads for _, threads, _ in calls} == {1}
    assert len({workspace for _, _, workspace in calls}) == 2  # one workspace per thread, reused by its blocks
    assert torch.equal(side_by_side, one_thread)


def test_a_harvest_of_one_block_keeps_every_thread_for_its_ops(two_threads):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0, input_connectivity=0.1)
    model.block_width = 300
    calls, encode_block = [], model._encode_block

    def spy(block, matrices, workspace):
        calls.append((threading.current_thread().name, torch.get_num_threads()))
        return encode_block(block, matrices, workspace)

    model._encode_block = spy
    with torch.no_grad():
        model.encode(torch.randn(300, 4, 8))
    assert calls == [("MainThread", 2)]


def test_a_pass_that_sums_block_by_block_keeps_the_threads_and_the_blocks_order(two_threads):
    model = SimpleESN(input_size=8, reservoir_size=64, num_classes=3, seed=0, input_connectivity=0.1)
    x = torch.arange(300.0)[:, None, None].expand(300, 4, 8)
    seen = []
    with torch.no_grad():
        model.harvest(x, [(torch.eye(8), kernels.to_csr(torch.eye(8)))], lambda block, m, w: block[:, 0, 0],
                      consume=lambda first: seen.append((first, torch.get_num_threads())))  # fmt: skip
    assert torch.equal(torch.cat([first for first, _ in seen]), torch.arange(300.0))
    assert {threads for _, threads in seen} == {2}


def test_the_first_fit_on_a_machine_gives_the_state_pca_of_every_later_fit():
    """Timing the block width harvests blocks whose states are dropped: they must not reach the PCA."""
    x, y = torch.randn(600, 4, 8), torch.randint(0, 3, (600,))

    def fitted_pca():
        model = SimpleESN(8, 64, 3, seed=0, representation="model_space", reduced_size=4, input_connectivity=0.1)
        with torch.no_grad():
            model.fit_encoder([(x, y)])
        return model.pca.state_dict()

    first, later = fitted_pca(), fitted_pca()  # the first timed the width (a fresh cache per test)
    assert all(torch.equal(first[name], later[name]) for name in first)


def test_blocks_on_several_threads_come_back_in_their_order_and_a_failure_stops_them():
    def slow_first(item, workspace):
        time.sleep(0.02 * (item % 3 == 0))
        return item

    assert list(in_order(slow_first, range(20), threads=3)) == list(range(20))
    started = []

    def failing(item, workspace):
        started.append(item)
        if item == 3:
            raise RuntimeError("block 3 failed")
        return item

    with pytest.raises(RuntimeError, match="block 3 failed"):
        list(in_order(failing, range(1000), threads=2))
    assert len(started) < 20  # a few blocks ahead at most, not the batch


def test_run_writes_into_a_given_buffer_and_refuses_a_wrong_one():
    reservoir = reservoir_of(4, 20, seed=0)
    u = torch.randn(5, 4, 3)  # [T, F, B]
    out = torch.empty(5, 20, 3)
    assert reservoir.run(u, out=out) is out
    torch.testing.assert_close(out, reservoir.run(u))
    with pytest.raises(ValueError, match=r"out must be a contiguous tensor of shape \(5, 20, 3\)"):
        reservoir.run(u, out=torch.empty(5, 20, 4))


@pytest.mark.parametrize("shape", [(3, 4, 5), (64, 16, 512)], ids=["small", "blocked-transpose"])
@pytest.mark.parametrize("reverse", [False, True])
def test_inputs_turn_feature_major_in_reused_buffers_forward_or_time_reversed(shape, reverse):
    block = torch.randn(shape)  # [b, T, F]
    workspace = kernels.Workspace()
    inputs = kernels.feature_major(block, workspace, "inputs", reverse)
    expected = (block.flip(1) if reverse else block).permute(1, 2, 0)
    assert inputs.is_contiguous() and torch.equal(inputs, expected)
    assert kernels.feature_major(block * 2, workspace, "inputs", reverse).data_ptr() == inputs.data_ptr()


@pytest.mark.parametrize("leak_rate", [0.3, 1.0])
@pytest.mark.parametrize("input_format", ["csr", "dense", pytest.param("onednn", marks=needs_onednn)])
def test_half_states_are_the_states_shifted_and_halved_and_drive_a_reservoir_above_as_the_states_do(
    leak_rate, input_format
):
    below = reservoir_of(6, 40, leak_rate=leak_rate, seed=1)
    above = reservoir_of(40, 30, leak_rate=leak_rate, input_connectivity=1.0, seed=2)
    above.input_format = input_format
    u = torch.randn(7, 6, 5)  # [T, F, B]
    cpu = torch.device("cpu")
    states = below.run(u)
    half = below.run_half(u, below.recurrent_matrix(cpu), below.input_matrix(cpu), torch.empty(7, 40, 5))
    torch.testing.assert_close(2 * half - 1, states, rtol=0, atol=1e-6)
    driven = above.run_half(half, above.recurrent_matrix(cpu), above.input_matrix(cpu), torch.empty(7, 30, 5), True)
    torch.testing.assert_close(kernels.to_states(driven.clone()), above.run(states), rtol=0, atol=1e-5)
    again = above.run_half(half, above.recurrent_matrix(cpu), above.input_matrix(cpu), torch.empty(7, 30, 5), True)
    assert torch.equal(again, driven)  # the bias kept from the first call is the one computed there
    above.load_state_dict({**above.state_dict(), "bias": above.bias + 0.5})  # new weights: a new bias
    moved = above.run_half(half, above.recurrent_matrix(cpu), above.input_matrix(cpu), torch.empty(7, 30, 5), True)
    torch.testing.assert_close(kernels.to_states(moved), above.run(states), rtol=0, atol=1e-5)


def test_pooling_summarises_feature_major_states_per_sequence():
    states = torch.arange(24.0).reshape(3, 4, 2)  # [T=3, N=4, B=2]
    assert torch.equal(pool_states(states, "last"), states[-1].T)
    assert torch.equal(pool_states(states, "mean"), states.mean(0).T)
    assert torch.equal(pool_states(states, "last_mean"), torch.cat([states[-1].T, states.mean(0).T], 1))
    assert pool_states(states, "last_mean").shape == (2, 8)


def test_same_seed_same_reservoir_other_seed_other_reservoir():
    assert torch.equal(reservoir_of(4, 40, seed=7).W, reservoir_of(4, 40, seed=7).W)
    assert not torch.equal(reservoir_of(4, 40, seed=7).W, reservoir_of(4, 40, seed=8).W)


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


def test_a_ridge_at_the_end_of_its_grid_widens_the_grid_and_says_so_where_the_score_still_falls():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((200, 30)))
    noisy = _stats(x, torch.from_numpy(rng.integers(0, 2, 200)), 2)
    scores, edge = widened_gcv(noisy, grid=[1e-3, 1e-1, 10.0], widen=2)
    assert max(scores) == pytest.approx(10.0 * 10.0, rel=1e-9) and min(scores, key=scores.get) == max(scores)
    assert edge == "upper"  # pure noise: GCV falls all the way to the null model
    clean = _stats(x, (x[:, 0] > 0).long(), 2)
    scores, edge = widened_gcv(clean, grid=[1e-3, 1e-1, 10.0, 1e3, 1e5])
    assert edge == "" and sorted(scores) == [1e-3, 1e-1, 10.0, 1e3, 1e5]  # a minimum inside: nothing added


def test_only_the_readout_counts_as_trainable():
    esn = SimpleESN(input_size=16, reservoir_size=50, num_classes=5, representation="last_mean")
    assert esn.trainable_parameters() == (2 * 50 + 1) * 5
    assert esn.total_parameters() == (2 * 50 + 1) * 5 + 16 * 50 + 50 * 50 + 50
    deep = DeepESN(input_size=16, reservoir_size=20, num_classes=5, num_reservoirs=3, representation="last")
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
    torch.testing.assert_close(deep.encode(x), expected, rtol=0, atol=1e-6)  # float32: two orders of rounding


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
        ("DeepESN", {"num_layers": 2}, r"does not accept these arguments \(num_layers; it takes .*num_reservoirs"),
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


def test_a_deep_esn_of_one_reservoir_is_a_simple_esn():
    x = torch.randn(5, 4, 6)
    assert len(DeepESN(input_size=6, reservoir_size=20, num_classes=2, num_reservoirs=2, seed=3).layers) == 2
    single = DeepESN(input_size=6, reservoir_size=20, num_classes=2, num_reservoirs=1, seed=3)
    assert torch.equal(single.encode(x), SimpleESN(input_size=6, reservoir_size=20, num_classes=2, seed=3).encode(x))


def test_a_leaky_reservoirs_effective_radius_and_its_memory_follow_the_equation():
    from echoes.models.esn_probes import effective_spectral_radius, memory_capacity

    def esn(**params):
        return SimpleESN(4, reservoir_size=50, num_classes=2, input_connectivity=1.0, **params)

    leaky = esn(spectral_radius=0.9, leak_rate=0.5)
    w = leaky.reservoir.W.double().numpy()
    expected = max(abs(np.linalg.eigvals(0.5 * np.eye(50) + 0.5 * w)))
    assert effective_spectral_radius(leaky) == pytest.approx([expected], rel=1e-9)
    assert effective_spectral_radius(esn(spectral_radius=0.9, leak_rate=1.0)) == pytest.approx([0.9], rel=1e-6)
    short, long = (memory_capacity(esn(spectral_radius=r, leak_rate=1.0, input_scaling=0.05))[0] for r in (0.1, 0.95))
    assert 0 < short < long <= 50  # a reservoir nearer the edge of stability remembers longer, never beyond N


def _rewired(units: int, w: np.ndarray, w_in: np.ndarray) -> SimpleESN:
    """A one-reservoir ESN whose weights are set by hand (no bias), for probes with known answers."""
    esn = SimpleESN(4, reservoir_size=units, num_classes=2, leak_rate=1.0, bias_scaling=0.0)
    layer = esn.layers[0]
    layer.W.copy_(torch.from_numpy(w))
    layer.W_in.copy_(torch.from_numpy(w_in))
    layer.forget_recurrent_matrix()
    return esn


def test_memory_capacity_of_a_delay_line_is_its_length_and_of_a_reservoir_without_input_zero():
    """Known answers: unit j of a shift register holds u(t - j) (tanh is linear at this scale), so
    delays 1..N-1 are recalled exactly (delay 0, the input itself, does not count): MC = N - 1."""
    from echoes.models.esn_probes import memory_capacity

    units = 12
    shift = np.eye(units, k=1, dtype=np.float32)  # (state @ W)_j = state_{j-1}
    w_in = np.zeros((4, units), dtype=np.float32)
    w_in[:, 0] = 0.01 / 4  # u(t) reaches unit 0 alone, summed over the 4 identical inputs
    # delays up to 2N: each delay it cannot recall adds only the held-out r^2 of chance (~1/2000)
    assert memory_capacity(_rewired(units, shift, w_in), max_delay=2 * units)[0] == pytest.approx(units - 1, abs=0.02)
    silent = _rewired(units, 0.9 * shift, np.zeros((4, units), dtype=np.float32))
    assert memory_capacity(silent)[0] == 0.0
