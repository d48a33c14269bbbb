"""Benchmark: Echoes' batched ESN vs ReservoirPy, its harvest kernels against the machine's matmul
rate, and ESN vs LSTM training time to convergence.

    .venv/bin/pip install "reservoirpy>=0.4,<0.5"     # optional, for the comparison column
    .venv/bin/python benchmarks/esn_speed.py [--parts reservoirpy features ucf101-sized]

``reservoirpy`` (same random workload for both: 2,000 sequences x 32 steps x 512 features, 101
classes, 10 % connectivity, last state -> ridge readout with a fixed ridge): Echoes' harvest +
readout vs ReservoirPy 0.4's ``Reservoir`` run on the 3-D array (one sequence at a time, as it
works) + ``Ridge`` on the last states, as in its classification tutorial. Neither side's weight
drawing is timed (ReservoirPy's ``initialize`` runs before the clock, as Echoes' constructor
does). Then Echoes' harvest with the dense and the CSR recurrent kernel, in GFLOP/s performed,
beside the dense matmul rate.

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
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from echoes.devices import set_threads
from echoes.models import esn
from echoes.models.esn import SimpleESN
from echoes.training import SplitData, TrainingConfig, load_split, train_on_split

RIDGE = 1e-2
KERNEL_LABELS = {"dense": "dense, whole batch", "csr": "CSR, cache-sized blocks"}
ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def benchmark_esn(units: int) -> SimpleESN:
    return SimpleESN(
        512,
        units,
        101,
        spectral_radius=0.9,
        sparsity=0.9,
        leak_rate=0.3,
        input_scaling=0.1,
        ridge=RIDGE,
        pooling="last",
    )


def echoes_fit(x: torch.Tensor, y: torch.Tensor, units: int, batch: int) -> float:
    """Seconds for harvest + ridge readout, with the kernel Echoes picks."""
    model = benchmark_esn(units)
    start = time.perf_counter()
    model.fit((x[i : i + batch], y[i : i + batch]) for i in range(0, len(x), batch))
    return time.perf_counter() - start


def harvest_seconds(model: SimpleESN, x: torch.Tensor, batch: int, kernel: str) -> float:
    """Seconds to harvest pooled states with the ``dense`` or the ``csr`` kernel (its build included)."""
    model.reservoir.recurrent_format = kernel
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(x), batch):
            model.encode(x[i : i + batch])
    return time.perf_counter() - start


def reservoirpy_fit(x: np.ndarray, y: np.ndarray, units: int) -> float | None:
    try:
        from reservoirpy.nodes import Reservoir, Ridge
    except ImportError:
        return None
    reservoir = Reservoir(units, sr=0.9, lr=0.3, input_scaling=0.1, rc_connectivity=0.1, seed=0)
    readout = Ridge(ridge=RIDGE)
    reservoir.initialize(x[0])  # draws W and its spectral radius, untimed as Echoes' constructor is
    start = time.perf_counter()
    states = reservoir.run(x)  # 3-D input: a list of [T, units] state arrays, one sequence at a time
    last = np.stack([s[-1] for s in states])
    readout.fit(last, np.eye(101)[y])
    return time.perf_counter() - start


def part_reservoirpy(sequences: int, units_list: list[int], batch: int, repeats: int) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((sequences, 32, 512)).astype(np.float32)
    y = rng.integers(0, 101, sequences)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    print(f"\n{sequences} sequences x 32 steps x 512 features, 101 classes, last state -> ridge readout")
    print(f"(each time the median of {repeats} interleaved runs; the speed-up is the ratio of the medians)\n")
    print("| units | Echoes harvest + readout (s) | ReservoirPy 0.4 (s) | speed-up |")
    print("|---|---|---|---|")
    for units in units_list:
        ours, theirs = [], []
        for _ in range(repeats):
            ours.append(echoes_fit(xt, yt, units, batch))
            theirs.append(reservoirpy_fit(x, y, units))
        mine = statistics.median(ours)
        if None in theirs:
            print(f"| {units} | {mine:.2f} | – | n/a (reservoirpy not installed) |", flush=True)
            continue
        other = statistics.median(theirs)
        print(f"| {units} | {mine:.2f} | {other:.2f} | {other / mine:.1f}x |", flush=True)

    print(
        f"\nHarvest only (batches of {batch}, median of {repeats} interleaved runs); "
        f"dense fp32 matmul on this machine: {matmul_gflops():.0f} GFLOP/s\n"
    )
    print("| units | recurrent kernel | harvest (s) | GFLOP/s performed | dense-equivalent GFLOP/s |")
    print("|---|---|---|---|---|")
    n, t, d = x.shape
    for units in units_list:
        model = benchmark_esn(units)
        nonzeros = {"dense": units * units, "csr": int(torch.count_nonzero(model.reservoir.W))}
        default = "csr" if esn.prefers_csr(model.reservoir.W, xt.device) else "dense"
        runs = {"dense": [], "csr": []}
        for _ in range(repeats):  # interleaved, so that a busy spell of the host hits both kernels
            for kernel, measured in runs.items():
                measured.append(harvest_seconds(model, xt, batch, kernel))
        for kernel, measured in runs.items():
            seconds = statistics.median(measured)
            performed = 2 * n * t * (d * units + nonzeros[kernel]) / seconds / 1e9
            dense_equivalent = 2 * n * t * (d * units + units * units) / seconds / 1e9
            label = KERNEL_LABELS[kernel] + (" (default)" if kernel == default else "")
            print(f"| {units} | {label} | {seconds:.2f} | {performed:.0f} | {dense_equivalent:.0f} |", flush=True)


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
            data,
            name=name,
            model_class=name,
            model_params=params[name],
            training=training,
            split=1,
            seed=0,
            threads=threads,
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
    return SplitData(x[~test], y[~test], groups[~test], x[test], y[test], groups[test], classes, {"generated": 1})


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
        "--parts", nargs="+", choices=["reservoirpy", "features", "ucf101-sized"], default=["reservoirpy", "features"]
    )
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument(
        "--batch", type=int, default=TrainingConfig.harvest_batch_size, help="clips per harvest pass (the workflow's)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs of each fit and harvest; medians are printed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--features", type=Path, default=ROOT / "data" / "synthetic" / "features.h5")
    args = parser.parse_args()
    print(f"threads: {set_threads(args.threads)}; torch {torch.__version__}")
    if "reservoirpy" in args.parts:
        part_reservoirpy(args.sequences, args.units, args.batch, args.repeats)
    if "features" in args.parts:
        part_features(args.features, args.threads)
    if "ucf101-sized" in args.parts:
        part_ucf101_sized(args.threads)


if __name__ == "__main__":
    main()
