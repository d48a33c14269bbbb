"""Using a trained model on new videos, through the very code the workflow ran.

A run's bundle (``model.pt``, :mod:`echoes.contracts.bundle`) holds the model, its input
normalisation and the feature-extraction settings. :func:`predict_videos` decodes each video with
:func:`echoes.video.decode_clip`, embeds its frames with :func:`echoes.features.embed_frames` on the
backbone :func:`echoes.features.build_backbone` rebuilds from the recorded weights (checked against
the recorded identity), normalises and classifies: no second implementation of any step.

Scores are softmax probabilities for gradient-trained models and the raw readout scores (one-hot
regression targets, not probabilities) for ridge readouts; each prediction says which.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from echoes.contracts.bundle import BundleError
from echoes.contracts.records import FeatureAttrs
from echoes.devices import pick_device, set_threads
from echoes.features import build_backbone, embed_frames
from echoes.trained import load_trained_run
from echoes.video import VideoError, decode_clip


@dataclass
class Prediction:
    video: str
    top: list[tuple[str, float]]  # (class, score), best first
    score: str  # "probability" or "ridge score"


def backbone_for(features: FeatureAttrs) -> torch.nn.Module:
    """The CNN that made the run's inputs, rebuilt from the recorded weights and checked against their identity."""
    if features.weights_source is None or features.weights_seed is None:
        raise BundleError("the run's features.h5 predates recorded weight settings; rerun the workflow")
    backbone, identity = build_backbone(features.weights_source, features.weights_seed)
    if identity != features.weights:
        raise BundleError(f"the CNN weights differ from the run's: now {identity}, trained on {features.weights}")
    return backbone


class Predictor:
    """A run's model with the CNN that feeds it, loaded once, classifying one video at a time."""

    def __init__(self, run_dir: str | Path, device: str = "auto", threads: int = 1) -> None:
        set_threads(threads)
        self.device = pick_device(device)
        self.run = load_trained_run(run_dir)
        self.backbone = backbone_for(self.run.features).to(self.device).to(memory_format=torch.channels_last)
        self.model = self.run.model.to(self.device)

    def __call__(self, video: str | Path, top: int = 5) -> Prediction:
        """The ``top`` classes of ``video``; a file that is not a video raises VideoError naming it."""
        features = self.run.features
        frames = decode_clip(video, features.frames_per_clip, int(features.frame_size))
        x = torch.from_numpy(embed_frames(self.backbone, frames, self.device, features.precision))[None]
        with torch.no_grad():
            scores = self.model(self.run.normaliser(x).to(self.device)).float().cpu()[0]
        if self.run.score == "probability":
            scores = scores.softmax(0)
        values, indices = scores.topk(min(top, len(self.run.classes)))
        top_classes = [(self.run.classes[i], float(v)) for v, i in zip(values, indices, strict=True)]
        return Prediction(str(video), top_classes, self.run.score)


def predict_videos(
    videos: Sequence[str | Path], run_dir: str | Path, top: int = 5, device: str = "auto", threads: int = 1
) -> list[Prediction]:
    """The ``top`` classes of each video, by the model of ``run_dir``."""
    predictor = Predictor(run_dir, device, threads)
    return [predictor(video, top) for video in videos]


def predict_features(path: str | Path, run_dir: str | Path, top: int = 5) -> list[Prediction]:
    """The ``top`` classes of each row of a features file in the format ``dataset: precomputed``
    reads (``features`` ``[N, T, D]``; ``ids`` name the rows if given), by the model of ``run_dir``."""
    from echoes.data.precomputed import PrecomputedError, as_strings, read_arrays

    arrays = read_arrays(Path(path))
    features = arrays.get("features")
    run = load_trained_run(run_dir)
    expected = (run.features.frames_per_clip, int(run.normaliser.mean.shape[0]))
    if features is None or features.ndim != 3 or tuple(features.shape[1:]) != expected:
        shape = None if features is None else features.shape
        raise PrecomputedError(f"{path}: features must be [N, {expected[0]}, {expected[1]}] for this run, got {shape}")
    ids = as_strings(arrays["ids"]) if "ids" in arrays else [f"row{i:06d}" for i in range(len(features))]
    with torch.no_grad():
        scores = run.model(run.normaliser(torch.from_numpy(features.astype("float32")))).float()
    if run.score == "probability":
        scores = scores.softmax(1)
    values, indices = scores.topk(min(top, len(run.classes)), dim=1)
    return [
        Prediction(name, [(run.classes[i], float(v)) for v, i in zip(row_values, row_indices, strict=True)], run.score)
        for name, row_values, row_indices in zip(ids, values.tolist(), indices.tolist(), strict=True)
    ]


def predict_folder(videos_dir: Path, run_dir: Path, out: Path, device: str = "auto", threads: int = 1) -> list[str]:
    """Stage entry point: every video file under ``videos_dir`` classified into ``out`` (TSV).

    A file that does not decode gets a row saying why instead of stopping the others; the
    reasons are returned (and logged by the job).
    """
    from echoes.data.folder import VIDEO_SUFFIXES

    files = sorted(p for p in Path(videos_dir).rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
    if not files:
        raise FileNotFoundError(
            f"predict.videos_dir: no video files ({', '.join(sorted(VIDEO_SUFFIXES))}) under {videos_dir}"
        )
    predictor = Predictor(run_dir, device, threads)
    rows, problems = [], []
    for path in files:
        try:
            rows.append(predictor(path))
        except VideoError as error:
            problems.append(str(error))
            rows.append(Prediction(str(path), [], f"error: {error}"))
    write_predictions(rows, out)
    return problems


def write_predictions(predictions: Sequence[Prediction], out: Path) -> None:
    """``results/predictions/<model>.tsv``: one row per video, its classes and scores best first."""
    from echoes.files import atomic_path

    with atomic_path(out) as tmp:
        lines = ["video\tscore\t" + "\t".join(f"class{k}\tscore{k}" for k in range(1, 6))]
        for p in predictions:
            lines.append("\t".join([p.video, p.score, *(f"{c}\t{s:.6g}" for c, s in p.top)]))
        tmp.write_text("\n".join(lines) + "\n")
