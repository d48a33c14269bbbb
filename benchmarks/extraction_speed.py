"""Benchmark: decoding and ResNet18 feature extraction against their hardware bounds.

    .venv/bin/python benchmarks/extraction_speed.py [--clips 24] [--threads 2] [--batch-size 64]

Makes UCF101-like clips (320x240, ~175 frames, MPEG-4 part 2 in AVI, as UCF101's XVID files),
then, on the same batch size and thread count, in one run:

- decode: raw PyAV (every frame decoded, nothing else) vs Echoes' decode stage
  (``decode_shard``: decode, sample T, resize, crop, write HDF5), in decoded frames per second;
- CNN: the raw ResNet18 forward pass on frames already in memory (the bound) vs Echoes'
  extraction (``extract_features``: HDF5 reads, normalisation, forward, HDF5 writes), in frames
  per second, and their ratio; for fp32 and bf16 and for 112 and 224 px.

Prints tables; asserts nothing. The numbers in the README come from this script.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import torch

from echoes.data.synthetic import SyntheticSpec, generate
from echoes.data.ucf101 import prepare_manifest
from echoes.devices import set_threads
from echoes.features import build_backbone, embed_frames, extract_features
from echoes.video import decode_shard

T = 16


def raw_decode_fps(videos: list[Path]) -> float:
    start, frames = time.perf_counter(), 0
    for path in videos:
        with av.open(str(path)) as container:
            frames += sum(1 for _ in container.decode(video=0))
    return frames / (time.perf_counter() - start)


def count_frames(videos: list[Path]) -> int:
    total = 0
    for path in videos:
        with av.open(str(path)) as container:
            total += sum(1 for _ in container.decode(video=0))
    return total


def raw_cnn_fps(size: int, precision: str, batch_size: int, repeats: int = 3) -> float:
    """Forward passes on random frames already in memory: what extraction cannot beat."""
    model, _ = build_backbone("random", 0)
    model = model.to(memory_format=torch.channels_last)
    frames = np.random.default_rng(0).integers(0, 256, (batch_size, size, size, 3), dtype=np.uint8)
    embed_frames(model, frames, "cpu", precision)  # warm-up (oneDNN picks its kernels)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        embed_frames(model, frames, "cpu", precision)
        times.append(time.perf_counter() - start)
    return batch_size / statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=24, help="clips (of ~175 frames) to decode and embed")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    set_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="echoes-bench-"))
    spec = SyntheticSpec(
        num_classes=2, clips_per_class=max(3, args.clips // 2), groups=3, frames=175, width=320, height=240
    )
    root = generate(work / "raw", spec)
    manifest = prepare_manifest(root / "videos", root / "splits", work / "manifest.tsv")
    videos = [root / "videos" / c.path for c in manifest.clips]
    n_frames = count_frames(videos)
    print(
        f"{len(videos)} clips, {n_frames} frames (320x240 MPEG-4/AVI), threads={args.threads}, "
        f"batch={args.batch_size}, T={T}, torch {torch.__version__}, PyAV {av.__version__}\n"
    )

    raw_decode = raw_decode_fps(videos)
    print("| stage | decoded frames/s | clips/s |\n|---|---|---|")
    print(f"| raw PyAV decode (bound) | {raw_decode:.0f} | {raw_decode * len(videos) / n_frames:.1f} |")
    shards = {}
    for size in (112, 224):
        start = time.perf_counter()
        decode_shard(work / "manifest.tsv", root / "videos", work / f"frames{size}.h5", 0, 1, T, size)
        seconds = time.perf_counter() - start
        shards[size] = work / f"frames{size}.h5"
        print(
            f"| Echoes decode stage, {size} px (+ sample, resize, crop, HDF5) | {n_frames / seconds:.0f} "
            f"| {len(videos) / seconds:.1f} |"
        )

    print("\n| size | precision | raw ResNet18 frames/s (bound) | Echoes extraction frames/s | ratio |")
    print("|---|---|---|---|---|")
    for size in (112, 224):
        for precision in ("fp32", "bf16"):
            if precision == "bf16" and not torch.ops.mkldnn._is_mkldnn_bf16_supported():
                print(f"| {size} | bf16 | (no native bf16 on this CPU) | | |")
                continue
            bound = raw_cnn_fps(size, precision, args.batch_size)
            start = time.perf_counter()
            extract_features(
                [shards[size]],
                work / "manifest.tsv",
                work / "features.h5",
                batch_size=args.batch_size,
                device="cpu",
                precision=precision,
                threads=args.threads,
            )
            achieved = len(videos) * T / (time.perf_counter() - start)
            print(f"| {size} | {precision} | {bound:.0f} | {achieved:.0f} | {achieved / bound:.2f} |")


if __name__ == "__main__":
    main()
