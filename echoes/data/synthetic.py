"""The embedded synthetic action dataset: real AVI files in the UCF101 layout.

Classes come in pairs, each pair one task of a **task family** (``accuracy_by_family`` in every
run's metrics):

- ``order``: a class and its time-reversed twin (a disk that grows / one that shrinks, a square
  fading red->blue / blue->red, ...). A clip and its reversal contain exactly the same set of
  frames, so anything that averages frame features over time cannot tell them apart; a linear
  filter over the frames in order can (the ``AllFrames`` control does).
- ``same_different``: a disk flashes twice, once in each half of the clip at a random time, red
  or blue each time; the class is whether the two colours match (an XOR). No linear function of
  the frames separates it: the frames of a "different" clip average to the midpoint of the two
  kinds of "same" clips, and the random times leave a linear filter over the frames no better
  off. A model must remember the first colour and compare it with the second: memory and a
  nonlinearity.

Per-clip nuisance (position, size, colour jitter, pixel noise, clip length) and per-group scenes
(background, object colour) make the tasks non-trivial, and groups play the role of UCF101's
``gNN`` (clips cut from one scene); neither depends on the class.
"""

from __future__ import annotations

import math
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from echoes.data.ucf101 import write_split_files, write_task_families
from echoes.files import atomic_dir

# Class pairs in the order num_classes takes them, with their task family. In an ``order`` pair
# the second class plays the first one's motion backwards; in ``same_different`` it is "different".
CLASS_PAIRS: tuple[tuple[str, str, str], ...] = (
    ("GrowingDisk", "ShrinkingDisk", "order"),
    ("SameColours", "DifferentColours", "same_different"),
    ("FadeRedToBlue", "FadeBlueToRed", "order"),
    ("SlideLeftToRight", "SlideRightToLeft", "order"),
    ("RotateClockwise", "RotateCounterClockwise", "order"),
)
MAX_CLASSES = 2 * len(CLASS_PAIRS)
#: Each synthetic class's task family (the report's accuracy per family).
TASK_FAMILIES = {name: family for *pair, family in CLASS_PAIRS for name in pair}


def task_families(classes: list[str]) -> list[str] | None:
    """The task family of each class, if every class is one of the synthetic set's; else None."""
    families = [TASK_FAMILIES.get(name) for name in classes]
    return None if None in families else families


FPS = 25


@dataclass(frozen=True)
class SyntheticSpec:
    """Knobs of the generator; the same spec and seed always give the same videos."""

    num_classes: int = 6
    clips_per_class: int = 40
    groups: int = 8
    frames: int = 32
    width: int = 160
    height: int = 120
    noise: float = 8.0
    seed: int = 0

    def __post_init__(self) -> None:
        if not (2 <= self.num_classes <= MAX_CLASSES and self.num_classes % 2 == 0):
            raise ValueError(f"num_classes must be even and in [2, {MAX_CLASSES}], got {self.num_classes}")
        if self.groups < 3:
            raise ValueError(f"groups must be >= 3 (one test fold per official split), got {self.groups}")
        if self.clips_per_class < self.groups:
            raise ValueError(f"clips_per_class ({self.clips_per_class}) must be >= groups ({self.groups})")
        if self.frames < 4 or self.width < 32 or self.height < 32:
            raise ValueError("frames must be >= 4 and width/height >= 32")
        if self.width % 2 or self.height % 2:
            raise ValueError("width and height must be even (yuv420p video)")

    @property
    def classes(self) -> list[str]:
        return [name for *pair, _ in CLASS_PAIRS[: self.num_classes // 2] for name in pair]


@dataclass(frozen=True)
class Scene:
    """What one clip looks like apart from its motion: shared within a group, jittered per clip."""

    background: np.ndarray  # float RGB in [0, 255]
    colour: np.ndarray
    cx: float
    cy: float
    scale: float


Painter = Callable[[np.ndarray, np.ndarray, Scene, float], np.ndarray]


def _disk(yy: np.ndarray, xx: np.ndarray, scene: Scene, p: float) -> np.ndarray:
    radius = scene.scale * (0.15 + 0.75 * p)
    return ((yy - scene.cy) ** 2 + (xx - scene.cx) ** 2 <= radius**2)[..., None] * scene.colour


RED, BLUE = np.array([220.0, 40.0, 40.0]), np.array([40.0, 60.0, 220.0])


def _fade(yy: np.ndarray, xx: np.ndarray, scene: Scene, p: float) -> np.ndarray:
    half = 0.7 * scene.scale
    inside = (np.abs(yy - scene.cy) <= half) & (np.abs(xx - scene.cx) <= half)
    colour = (1 - p) * RED + p * BLUE + 0.15 * (scene.colour - 128.0)
    return inside[..., None] * colour


def _slide(yy: np.ndarray, xx: np.ndarray, scene: Scene, p: float) -> np.ndarray:
    width = xx.shape[1]
    x = (0.2 + 0.6 * p) * width
    inside = (np.abs(xx - x) <= 0.25 * scene.scale) & (np.abs(yy - scene.cy) <= scene.scale)
    return inside[..., None] * scene.colour


def _rotate(yy: np.ndarray, xx: np.ndarray, scene: Scene, p: float) -> np.ndarray:
    angle = 1.5 * math.pi * p
    dx, dy = math.cos(angle), math.sin(angle)
    along = (xx - scene.cx) * dx + (yy - scene.cy) * dy
    across = np.abs(-(xx - scene.cx) * dy + (yy - scene.cy) * dx)
    inside = (along >= 0) & (along <= 1.1 * scene.scale) & (across <= 0.12 * scene.scale + 1)
    return inside[..., None] * scene.colour


#: The motion of each ``order`` pair, by the pair's position in CLASS_PAIRS.
PAINTERS: dict[int, Painter] = {0: _disk, 2: _fade, 3: _slide, 4: _rotate}


def _flash(yy: np.ndarray, xx: np.ndarray, scene: Scene, blue: bool, cx: float, cy: float) -> np.ndarray:
    """A red or a blue disk (the scene's colour only tints it)."""
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 <= (0.6 * scene.scale) ** 2
    return inside[..., None] * ((BLUE if blue else RED) + 0.15 * (scene.colour - 128.0))


def event_layers(different: bool, n_frames: int, scene: Scene, spec: SyntheticSpec, rng: np.random.Generator):
    """Per frame, the flash shown (or None): two flashes, one in each half of the clip at a random
    time, each ``max(1, n/4)`` frames long; the second's colour matches the first's unless ``different``."""
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    length = max(1, n_frames // 4)
    half = n_frames // 2
    starts = (int(rng.integers(0, half - length + 1)), int(rng.integers(half, n_frames - length + 1)))
    first = bool(rng.integers(2))
    kinds = (first, first != different)
    layers: list[np.ndarray | None] = [None] * n_frames
    for start, blue in zip(starts, kinds, strict=True):
        cx = scene.cx + rng.uniform(-0.1, 0.1) * spec.width
        cy = scene.cy + rng.uniform(-0.1, 0.1) * spec.height
        layer = _flash(yy, xx, scene, blue, cx, cy)
        for i in range(start, start + length):
            layers[i] = layer
    return layers


def motion_layers(class_index: int, n_frames: int, scene: Scene, spec: SyntheticSpec) -> list[np.ndarray]:
    """Per frame, the moving object of an ``order`` class; odd class indices play it backwards."""
    painter = PAINTERS[class_index // 2]
    yy, xx = np.mgrid[0 : spec.height, 0 : spec.width].astype(np.float32)
    progress = np.linspace(0.0, 1.0, n_frames)
    if class_index % 2:
        progress = progress[::-1]
    return [painter(yy, xx, scene, float(p)) for p in progress]


def render_clip(
    class_index: int, n_frames: int, scene: Scene, spec: SyntheticSpec, rng: np.random.Generator
) -> np.ndarray:
    """Frames [n, H, W, 3] uint8 of one clip of class ``class_index`` (of CLASS_PAIRS, in order)."""
    if CLASS_PAIRS[class_index // 2][2] == "order":
        layers = motion_layers(class_index, n_frames, scene, spec)
    else:
        layers = event_layers(bool(class_index % 2), n_frames, scene, spec, rng)
    background = scene.background.astype(np.float32)
    frames = np.empty((n_frames, spec.height, spec.width, 3), dtype=np.uint8)
    for i, layer in enumerate(layers):
        image = np.broadcast_to(background, (spec.height, spec.width, 3))
        if layer is not None:
            image = np.where(layer.any(axis=-1, keepdims=True), layer, background)
        image = image + spec.noise * rng.standard_normal(image.shape, dtype=np.float32)
        frames[i] = np.clip(image, 0, 255).astype(np.uint8)
    return frames


def _group_scene(spec: SyntheticSpec, group: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng([spec.seed, 1_000_003, group])
    return rng.uniform(0, 110, 3), rng.uniform(120, 255, 3)


def _clip_scene(spec: SyntheticSpec, group: int, rng: np.random.Generator) -> Scene:
    background, colour = _group_scene(spec, group)
    scale = min(spec.width, spec.height) * rng.uniform(0.28, 0.4)
    return Scene(
        background=np.clip(background + rng.normal(0, 10, 3), 0, 255),
        colour=np.clip(colour + rng.normal(0, 15, 3), 0, 255),
        cx=spec.width / 2 + rng.uniform(-0.15, 0.15) * spec.width,
        cy=spec.height / 2 + rng.uniform(-0.15, 0.15) * spec.height,
        scale=scale,
    )


def write_avi(path: Path, frames: np.ndarray, fps: int = FPS) -> None:
    """Encode frames [n, H, W, 3] uint8 as MPEG-4 Part 2 (tag XVID) in AVI, like UCF101's clips."""
    with av.open(str(path), mode="w", format="avi") as container:
        stream = container.add_stream("mpeg4", rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.codec_tag = "XVID"
        stream.bit_rate = 4_000_000
        for image in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())


def clip_name(class_name: str, group: int, clip: int) -> str:
    return f"v_{class_name}_g{group:02d}_c{clip:02d}"


def held_out_groups(split: int, groups: int) -> set[int]:
    """Groups held out for testing in official split 1, 2 or 3 (UCF101 holds out 7 of 25 per split)."""
    fold = max(1, round(groups * 7 / 25))
    return {g for g in range(1, groups + 1) if (split - 1) * fold < g <= split * fold}


def write_clip(videos: Path, spec: SyntheticSpec, class_index: int, k: int) -> tuple[str, int]:
    """Render and encode clip ``k`` of class ``class_index`` under ``videos``; its relative path and group.

    Each clip draws from its own seeded generator, so clips can be written in any order or process.
    """
    group, clip = k % spec.groups + 1, k // spec.groups + 1
    rng = np.random.default_rng([spec.seed, class_index, k])
    n_frames = int(rng.integers(spec.frames - spec.frames // 4, spec.frames + spec.frames // 4 + 1))
    frames = render_clip(class_index, n_frames, _clip_scene(spec, group, rng), spec, rng)
    name = spec.classes[class_index]
    relpath = f"{name}/{clip_name(name, group, clip)}.avi"
    (videos / name).mkdir(parents=True, exist_ok=True)
    write_avi(videos / relpath, frames)
    return relpath, group


def _write_clip(job: tuple[Path, SyntheticSpec, int, int]) -> tuple[str, int]:
    return write_clip(*job)


def generate(root: Path, spec: SyntheticSpec, workers: int = 1) -> Path:
    """Write ``root/videos/<Class>/<clip>.avi`` and ``root/splits/`` (UCF101 formats); returns root.

    ``workers`` processes render and encode clips side by side; the files do not depend on it.
    The folder is built under a temporary name and renamed at the end, so an interrupted run
    never leaves a dataset that looks complete.
    """
    root = Path(root)
    with atomic_dir(root) as tmp:
        jobs = [(tmp / "videos", spec, c, k) for c in range(len(spec.classes)) for k in range(spec.clips_per_class)]
        clips = _write_clips(jobs, workers)
        write_split_files(
            tmp / "splits",
            spec.classes,
            {
                split: [(path, group in held_out_groups(split, spec.groups)) for path, group in clips]
                for split in (1, 2, 3)
            },
        )
        write_task_families(tmp / "splits", {name: TASK_FAMILIES[name] for name in spec.classes})
    return root


def _write_clips(jobs: list[tuple[Path, SyntheticSpec, int, int]], workers: int) -> list[tuple[str, int]]:
    """Every job's clip, in job order; ``workers`` processes forked from this one (a Snakemake
    script has no ``__main__`` guard for a spawned worker to re-import)."""
    progress = {"total": len(jobs), "desc": "synthesize", "unit": "clip", "mininterval": 2}
    if workers <= 1:
        return [_write_clip(job) for job in tqdm(jobs, **progress)]
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
        return list(tqdm(pool.map(_write_clip, jobs, chunksize=4), **progress))
