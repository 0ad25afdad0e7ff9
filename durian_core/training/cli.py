"""``python -m durian_core preprocess`` and ``python -m durian_core train``: parsers and their entry functions.

The CLI module (``durian_core.cli``) adds these subcommands; each ``func`` takes the parsed namespace and returns an
exit status. Bad input raises :class:`~durian_core.errors.DurianInputError`, which the CLI prints as one line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys

from durian_core.config import ATTRIBUTE_KINDS
from durian_core.errors import DurianInputError


def add_preprocess_parser(subparsers) -> argparse.ArgumentParser:
    """``preprocess --videos DIR --out CACHE``: portrait videos → a training cache."""
    parser = subparsers.add_parser(
        "preprocess",
        help="turn a folder of portrait videos into a training cache (resumable)",
        description="Crop, landmarks, attribute masks and keypoint maps of every video under --videos, written to "
        "--out. Unusable videos are skipped with a reason; running again resumes. Example: preprocess --videos "
        "data/videos --out data/cache --resolution 512 --fps 25",
    )
    parser.add_argument("--videos", required=True, help="folder of videos (searched recursively)")
    parser.add_argument("--out", required=True, help="cache folder to write (created if missing)")
    parser.add_argument("--resolution", type=int, default=512, help="crop side in pixels: 512 for sd15, 64 for tiny")
    parser.add_argument(
        "--kinds", nargs="+", default=list(ATTRIBUTE_KINDS), choices=ATTRIBUTE_KINDS, help="attribute masks to compute"
    )
    parser.add_argument("--fps", type=float, default=None, help="resample videos to this frame rate")
    parser.add_argument("--max-frames", type=int, default=300, help="frames kept per video")
    parser.add_argument("--min-frames", type=int, default=16, help="videos with fewer usable frames are skipped")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="longer videos are cut")
    parser.set_defaults(func=run_preprocess)
    return parser


def run_preprocess(args: argparse.Namespace) -> int:
    from durian_core.progress import TerminalProgress
    from durian_core.training.preprocess import PreprocessSettings, preprocess_videos

    settings = PreprocessSettings(
        resolution=args.resolution,
        kinds=tuple(args.kinds),
        fps=args.fps,
        max_frames=args.max_frames,
        min_frames=args.min_frames,
        max_seconds=args.max_seconds,
    )
    with TerminalProgress(getattr(args, "progress_stream", None) or sys.stderr, unit="video") as progress:
        report = preprocess_videos(args.videos, args.out, settings=settings, on_video=progress.item)
    summary = {
        "cache": str(args.out),
        "usable_videos": len(report.manifest.videos) if report.manifest else 0,
        "written_now": len(report.written),
        "already_done": len(report.already_done),
        "skipped": report.skipped,
    }
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    return 0 if summary["usable_videos"] else 1


def add_train_parser(subparsers) -> argparse.ArgumentParser:
    """``train --config tiny|toy|sd15|FILE [--set key=value ...] [--stage 1|2|all] [--resume [latest|DIR]]``."""
    parser = subparsers.add_parser(
        "train",
        help="train the Durian model (stage 1: references; stage 2: motion modules)",
        description="Self-reconstruction training on a cache written by `preprocess`. Multi-GPU and multi-node: "
        "`accelerate launch -m durian_core train ...`. Example: train --config sd15 --set data=data/cache "
        "--set output_dir=runs/sd15 --stage all",
    )
    parser.add_argument("--config", default="tiny", help="a preset (tiny, toy, sd15) or a YAML/JSON file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a setting, dotted for nested ones (stage1.learning_rate=2e-5); repeatable",
    )
    parser.add_argument("--data", help="the training cache (same as --set data=...)")
    parser.add_argument("--output-dir", help="where runs are written (same as --set output_dir=...)")
    parser.add_argument("--stage", default="all", choices=("1", "2", "all"), help="which stage(s) to run")
    parser.add_argument(
        "--resume",
        nargs="?",
        const="latest",
        default=None,
        help="continue from the newest checkpoint of the stage (or from the checkpoint folder given)",
    )
    parser.add_argument(
        "--toy-data",
        action="store_true",
        help="first write a toy dataset to the data folder: 96 synthetic videos of 24 people in 24 looks, cast "
        "independently (for trying the loop; `evaluate --toy-transfer` measures the result)",
    )
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    parser.set_defaults(func=run_train)
    return parser


def run_train(args: argparse.Namespace) -> int:
    from durian_core.training.config import load_training_config, training_config_yaml

    overrides = list(args.overrides)
    if args.data:
        overrides.append(f"data={args.data}")
    if args.output_dir:
        overrides.append(f"output_dir={args.output_dir}")
    config = load_training_config(args.config, overrides=overrides)
    if args.print_config:
        sys.stdout.write(training_config_yaml(config))
        return 0
    if not config.data:
        raise DurianInputError("no training data: pass --data CACHE (a folder written by `preprocess`)")
    # Progress (bars and the line before each) goes to the terminal's standard error.
    with contextlib.redirect_stderr(getattr(args, "progress_stream", None) or sys.stderr):
        if args.toy_data:
            from durian_core.models.config import model_config
            from durian_core.training.toy import TOY_DATASET, write_toy_dataset

            resolution = model_config(config.model).resolution
            sys.stderr.write(f"writing a toy dataset at {resolution} px to {config.data} (reused if complete)\n")
            write_toy_dataset(config.data, resolution=resolution, **TOY_DATASET)
        from durian_core.training.loop import train

        stages = (1, 2) if args.stage == "all" else (int(args.stage),)
        results = train(config, stages=stages, resume=args.resume)
    for result in results:
        sys.stdout.write(f"stage {result.stage}: {result.steps} steps, pipeline at {result.final_dir}\n")
    return 0
