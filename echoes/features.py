"""Per-frame ResNet18 features (avgpool, 512-d) for every decoded clip, into one HDF5 file.

Contract of ``features.h5``: ``features`` float [N, T, 512], ``labels`` int [N] (0-based),
``video_ids`` [N], ``groups`` [N], ``classes`` [C]; clips that failed to decode are listed in
``skipped_video_ids`` / ``skipped_reasons``; attributes record backbone, weights (name or file
SHA-256), precision, T, frame size, dataset and the Echoes version.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
import urllib.error
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

import echoes
from echoes.contracts.features import write_features
from echoes.contracts.frames import frame_chunks, read_frame_shards, shard_geometry
from echoes.contracts.manifest import read_manifest
from echoes.contracts.records import FeatureAttrs
from echoes.data.preflight import check_clip_policy, check_splits
from echoes.devices import pick_device, set_threads
from echoes.files import sha256_file

FEATURE_DIM = 512
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_WEIGHTS = "IMAGENET1K_V1"


class WeightsUnavailable(RuntimeError):
    """Pretrained weights were asked for but cannot be had; the message says what to do."""


def pretrained_checkpoint() -> tuple[str, Path]:
    """(URL, cache path) of torchvision's ImageNet ResNet18: ``<torch hub dir>/checkpoints/resnet18-f37072fd.pth``."""
    from torchvision.models import ResNet18_Weights

    url = ResNet18_Weights.IMAGENET1K_V1.url
    return url, Path(torch.hub.get_dir()) / "checkpoints" / Path(url).name


def fetch_pretrained() -> Path:
    """The ImageNet checkpoint in the torch hub cache, downloaded there (checksummed) if it is not yet.

    Called when the workflow is parsed, so that an offline machine fails in seconds, before any
    decoding, with the file to place; a machine with internet downloads it once.
    """
    url, cached = pretrained_checkpoint()
    if cached.is_file():
        return cached
    try:
        torch.hub.load_state_dict_from_url(url, progress=True, check_hash=True)
    except (urllib.error.URLError, OSError, RuntimeError) as error:
        raise WeightsUnavailable(
            f"features.weights: {IMAGENET_WEIGHTS} could not be downloaded ({error}). On a machine with internet, "
            f"download {url} and put it at {cached} (or set TORCH_HOME), or set features.weights to the path of "
            "a local ResNet18 state_dict, or to 'random' for the seeded random initialisation."
        ) from error
    return cached


def _imagenet_resnet18() -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(weights=None)
    model.load_state_dict(torch.load(fetch_pretrained(), map_location="cpu", weights_only=True))
    return model


def load_resnet18_state(path: Path) -> dict[str, torch.Tensor]:
    """A ResNet18 state_dict from ``path``, without its classifier (``fc.*``, discarded anyway).

    Any head is accepted (a ResNet18 fine-tuned on 10 classes too); everything else must match
    torchvision's ResNet18 by name and shape, or the error says what does not.
    """
    from torchvision.models import resnet18

    key = "features.weights"
    if not path.is_file():
        raise WeightsUnavailable(f"{key}: {str(path)!r} is neither 'random', '{IMAGENET_WEIGHTS}' nor an existing file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # a text file, /etc/passwd, a pickle with code: never a state_dict
        raise WeightsUnavailable(f"{key}: {path} is not a PyTorch state_dict file ({error})") from error
    state = state.get("state_dict", state) if isinstance(state, dict) else state
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise WeightsUnavailable(f"{key}: {path} does not hold a state_dict (a mapping of names to tensors)")
    expected = {k: v.shape for k, v in resnet18(weights=None).state_dict().items() if not k.startswith("fc.")}
    body = {k: v for k, v in state.items() if not k.startswith("fc.")}
    missing = sorted(set(expected) - set(body))
    unexpected = sorted(set(body) - set(expected))
    misshapen = sorted(k for k in set(expected) & set(body) if body[k].shape != expected[k])
    if missing or unexpected or misshapen:
        details = [
            f"{label}: {', '.join(keys[:4])}{' ...' if len(keys) > 4 else ''}"
            for label, keys in (("missing", missing), ("unexpected", unexpected), ("other shape", misshapen))
            if keys
        ]
        raise WeightsUnavailable(f"{key}: {path} is not a ResNet18 state_dict ({'; '.join(details)})")
    return body


def check_weights(weights: str, fetch: bool = True) -> str | None:
    """Before any job: a weights path holds a ResNet18 state_dict (names are checked as they are), and
    the ImageNet weights are in the torch hub cache (downloaded now if ``fetch``). A warning to print,
    or None: without ``fetch`` (a dry run) a missing checkpoint is only announced."""
    if weights == IMAGENET_WEIGHTS:
        if fetch:
            fetch_pretrained()
            return None
        url, cached = pretrained_checkpoint()
        return None if cached.is_file() else f"{cached} is not there yet: a run downloads it from {url} first"
    if weights != "random":
        load_resnet18_state(Path(weights))
    return None


def build_backbone(weights: str, seed: int) -> tuple[nn.Module, str]:
    """ResNet18 with its classifier removed, and a string that identifies its weights.

    ``weights`` is ``random`` (seeded initialisation, works offline), ``IMAGENET1K_V1``
    (torchvision's, cached under the torch hub directory) or a path to a state_dict file.
    """
    from torchvision.models import resnet18

    if weights == "random":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model, identity = resnet18(weights=None), f"random (seed {seed})"
    elif weights == IMAGENET_WEIGHTS:
        model, identity = _imagenet_resnet18(), f"torchvision {IMAGENET_WEIGHTS}"
    else:
        path = Path(weights)
        model = resnet18(weights=None)
        model.load_state_dict(load_resnet18_state(path), strict=False)  # fc.* is not loaded: it is discarded
        identity = f"file {path.name} (sha256 {sha256_file(path)})"
    model.fc = nn.Identity()
    return model.eval(), identity


def resolve_precision(precision: str, device: str) -> str:
    """``bf16`` under ``auto`` where the hardware runs it natively (CUDA, or a CPU with AVX-512 bf16)."""
    if precision != "auto":
        return precision
    if device == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def _normalise(frames: np.ndarray, device: str) -> torch.Tensor:
    """uint8 [n, H, W, 3] -> float [n, 3, H, W] in channels_last, ImageNet-normalised."""
    x = torch.from_numpy(frames).to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous(memory_format=torch.channels_last)


def embed_frames(model: nn.Module, frames: np.ndarray, device: str, precision: str) -> np.ndarray:
    """Features float32 [n, 512] of uint8 frames [n, H, W, 3]; bf16 compute is cast back to float32."""
    autocast = torch.autocast(device_type=device, dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    with torch.inference_mode(), autocast:
        return model(_normalise(frames, device)).float().cpu().numpy()


CPU_BATCH = 64
# Peak inference memory per 224 px frame of ResNet18 (activations of a layer and its successor,
# bf16/fp32, cuDNN workspace): a generous estimate; out-of-memory still halves the batch.
CUDA_BYTES_PER_FRAME_224 = 12 * 2**20


def initial_batch_size(requested: int | str, device: str, size: int, free_bytes: int | None = None) -> int:
    """Frames per forward pass: the configured number, or under ``auto`` 64 on CPU (larger batches
    gain nothing there) and on CUDA half the free memory over a per-frame estimate, 32..4096."""
    if requested != "auto":
        return int(requested)
    if device != "cuda":
        return CPU_BATCH
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info()
    per_frame = CUDA_BYTES_PER_FRAME_224 * (size / 224) ** 2
    return int(min(4096, max(32, free_bytes * 0.5 // per_frame)))


def embed_in_batches(
    model: nn.Module, frames: np.ndarray, device: str, precision: str, batch_size: int
) -> tuple[np.ndarray, int]:
    """Features of ``frames`` in batches; a CUDA out-of-memory error halves the batch (kept for the
    next call, which the returned size is) instead of failing the job."""
    parts, start = [], 0
    while start < len(frames):
        try:
            parts.append(embed_frames(model, frames[start : start + batch_size], device, precision))
            start += batch_size
        except torch.cuda.OutOfMemoryError:
            if batch_size == 1:
                raise
            batch_size //= 2
            if device == "cuda":
                torch.cuda.empty_cache()
            print(f"CUDA out of memory: continuing with {batch_size} frames per batch", flush=True)
    return np.concatenate(parts), batch_size


def _prefetch(chunks: Iterator[np.ndarray], depth: int = 2) -> Iterator[np.ndarray]:
    """Read the next chunks in a thread so that the CNN never waits for HDF5 reads."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    done = object()

    def produce() -> None:
        try:
            for chunk in chunks:
                buffer.put(chunk)
        except BaseException as error:  # handed to the consumer, which re-raises it
            buffer.put(error)
        buffer.put(done)

    threading.Thread(target=produce, daemon=True).start()
    while (item := buffer.get()) is not done:
        if isinstance(item, BaseException):
            raise item
        yield item


def embed_shards(
    model: nn.Module, frame_shards: Sequence[Path], writer: Any, clips: int, device: str, precision: str,
    batch_size: int,
) -> int:  # fmt: skip
    """Embed the shards' frames chunk by chunk (reading the next chunk while one is embedded) into
    ``writer``'s rows; returns the batch size as it ended (smaller if CUDA ran out of memory)."""
    t, size = shard_geometry(frame_shards[0])
    row = 0
    with tqdm(total=clips, desc="features", unit="clip", mininterval=2) as bar:
        for chunk in _prefetch(frame_chunks(frame_shards, max(1, batch_size // t))):
            n = len(chunk)
            embedded, batch_size = embed_in_batches(model, chunk.reshape(n * t, size, size, 3), device, precision,
                                                    batch_size)  # fmt: skip
            writer.write_rows(row, embedded.reshape(n, t, FEATURE_DIM))
            row += n
            bar.update(n)
    return batch_size


def provenance(manifest: Any, skipped: Sequence, partial: Sequence) -> dict[str, Any]:
    """Versions, and the clips the features cannot hold: missing, unlisted, skipped, partial."""
    return {
        "torch_version": str(torch.__version__),
        "echoes_version": echoes.__version__,
        "missing_videos": manifest.missing,
        "unlisted_files": manifest.unlisted,
        "skipped_clips": len(skipped),
        "partial_clips": len(partial),
    }


def backbone_attrs(identity: str, weights: str, seed: int, precision: str, storage_dtype: str) -> dict[str, Any]:
    """How the CNN that made the features was set: enough to rebuild it (``echoes predict``) and check it."""
    return {
        "backbone": "resnet18",
        "layer": "avgpool",
        "weights": identity,
        "weights_source": weights,
        "weights_seed": seed,
        "precision": precision,
        "storage_dtype": storage_dtype,
    }


def extract_features(
    frame_shards: Sequence[Path],
    manifest_path: Path,
    out: Path,
    *,
    weights: str = "random",
    seed: int = 0,
    batch_size: int | str = "auto",
    device: str = "auto",
    precision: str = "auto",
    storage_dtype: str = "float32",
    threads: int = 1,
    dataset: str = "",
    splits: Sequence[int] = (),
    on_bad_video: str = "skip",
    on_partial_video: str = "keep",
) -> dict:
    """Embed every decoded frame of ``frame_shards`` (in manifest order) and write ``features.h5``.

    Before any frame is embedded, the clip policies (``frames.on_bad_video``, ``on_partial_video``)
    are applied to the shards' lists and ``splits`` (the selected ones) checked for usable training
    and test clips. Partial clips are embedded whatever the policy: training leaves them out under
    ``skip``, so changing that policy never re-extracts.
    """
    set_threads(threads)
    device = pick_device(device)
    precision = resolve_precision(precision, device)
    model, identity = build_backbone(weights, seed)
    model = model.to(device).to(memory_format=torch.channels_last)
    manifest = read_manifest(manifest_path)
    video_ids, skipped, partial = read_frame_shards(frame_shards)
    left_out = check_clip_policy(skipped, partial, on_bad_video, on_partial_video)
    for warning in check_splits(manifest, splits, usable=set(video_ids) - left_out):
        print(f"WARNING: {warning}")
    t, size = shard_geometry(frame_shards[0])
    batch_size = initial_batch_size(batch_size, device, size)
    attrs = FeatureAttrs(
        **backbone_attrs(identity, weights, seed, precision, storage_dtype),
        **{"frames_per_clip": t, "frame_size": size, "dataset": dataset, "device": device},
        **provenance(manifest, skipped, partial),
    )
    with write_features(out, len(video_ids), t, FEATURE_DIM, storage_dtype) as writer:
        used = embed_shards(model, frame_shards, writer, len(video_ids), device, precision, batch_size)
        attrs = dataclasses.replace(attrs, batch_size=used)
        by_id = {clip.video_id: clip for clip in manifest.clips}
        labels, groups = [by_id[v].label for v in video_ids], [by_id[v].group for v in video_ids]
        families = [manifest.families[c] for c in manifest.classes] if manifest.families else None
        writer.finish(video_ids, labels, groups, manifest.classes, skipped, attrs, partial, families)
    return attrs.record() | {"clips": len(video_ids), "skipped": len(skipped)}
