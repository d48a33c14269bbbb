"""``echoes`` on the command line: ``echoes predict VIDEO... --run results/models/<model>/runs/<run>``
(or ``--features FILE`` for features in the format of ``dataset: precomputed``)."""

from __future__ import annotations

import argparse
import sys

from echoes.contracts.bundle import BundleError
from echoes.video import VideoError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="echoes", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    predict = commands.add_parser("predict", help="classify videos with a trained run's model")
    predict.add_argument("videos", nargs="*", help="video files (anything PyAV decodes)")
    predict.add_argument("--features", help="instead of videos: an .npz/.h5 file with features [N, T, D]")
    predict.add_argument("--run", required=True, help="a run folder, e.g. results/models/SimpleESN/runs/split1-seed0")
    predict.add_argument("--top", type=int, default=5, help="classes shown per video (default 5)")
    predict.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = parser.parse_args(argv)

    if bool(args.videos) == bool(args.features):
        parser.error("predict takes video files or --features FILE (one of the two)")
    from echoes.data.precomputed import PrecomputedError
    from echoes.predict import predict_features, predict_videos

    try:
        if args.features:
            predictions = predict_features(args.features, args.run, top=args.top)
        else:
            predictions = predict_videos(args.videos, args.run, top=args.top, device=args.device)
    except (BundleError, VideoError, PrecomputedError) as error:
        print(f"echoes predict: {error}", file=sys.stderr)
        return 2
    for p in predictions:
        print(f"{p.video}  ({p.score})")
        for rank, (name, score) in enumerate(p.top, start=1):
            print(f"  {rank}. {name:<30} {score:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
