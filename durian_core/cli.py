"""Command line: ``python -m durian_core generate | evaluate | bench | preprocess | train``.

Bad input exits with status 2 and one line ``error: <what is wrong>`` on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from durian_core.config import ATTRIBUTE_KINDS, ENGINE_NAMES, GenerationSettings
from durian_core.errors import DurianInputError


class _AttributeAction(argparse.Action):
    """``--attribute`` starts a new attribute; ``--kind``, ``--mask`` and ``--weight`` apply to the last one."""

    def __call__(self, parser, namespace, value, option_string=None):
        attributes = list(getattr(namespace, "attributes", None) or [])
        if self.dest == "attribute":
            attributes.append({"path": value, "kind": None, "mask": None, "weight": 1.0})
        elif not attributes:
            parser.error(f"{option_string} must follow an --attribute")
        else:
            attributes[-1][self.dest] = value
        namespace.attributes = attributes


def _add_generate(subparsers) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="transfer attributes onto a portrait and animate it with a driving video",
        description="Example: generate --portrait me.jpg --attribute them.jpg --kind hair --driving talk.mp4 "
        "--output out.mp4",
    )
    parser.add_argument("--portrait", required=True, help="the identity: an image with one face")
    parser.add_argument("--attribute", action=_AttributeAction, help="an attribute image (repeat for several)")
    parser.add_argument("--kind", action=_AttributeAction, choices=ATTRIBUTE_KINDS, help="kind of the last attribute")
    parser.add_argument("--mask", action=_AttributeAction, help="a mask PNG for the last attribute (added to the "
                        "automatic mask; use --mask-mode replace to use it alone)")
    parser.add_argument("--weight", action=_AttributeAction, type=float, help="opacity of the last attribute, 0..1")
    parser.add_argument("--mask-mode", choices=("add", "replace"), default="add")
    parser.add_argument("--alpha", type=float, help="blend the first two attributes (one kind): 0 = first, 1 = second")
    parser.add_argument("--driving", help="driving video (motion and audio); without it the output is a still edit")
    parser.add_argument("--output", required=True, help="out.mp4 (with --driving) or out.png (still edit)")
    _add_engine_options(parser)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="use at most this much of the driver")
    parser.add_argument("--multiplier", type=float, default=1.0, help="scale the driver's motion")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", type=int, default=512, help="longest side of the output")
    parser.add_argument("--steps", type=int, default=25, help="denoising steps (durian engine)")
    parser.set_defaults(func=_run_generate, attributes=[])


def _add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", choices=ENGINE_NAMES, default="auto")
    parser.add_argument("--weights", help="Durian weights: a local folder or a Hub id (default: $DURIAN_WEIGHTS)")


def _build_request(args: argparse.Namespace):
    from durian_core.engines.base import AttributeReference, GenerateRequest, Interpolation
    from durian_core.media import load_image, load_mask, load_video

    settings = GenerationSettings(
        engine=args.engine,
        seed=args.seed,
        motion_multiplier=args.multiplier,
        max_seconds=args.max_seconds,
        output_size=args.size,
        num_inference_steps=args.steps,
    )
    portrait = load_image(args.portrait).rgb
    references = []
    for entry in args.attributes:
        if entry["kind"] is None:
            raise DurianInputError(f"attribute {entry['path']} needs a --kind ({', '.join(ATTRIBUTE_KINDS)})")
        loaded = load_image(entry["path"])
        mask = None
        if entry["mask"] is not None:
            mask = load_mask(entry["mask"], size=(loaded.rgb.shape[1], loaded.rgb.shape[0]))
        references.append(
            AttributeReference(
                loaded.rgb, entry["kind"], mask=mask, mask_mode=args.mask_mode, weight=entry["weight"],
                name=Path(entry["path"]).stem,
            )
        )
    interpolation = None
    if args.alpha is not None:
        if len(references) < 2 or references[0].kind != references[1].kind:
            raise DurianInputError("--alpha blends the first two attributes, which must be of one kind")
        interpolation = Interpolation(0, 1, args.alpha)
    driver = load_video(args.driving, max_seconds=args.max_seconds) if args.driving else None
    return GenerateRequest(portrait, tuple(references), driver=driver, interpolation=interpolation, settings=settings)


def _run_generate(args: argparse.Namespace) -> int:
    from durian_core.api import generate, save_result

    output = Path(args.output)
    if args.driving and output.suffix.lower() != ".mp4":
        raise DurianInputError(f"with --driving the output must be an .mp4, got {output.name}")
    if not args.driving and output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".mp4"):
        raise DurianInputError(f"a still edit is written as .png, got {output.name}")
    request = _build_request(args)
    result = generate(request, weights=args.weights)
    if result.fps is None:
        from durian_core.media import write_image

        path = write_image(result.still, output)
    else:
        path = save_result(result, output.parent, stem=output.stem)
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings.items())
    sys.stdout.write(f"wrote {path} with the {result.engine} engine ({timings})\n")
    for note in result.notes:
        sys.stdout.write(f"note: {note}\n")
    return 0


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="self-reenactment: animate a video's first frame with its own motion and compare"
    )
    parser.add_argument("--video", required=True)
    _add_engine_options(parser)
    parser.add_argument("--max-seconds", type=float, default=20.0)
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from durian_core.evaluation import self_reenactment

    report = self_reenactment(args.video, engine=args.engine, weights=args.weights, max_seconds=args.max_seconds)
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _add_bench(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="per-stage timings (medians) as JSON")
    parser.add_argument("--engine", choices=("classical", "durian"), default="classical")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--config", default="tiny", help="durian model config: tiny or sd15")
    parser.add_argument("--random-weights", action="store_true", help="durian: random weights (speed only)")
    parser.add_argument("--weights", help="durian: weights to time instead (a folder or owner/name@revision)")
    parser.add_argument("--frames", type=int, default=16, help="durian: frames per clip")
    parser.add_argument("--steps", type=int, default=25, help="durian: denoising steps")
    parser.add_argument("--compile", action="store_true", help="durian: compile the repeated blocks")
    parser.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    if args.engine == "classical":
        from durian_core.bench import bench_classical

        report = bench_classical(size=args.size, repeats=args.repeats)
    else:
        from durian_core.models.bench import bench_durian

        if not args.random_weights and not args.weights:
            raise DurianInputError("bench --engine durian needs --random-weights or --weights")
        report = bench_durian(
            config=args.config, random_weights=args.random_weights, weights=args.weights, frames=args.frames,
            size=args.size,
            steps=args.steps, repeats=args.repeats, compile_blocks=args.compile,
        )
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _add_training(subparsers) -> None:
    try:
        from durian_core.training.cli import add_preprocess_parser, add_train_parser
    except ImportError:  # training code is optional at run time
        return
    add_preprocess_parser(subparsers)
    add_train_parser(subparsers)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m durian_core", description="Portrait animation with attribute transfer."
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    _add_generate(subparsers)
    _add_evaluate(subparsers)
    _add_bench(subparsers)
    _add_training(subparsers)
    return parser


@contextlib.contextmanager
def _native_logs_silenced(enabled: bool):
    """Send file descriptor 2 to /dev/null while the work runs.

    MediaPipe's and TensorFlow Lite's C++ code log start-up chatter straight to fd 2, which would bury the one
    ``error:`` line a user needs. Python's own messages are written after fd 2 is restored.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    parser = build_parser()
    parser.add_argument("--verbose", action="store_true", help="keep native libraries' log output")
    args = parser.parse_args(argv)
    try:
        with _native_logs_silenced(not args.verbose):
            return args.func(args)
    except (DurianInputError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
