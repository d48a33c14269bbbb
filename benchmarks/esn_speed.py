"""Benchmark: Echoes' batched ESN vs ReservoirPy, the machine's matmul bound, and ESN vs LSTM training.

    .venv/bin/pip install "reservoirpy>=0.4,<0.5"     # optional, for the comparison column
    .venv/bin/python benchmarks/esn_speed.py [--features data/synthetic/features.h5]

Part 1 (same random workload for both: sequences x 32 steps x 512 features, 101 classes, 10 %
connectivity, last state -> ridge readout): Echoes' harvest + readout vs ReservoirPy 0.4's
``Reservoir`` run on the 3-D array (one sequence at a time, as it works) + ``Ridge`` on the last
states, as in its classification tutorial. Part 2: SimpleESN vs SimpleRNN wall-clock training time
to convergence on the workflow's features. Prints tables; asserts nothing.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from echoes.models.esn import SimpleESN
from echoes.training import TrainingConfig
from echoes.utils import set_threads

RIDGE = 1e-2


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return 2 * n**3 / statistics.median(times) / 1e9


def echoes_fit(x: np.ndarray, y: np.ndarray, units: int, batch: int) -> tuple[float, float]:
    """Seconds for harvest + ridge readout, and the harvest's achieved GFLOP/s."""
    model = SimpleESN(
        x.shape[2],
        units,
        101,
        spectral_radius=0.9,
        sparsity=0.9,
        leak_rate=0.3,
        input_scaling=0.1,
        ridge=RIDGE,
        pooling="last",
    )
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    # The harvest is timed alone for its GFLOP/s; fit() below harvests again, timed as the whole fit.
    start = time.perf_counter()
    with torch.no_grad():
        for i in range(0, len(xt), batch):
            model.reservoir(xt[i : i + batch])
    harvest = time.perf_counter() - start
    start = time.perf_counter()
    model.fit((xt[i : i + batch], yt[i : i + batch]) for i in range(0, len(xt), batch))
    total = time.perf_counter() - start
    n, t, d = x.shape
    flops = 2 * n * t * (d * units + units * units)
    return total, flops / harvest / 1e9


def reservoirpy_fit(x: np.ndarray, y: np.ndarray, units: int) -> float | None:
    try:
        from reservoirpy.nodes import Reservoir, Ridge
    except ImportError:
        return None
    reservoir = Reservoir(units, sr=0.9, lr=0.3, input_scaling=0.1, rc_connectivity=0.1, seed=0)
    readout = Ridge(ridge=RIDGE)
    start = time.perf_counter()
    states = reservoir.run(x)  # 3-D input: a list of [T, units] state arrays, one sequence at a time
    last = np.stack([s[-1] for s in states])
    readout.fit(last, np.eye(101)[y])
    return time.perf_counter() - start


def esn_vs_lstm(features: Path, threads: int) -> list[tuple[str, float, float, float]]:
    from echoes.training import train_and_evaluate

    manifest = features.parent / "manifest.tsv"
    rows = []
    for name, params in (("SimpleESN", {"reservoir_size": 1000}), ("SimpleRNN", {"hidden_size": 256})):
        metrics, _ = train_and_evaluate(
            features,
            manifest,
            name=name,
            model_class=name,
            model_params=params,
            training={"max_epochs": 100, "batch_size": 32, "patience": 15},
            split=1,
            seed=0,
            threads=threads,
        )
        rows.append((name, metrics["time_to_convergence_s"], metrics["train_time_s"], metrics["accuracy_top1"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sequences", type=int, default=2000)
    parser.add_argument("--units", type=int, nargs="+", default=[1000, 2000])
    parser.add_argument(
        "--batch", type=int, default=TrainingConfig.harvest_batch_size, help="clips per harvest pass (the workflow's)"
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--features", type=Path, default=Path("data/synthetic/features.h5"))
    args = parser.parse_args()
    threads = set_threads(args.threads)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.sequences, 32, 512)).astype(np.float32)
    y = rng.integers(0, 101, args.sequences)

    print(f"threads: {threads}; dense fp32 matmul: {matmul_gflops():.0f} GFLOP/s")
    print(f"\n{args.sequences} sequences x 32 steps x 512 features, 101 classes, last state -> ridge readout\n")
    print("| units | Echoes (s) | harvest GFLOP/s | ReservoirPy 0.4 (s) | speed-up |")
    print("|---|---|---|---|---|")
    for units in args.units:
        ours, gflops = echoes_fit(x, y, units, args.batch)
        theirs = reservoirpy_fit(x, y, units)
        speedup = f"{theirs / ours:.1f}x" if theirs else "n/a (reservoirpy not installed)"
        print(
            f"| {units} | {ours:.2f} | {gflops:.0f} | {theirs:.2f} | {speedup} |"
            if theirs
            else f"| {units} | {ours:.2f} | {gflops:.0f} | – | {speedup} |",
            flush=True,
        )

    if args.features.is_file():
        print(f"\nTraining on {args.features} (split 1, seed 0)\n")
        print("| model | time to convergence (s) | total training time (s) | test top-1 |")
        print("|---|---|---|---|")
        rows = esn_vs_lstm(args.features, threads)
        for name, converge, total, acc in rows:
            print(f"| {name} | {converge:.2f} | {total:.2f} | {100 * acc:.1f} % |")
        print(
            f"\nSimpleESN vs SimpleRNN: {rows[1][1] / rows[0][1]:.1f}x faster to convergence, "
            f"{rows[1][2] / rows[0][2]:.1f}x faster in total training time"
        )
    else:
        print(f"\n(no {args.features}: run the workflow first for the ESN vs LSTM part)")


if __name__ == "__main__":
    main()
