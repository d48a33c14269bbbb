"""Benchmark: Echoes' ESN harvest against this machine's roofline, like-for-like against ReservoirPy,
and ESN vs LSTM training time to convergence.

    .venv/bin/pip install "reservoirpy>=0.4,<0.5"     # optional, for the comparison part
    .venv/bin/python benchmarks/esn_speed.py [--parts roofline reservoirpy features ucf101-sized]

Every part prints the machine first: CPU model, threads, and the fp32 GEMM rate measured in the
same run (torch.matmul, and oneDNN's, the kernel behind PyTorch's CPU LSTM).

``roofline`` (random workload: 2,000 sequences x 32 steps x 512 features, W 10 % connected, W_in
dense and 10 % connected): the time a perfect implementation would need on this machine, i.e.
the input product at the measured rate of the fastest of the dense GEMM (``torch.matmul``, and on
CPU oneDNN with the weight prepacked) and the CSR product for that W_in, plus the recurrent
product at the measured rate of the fastest for that W (each rate measured in this run on the
product's own matrix, the CSR rate at the best of several block widths, every rate the better of
one product at a time on all threads and one per thread side by side), beside Echoes' harvest
(pooled last states) and the block width it measured and used. Harvest and bound are measured in turn,
``--repeats`` times; the table gives their medians and the median of the per-repeat ratios. A second
bound adds the nonlinearity's floor: one in-place sigmoid of every state at the fastest rate measured
over the block widths (the work no harvest can skip, which the products alone leave out).

``reservoirpy`` (same workload, 101 classes, last state -> ridge readout with a fixed ridge):
Echoes' harvest + readout (float32) against ReservoirPy 0.4's ``Reservoir`` + ``Ridge``, given
Echoes' own ``W``, ``W_in`` and bias (so both have the same densities, sparse where ReservoirPy
would make them sparse), in float64 and in float32. ReservoirPy runs the 3-D array one sequence at
a time, as it works (``workers`` 1, its default). The table prints the largest difference between
the two libraries' last states: the check that both compute the same thing. Neither side's weight
drawing is timed.

``features``: SimpleESN vs SimpleRNN, trained as the workflow trains them (config.yaml's
``training:`` and model params), on the workflow's features (run the workflow first).

``ucf101-sized`` is a **speed workload, not accuracy evidence**: the same two models on generated
features the size of UCF101 split 1 (101 classes x 25 groups x 4-7 clips, groups 1-7 for test,
16 steps x 512 features), timed to convergence. Classes come in time-reversed pairs: class 2k
moves from key feature a_k to b_k, class 2k+1 from b_k to a_k; each group adds a fixed offset,
each frame noise. That per-(class, group) offset is a static shortcut which a readout on
``last - mean`` pooled states cancels and an LSTM without clip-mean normalisation does not, and
the key-feature scale was calibrated on the ESN's accuracy alone: so the part prints no accuracy.
These are not real UCF101 features; they only make the data as large as UCF101's, which is what
the ESN's one-pass fit and the LSTM's epochs scale with. The workflow's fair comparison (tuning on
validation, several seeds, controls) is ``results/comparison.md``. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import scipy.sparse
import torch
import yaml

from echoes.contracts.records import FeatureAttrs
from echoes.devices import median_seconds, set_threads, synchronize
from echoes.models import esn_kernels as esn
from echoes.models.esn import SimpleESN
from echoes.models.harvest import ops_on_one_thread
from echoes.training.data import SplitData, load_split
from echoes.training.job import train_on_split
from echoes.training.spec import RunSpec, TrainingConfig

#: What generated features are: no dataset, no CNN.
GENERATED = FeatureAttrs(dataset="generated", weights="none (generated features)", frames_per_clip=16)

RIDGE = 1e-2
CPU = torch.device("cpu")
STEPS, FEATURES = 32, 512
ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(n: int = 2048, device: torch.device = CPU) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return 2 * n**3 / median_seconds(lambda: a @ b, device=device) / 1e9


def onednn_gflops(n: int = 2048) -> float | None:
    """fp32 GEMM rate of oneDNN (PyTorch's CPU LSTM kernel), operands already in its layout."""
    if not torch.backends.mkldnn.is_available():
        return None
    a, b = torch.randn(n, n).to_mkldnn(), torch.randn(n, n).to_mkldnn()
    return 2 * n**3 / median_seconds(lambda: torch._C._nn.mkldnn_linear(a, b, None)) / 1e9


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_line(threads: int, device: torch.device) -> str:
    onednn = onednn_gflops()
    onednn_text = f", oneDNN {onednn:.0f} GFLOP/s (the CPU LSTM's kernel)" if onednn else ""
    line = (
        f"machine: {cpu_model()}, {os.cpu_count()} logical CPUs, {threads} threads, torch {torch.__version__}; "
        f"fp32 GEMM torch.matmul {matmul_gflops():.0f} GFLOP/s{onednn_text}"
    )
    if device.type == "cuda":
        line += f"; GPU {torch.cuda.get_device_name(device)}, fp32 GEMM {matmul_gflops(8192, device):.0f} GFLOP/s"
    return line


def benchmark_esn(units: int, input_connectivity: float = 1.0, device: torch.device = CPU) -> SimpleESN:
    model = SimpleESN(
        FEATURES,
        units,
        101,
        spectral_radius=0.9,
        sparsity=0.9,
        leak_rate=0.3,
        input_scaling=0.1,
        ridge=RIDGE,
        representation="last",
        input_connectivity=input_connectivity,
    )
    return model.to(device)


def print_header(*columns: str) -> None:
    """A Markdown table's header row and rule."""
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def workload(sequences: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.standard_normal((sequences, STEPS, FEATURES)).astype(np.float32), rng.integers(0, 101, sequences)


def harvest_seconds(model: SimpleESN, x: torch.Tensor, batch: int) -> float:
    """Seconds to harvest pooled states, in batches of ``batch``, with the forms Echoes picks."""
    synchronize(x.device)
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model.encode(x[i : i + batch])
    synchronize(x.device)
    return time.perf_counter() - start


def per_second(work: float, make_call: Callable[[], Callable[[], object]], device: torch.device, repeats: int) -> float:
    """Work per second of the calls ``make_call`` builds (each on its own operands, ``work`` per call):
    the faster of one call at a time on all of PyTorch's threads and, on CPU with several threads,
    one call per thread side by side, every op on one thread, as the harvest runs its blocks
    (:mod:`echoes.models.harvest`)."""
    rate = work / median_seconds(make_call(), repeats, device)
    threads = torch.get_num_threads()
    if device.type != "cpu" or threads == 1:
        return rate
    calls = [make_call() for _ in range(threads)]
    with ops_on_one_thread(), ThreadPoolExecutor(threads) as pool:  # its threads start with one op thread
        wall = median_seconds(lambda: list(pool.map(lambda call: call(), calls)), repeats)
    return max(rate, threads * work / wall)


def products(matrix_t: torch.Tensor, columns: int, count: int = 16) -> Callable[[], Callable[[], object]]:
    """Builds calls of ``count`` products of ``matrix_t`` with one ``columns``-wide operand of their
    own (a block's steps: enough work per call that starting a thread does not count)."""

    def make_call() -> Callable[[], object]:
        x = torch.randn(matrix_t.shape[1], columns, device=matrix_t.device)
        return lambda: [matrix_t @ x for _ in range(count)]

    return make_call


def product_seconds(matrix_t: torch.Tensor, columns: int) -> float:
    """Seconds a perfect implementation spends on ``matrix_t @ X`` for ``columns`` columns in all:
    the fastest of the dense GEMM (as 4096-column products, by ``torch.matmul`` and, on CPU, by
    oneDNN with the weight prepacked) and the CSR product (at its best block width), each on all
    threads at once or one per thread side by side, whichever is faster (:func:`per_second`)."""
    device, nonzeros = matrix_t.device, int(torch.count_nonzero(matrix_t))
    dense_rate = per_second(2 * matrix_t.numel() * 4096, products(matrix_t, 4096, 1), device, 5)
    if device.type == "cpu" and esn.onednn_available():
        packed, linear = esn.to_onednn(matrix_t), torch.ops.mkldnn._linear_pointwise

        def make_call() -> Callable[[], object]:
            rows = torch.randn(4096, matrix_t.shape[1])
            return lambda: linear(rows, packed, None, "none", [], "")

        dense_rate = max(dense_rate, per_second(2 * matrix_t.numel() * 4096, make_call, device, 5))
    csr = esn.to_csr(matrix_t)
    csr_rate = max(
        per_second(2 * nonzeros * width * 16, products(csr, width), device, 9) for width in (32, 64, 128, 256, 512)
    )
    return min(2 * matrix_t.numel() * columns / dense_rate, 2 * nonzeros * columns / csr_rate)


def activation_seconds(units: int, columns: int, device: torch.device) -> float:
    """Seconds a perfect implementation spends on the nonlinearity: one in-place sigmoid (Echoes' tanh
    is 2 sigmoid(2z) - 1) of every state, ``units`` x ``columns`` values, at the fastest rate measured
    over the block widths a harvest may use, all threads at once or side by side (the leak and
    pooling are left out: the floor, not an estimate)."""

    def sigmoids(width: int) -> Callable[[], Callable[[], object]]:
        def make_call() -> Callable[[], object]:
            block = torch.randn(units, width, device=device)
            return lambda: [block.sigmoid_() for _ in range(16)]

        return make_call

    rate = max(per_second(units * width * 16, sigmoids(width), device, 25) for width in (32, 64, 128, 256, 1024))
    return units * columns / rate


def block_widths(model: SimpleESN) -> str:
    """The block widths the model's harvests chose (one per set of candidate widths it met)."""
    return ", ".join(map(str, model.measured_block_widths)) or "whole batch"


def part_roofline(
    sequences: int, units_list: list[int], batch: int, repeats: int, connectivities: list[float], device: torch.device
) -> None:
    x, _ = workload(sequences)
    xt = torch.from_numpy(x).to(device)
    columns = sequences * STEPS
    print(
        f"\nRoofline: {sequences} sequences x {STEPS} steps x {FEATURES} features, W 10 % connected, harvest batches "
        f"of {batch}; bound = input product + recurrent product at the rates measured here (medians of {repeats} "
        "interleaved runs; the ratio is the median of the per-run ratios)\n"
    )
    print_header(
        "units", "W_in connectivity", "forms (W_in, W)", "block width", "input product (s)", "recurrent product (s)",
        "bound (s)", "Echoes harvest (s)", "harvest / bound", "activation (s)", "harvest / (bound + activation)",
    )  # fmt: skip
    for units in units_list:
        for connectivity in connectivities:
            model = benchmark_esn(units, connectivity, device)
            reservoir = model.reservoir
            forms = ", ".join(
                "CSR" if matrix.is_sparse_csr else "oneDNN" if matrix.is_mkldnn else "dense"
                for matrix in (reservoir.input_matrix(xt.device), reservoir.recurrent_matrix(xt.device))
            )
            w_in_t, w_t = reservoir.W_in.T.contiguous(), reservoir.W.T.contiguous()
            ratios, with_activation, harvests, input_bounds, recurrent_bounds, activations = [], [], [], [], [], []
            for _ in range(repeats):  # interleaved, so that a slow spell of the host hits harvest and bound alike
                harvests.append(harvest_seconds(model, xt, batch))
                input_bounds.append(product_seconds(w_in_t, columns))
                recurrent_bounds.append(product_seconds(w_t, columns))
                activations.append(activation_seconds(units, columns, device))
                ratios.append(harvests[-1] / (input_bounds[-1] + recurrent_bounds[-1]))
                with_activation.append(harvests[-1] / (input_bounds[-1] + recurrent_bounds[-1] + activations[-1]))
            harvest, input_bound, recurrent_bound, activation = map(
                statistics.median, (harvests, input_bounds, recurrent_bounds, activations)
            )
            print(
                f"| {units} | {connectivity:g} | {forms} | {block_widths(model)} | {input_bound:.2f} "
                f"| {recurrent_bound:.2f} | {input_bound + recurrent_bound:.2f} | {harvest:.2f} "
                f"| {statistics.median(ratios):.2f}x | {activation:.2f} | {statistics.median(with_activation):.2f}x |",
                flush=True,
            )


def echoes_fit(model: SimpleESN, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    """Seconds for harvest + ridge readout, with the forms Echoes picks."""
    synchronize(x.device)
    start = time.perf_counter()
    model.fit((x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch))
    synchronize(x.device)
    return time.perf_counter() - start


def as_reservoirpy_matrix(matrix_t: torch.Tensor, dtype: type) -> np.ndarray | scipy.sparse.csr_matrix:
    """Echoes' ``W^T`` or ``W_in^T`` as ReservoirPy takes them: sparse (CSR) where ReservoirPy's own
    initialisers would make them sparse (below full connectivity), else dense."""
    array = matrix_t.double().cpu().numpy().astype(dtype)
    return scipy.sparse.csr_matrix(array) if np.count_nonzero(array) < array.size else array


def reservoirpy_node(model: SimpleESN, dtype: type):  # noqa: ANN201 - reservoirpy is optional
    from reservoirpy.nodes import Reservoir

    reservoir = model.reservoir
    return Reservoir(
        reservoir.units,
        lr=reservoir.leak_rate,
        W=as_reservoirpy_matrix(reservoir.W.T, dtype),
        Win=as_reservoirpy_matrix(reservoir.W_in.T, dtype),
        bias=reservoir.bias.double().cpu().numpy().astype(dtype),
        dtype=dtype,
    )


def reservoirpy_fit(model: SimpleESN, x: np.ndarray, y: np.ndarray, dtype: type) -> float:
    from reservoirpy.nodes import Ridge

    node, readout = reservoirpy_node(model, dtype), Ridge(ridge=RIDGE)
    node.initialize(x[0])  # untimed, as Echoes' constructor is
    start = time.perf_counter()
    states = node.run(x)  # 3-D input: [T, units] states, one sequence at a time
    readout.fit(np.stack([s[-1] for s in states]), np.eye(101)[y])
    return time.perf_counter() - start


def last_state_difference(model: SimpleESN, x: np.ndarray) -> float:
    """Largest |Echoes - ReservoirPy (float64)| over the last states of a few sequences."""
    node = reservoirpy_node(model, np.float64)
    node.initialize(x[0])
    theirs = np.stack([s[-1] for s in node.run(x)])
    with torch.no_grad():
        inputs = torch.from_numpy(x).to(model.reservoir.W.device).permute(1, 2, 0)
        ours = model.reservoir.run(inputs)[-1].T.double().cpu().numpy()
    return float(np.abs(theirs - ours).max())


def part_reservoirpy(
    sequences: int, units_list: list[int], batch: int, repeats: int, connectivities: list[float], device: torch.device
) -> None:
    try:
        import reservoirpy
    except ImportError:
        print('\n(reservoirpy not installed: .venv/bin/pip install "reservoirpy>=0.4,<0.5" for the comparison)')
        return
    x, y = workload(sequences)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y)
    print(
        f"\nLike-for-like against ReservoirPy {reservoirpy.__version__}: {sequences} sequences x {STEPS} steps x "
        f"{FEATURES} features, 101 classes, the same W (10 % connected), W_in and bias on both sides, last state -> "
        f"ridge readout; each time the median of {repeats} interleaved runs, speed-up = ratio of the medians\n"
    )
    print_header(
        "units", "W_in connectivity", "Echoes fp32 (s)", "ReservoirPy fp64 (s)", "ReservoirPy fp32 (s)",
        "speed-up vs fp64", "vs fp32", "max abs diff of last states",
    )  # fmt: skip
    for units in units_list:
        for connectivity in connectivities:
            model = benchmark_esn(units, connectivity, device)
            runs: dict[str, list[float]] = {"echoes": [], "float64": [], "float32": []}
            for _ in range(repeats):  # interleaved, so that a busy spell of the host hits every column
                runs["echoes"].append(echoes_fit(model, xt, yt, batch))
                runs["float64"].append(reservoirpy_fit(model, x, y, np.float64))
                runs["float32"].append(reservoirpy_fit(model, x, y, np.float32))
            ours, f64, f32 = (statistics.median(runs[key]) for key in ("echoes", "float64", "float32"))
            difference = last_state_difference(model, x[:64])
            print(
                f"| {units} | {connectivity:g} | {ours:.2f} | {f64:.2f} | {f32:.2f} | {f64 / ours:.1f}x "
                f"| {f32 / ours:.1f}x | {difference:.1e} |",
                flush=True,
            )


def workflow_settings() -> tuple[dict, dict]:
    """config.yaml's ``training:`` and its SimpleESN / SimpleRNN params, as the workflow runs them."""
    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    models = config["models"]
    return config["training"], {name: models[name].get("params", {}) for name in ("SimpleESN", "SimpleRNN")}


def print_esn_vs_lstm(rows: list[dict], show_accuracy: bool) -> None:
    accuracy = " test top-1 |" if show_accuracy else ""
    print(f"| model | time to convergence (s) | convergence epoch | total training time (s) |{accuracy}")
    print("|---|---|---|---|" + ("---|" if show_accuracy else ""))
    for m in rows:
        cell = f" {100 * m['accuracy_top1']:.1f} % |" if show_accuracy else ""
        print(
            f"| {m['model']} | {m['time_to_convergence_s']:.2f} | {m['convergence_epoch']} | "
            f"{m['train_time_s']:.2f} |{cell}"
        )
    esn_row, lstm_row = rows
    print(
        f"\nSimpleESN vs SimpleRNN: {lstm_row['time_to_convergence_s'] / esn_row['time_to_convergence_s']:.1f}x "
        f"faster to convergence, {lstm_row['train_time_s'] / esn_row['train_time_s']:.1f}x faster in total training"
    )


def esn_vs_lstm(data: SplitData, threads: int, show_accuracy: bool = True) -> None:
    training, params = workflow_settings()
    rows = [
        train_on_split(
            data, RunSpec.from_config(name, {"class": name, "params": params[name]}, training, threads=threads)
        )[0]
        for name in ("SimpleESN", "SimpleRNN")
    ]
    print_esn_vs_lstm(rows, show_accuracy)


def part_features(features: Path, threads: int) -> None:
    if not features.is_file():
        print(f"\n(no {features}: run the workflow first for the ESN vs LSTM part)")
        return
    print(f"\nTraining on {features} (split 1, seed 0; config.yaml's training settings and model params)\n")
    esn_vs_lstm(load_split(features, features.parent / "manifest.tsv", 1), threads)


def ucf101_sized_split(seed: int = 0, steps: int = 16, dim: int = 512, key_scale: float = 0.15) -> SplitData:
    """Generated clips the size of UCF101 split 1; see the module docstring."""
    rng = np.random.default_rng(seed)
    pairs = [(rng.normal(0, key_scale, dim), rng.normal(0, key_scale, dim)) for _ in range(51)]
    ends = [ends for a, b in pairs for ends in ((a, b), (b, a))][:101]
    ramp = np.linspace(0.0, 1.0, steps)[:, None]
    xs, ys, groups = [], [], []
    for label, (start, end) in enumerate(ends):
        for group in range(1, 26):
            offset = rng.normal(0, 0.5, dim)
            for _ in range(rng.integers(4, 8)):
                xs.append((1 - ramp) * start + ramp * end + offset + rng.standard_normal((steps, dim)))
                ys.append(label)
                groups.append(group)
    x = torch.from_numpy(np.stack(xs).astype(np.float32))
    y, groups = torch.tensor(ys), np.array(groups)
    test = groups <= 7
    classes = [f"class{c:03d}" for c in range(101)]
    return SplitData(x[~test], y[~test], groups[~test], x[test], y[test], groups[test], classes, GENERATED)


def part_ucf101_sized(threads: int) -> None:
    data = ucf101_sized_split()
    print(
        f"\nSpeed workload (generated, UCF101-sized; not accuracy evidence): {len(data.train_x)} training and "
        f"{len(data.test_x)} test clips, 16 steps x 512, 101 classes (config.yaml's training settings and model "
        "params, no tuning grid)\n"
    )
    esn_vs_lstm(data, threads, show_accuracy=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["roofline", "reservoirpy", "features", "ucf101-sized"],
        default=["roofline", "reservoirpy", "features"],
    )
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 2000], help="reservoir sizes (ReservoirPy part)")
    parser.add_argument(
        "--roofline-units", type=int, nargs="+", default=[1000, 2000, 4000], help="reservoir sizes (roofline part)"
    )
    parser.add_argument(
        "--input-connectivity", type=float, nargs="+", default=[1.0, 0.1], help="W_in densities to measure"
    )
    parser.add_argument(
        "--batch", type=int, default=TrainingConfig.harvest_batch_size, help="clips per harvest pass (the workflow's)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each fit and harvest; medians are printed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], help="where Echoes runs (default: cuda if present)")
    parser.add_argument("--features", type=Path, default=ROOT / "data" / "synthetic" / "features.h5")
    args = parser.parse_args()
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(machine_line(set_threads(args.threads), device))
    print(f"Echoes runs on: {device}")
    if "roofline" in args.parts:
        part_roofline(args.sequences, args.roofline_units, args.batch, args.repeats, args.input_connectivity, device)
    if "reservoirpy" in args.parts:
        part_reservoirpy(args.sequences, args.units, args.batch, args.repeats, args.input_connectivity, device)
    if "features" in args.parts:
        part_features(args.features, args.threads)
    if "ucf101-sized" in args.parts:
        part_ucf101_sized(args.threads)


if __name__ == "__main__":
    main()
