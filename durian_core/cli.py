"""Command line: ``python -m durian_core generate | evaluate | bench | preprocess | train``.

Bad input exits with status 2 and one line ``error: <what is wrong>`` on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import typing
from collections.abc import Sequence
from pathlib import Path

from durian_core.config import ATTRIBUTE_KINDS, ENGINE_NAMES, EVALUATION_PROTOCOLS, GenerationSettings, field_help
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


SETTING_FLAGS = {
    "motion_multiplier": "--multiplier",
    "output_size": "--size",
    "num_inference_steps": "--steps",
    "face_index": "--face",
}
"""Short flags for a few settings; every other setting's flag is its field name with dashes."""


def add_settings_options(
    parser: argparse.ArgumentParser, *, only: Sequence[str] | None = None
) -> argparse.ArgumentParser:
    """One option per :class:`GenerationSettings` field (or the fields in ``only``): its type and default from the
    field, its help from the field's comment. Unset options stay ``None``, so the dataclass's default applies."""
    hints = typing.get_type_hints(GenerationSettings)
    help_text = field_help(GenerationSettings)
    group = parser.add_argument_group("generation settings")
    for field in dataclasses.fields(GenerationSettings):
        if only is not None and field.name not in only:
            continue
        flag = SETTING_FLAGS.get(field.name, "--" + field.name.replace("_", "-"))
        options: dict = {
            "dest": f"setting_{field.name}",
            "default": None,
            "type": hints[field.name],
            "metavar": flag.removeprefix("--").replace("-", "_").upper(),
        }
        if field.name == "engine":
            options["choices"] = ENGINE_NAMES
        description = help_text.get(field.name, field.name.replace("_", " "))
        group.add_argument(flag, help=f"{description} (default: {field.default})", **options)
    return parser


def settings_from_args(args: argparse.Namespace) -> GenerationSettings:
    """The settings the options gave, the dataclass's defaults for the rest."""
    given = {
        name.removeprefix("setting_"): value
        for name, value in vars(args).items()
        if name.startswith("setting_") and value is not None
    }
    return GenerationSettings(**given)


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
    parser.add_argument(
        "--mask",
        action=_AttributeAction,
        help="a mask PNG for the last attribute, white = attribute (added to the automatic mask, or used alone "
        "with --mask-mode replace)",
    )
    parser.add_argument("--weight", action=_AttributeAction, type=float, help="opacity of the last attribute, 0..1")
    parser.add_argument(
        "--mask-mode",
        choices=("add", "replace"),
        default="add",
        help="add: unite each --mask with the automatic mask; replace: use the --mask alone (default: add)",
    )
    parser.add_argument("--alpha", type=float, help="blend the first two attributes (one kind): 0 = first, 1 = second")
    parser.add_argument("--driving", help="driving video (motion and audio); without it the output is a still edit")
    parser.add_argument("--output", required=True, help="out.mp4 (with --driving) or out.png (still edit)")
    _add_weights_option(parser)
    add_settings_options(parser)
    parser.set_defaults(func=_run_generate, attributes=[])


def _add_weights_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", help="Durian weights: a local folder or a Hub id (default: $DURIAN_WEIGHTS)")


def _build_request(args: argparse.Namespace):
    from durian_core.api import build_request, load_attribute
    from durian_core.types import Interpolation

    references = []
    for entry in args.attributes:
        if entry["kind"] is None:
            raise DurianInputError(f"attribute {entry['path']} needs a --kind ({', '.join(ATTRIBUTE_KINDS)})")
        references.append(
            load_attribute(
                entry["path"], entry["kind"], mask=entry["mask"], mask_mode=args.mask_mode, weight=entry["weight"]
            )
        )
    interpolation = None
    if args.alpha is not None:
        if len(references) < 2 or references[0].kind != references[1].kind:
            raise DurianInputError("--alpha blends the first two attributes, which must be of one kind")
        interpolation = Interpolation(0, 1, args.alpha)
    return build_request(
        args.portrait, references, driver=args.driving, interpolation=interpolation, settings=settings_from_args(args)
    )


def _progress_line(stream):
    """A progress callback drawing a bar on a terminal (and nothing when it is not one)."""
    from durian_core.progress import TerminalProgress

    return TerminalProgress(stream)


def _run_generate(args: argparse.Namespace) -> int:
    from durian_core.api import generate

    output = Path(args.output)
    if args.driving and output.suffix.lower() != ".mp4":
        raise DurianInputError(f"with --driving the output must be an .mp4, got {output.name}")
    if not args.driving and output.suffix.lower() not in (".png", ".jpg", ".jpeg", ".mp4"):
        raise DurianInputError(f"a still edit is written as .png, got {output.name}")
    request = _build_request(args)
    if request.driver is None and output.suffix.lower() == ".mp4":
        output = output.with_suffix(".png")
    result = generate(request, weights=args.weights, output=output, progress=_progress_line(args.progress_stream))
    path = result.path
    timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings.items())
    sys.stdout.write(f"wrote {path} with the {result.engine} engine ({timings})\n")
    for note in result.notes:
        sys.stdout.write(f"note: {note}\n")
    return 0


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure transfer quality: self-reenactment, self-reconstruction (the paper's protocol), or the "
        "cross-identity grid of the examples",
        description="Examples: evaluate --video clip.mp4 (self-reenactment); evaluate --video clip.mp4 --protocol "
        "reconstruction --kind hair; evaluate --grid --sheet grid.png; evaluate --toy-transfer --engine durian "
        "--weights runs/toy/stage1/final --sheet transfer.png (held-out toy people and looks). Prints JSON.",
    )
    parser.add_argument("--video", help="a talking-face video (the two video protocols)")
    parser.add_argument(
        "--protocol",
        choices=EVALUATION_PROTOCOLS,
        default="reenactment",
        help="reenactment: animate the first frame with the video's motion; reconstruction: rebuild every frame "
        "from the first frame without its attribute and the middle frame's attribute (default: reenactment)",
    )
    parser.add_argument(
        "--kind",
        choices=ATTRIBUTE_KINDS,
        default="hair",
        help="the attribute the reconstruction transfers and whose region is scored (default: hair)",
    )
    parser.add_argument(
        "--grid", action="store_true", help="every example portrait × every example attribute, as stills"
    )
    parser.add_argument(
        "--toy-transfer",
        action="store_true",
        help="cross-identity transfer, α interpolation and composition on held-out toy people and looks (for "
        "weights trained on toy data)",
    )
    parser.add_argument("--pairs", type=int, default=12, help="with --toy-transfer: held-out pairs (default: 12)")
    parser.add_argument("--sheet", help="with --grid or --toy-transfer: write the contact sheet PNG here")
    _add_weights_option(parser)
    add_settings_options(parser, only=("engine", "max_seconds", "output_size"))
    parser.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from durian_core import evaluation

    settings = settings_from_args(args)
    engine = settings.engine
    if args.toy_transfer:
        from durian_core.api import choose_engine, load_engine
        from durian_core.training.transfer import evaluate_transfer

        chosen = load_engine(choose_engine(engine, weights=args.weights))
        report = evaluate_transfer(chosen, pairs=args.pairs, sheet=args.sheet).summary()
    elif args.grid:
        report = evaluation.cross_identity_grid(
            engine=engine, weights=args.weights, size=settings.output_size, sheet=args.sheet
        )
    elif args.video is None:
        raise DurianInputError("evaluate needs --video (or --grid)")
    elif args.protocol == "reconstruction":
        report = evaluation.self_reconstruction(
            args.video, kind=args.kind, engine=engine, weights=args.weights, max_seconds=settings.max_seconds
        )
    else:
        report = evaluation.self_reenactment(
            args.video, engine=engine, weights=args.weights, max_seconds=settings.max_seconds, kind=args.kind
        )
    sys.stdout.write(json.dumps(report, indent=2) + "\n")
    return 0


def _add_bench(subparsers) -> None:
    parser = subparsers.add_parser("bench", help="per-stage timings (medians) as JSON")
    parser.add_argument("--engine", choices=("classical", "durian"), default="classical", help="the engine to time")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per stage; the report gives medians")
    parser.add_argument("--size", type=int, default=512, help="side of the square portrait and frames, in pixels")
    parser.add_argument("--config", default="tiny", help="durian model config: tiny, toy or sd15")
    parser.add_argument("--random-weights", action="store_true", help="durian: random weights (speed only)")
    parser.add_argument("--weights", help="durian: weights to time instead (a folder or owner/name@revision)")
    parser.add_argument("--frames", type=int, default=16, help="durian: frames per clip")
    parser.add_argument("--steps", type=int, default=25, help="durian: denoising steps")
    parser.add_argument("--compile", action="store_true", help="durian: compile the repeated blocks")
    parser.set_defaults(func=_run_bench)


def _run_bench(args: argparse.Namespace) -> int:
    if args.engine == "classical":
        from durian_core.bench.classical import bench_classical

        report = bench_classical(size=args.size, repeats=args.repeats)
    else:
        from durian_core.bench.durian import bench_durian

        if not args.random_weights and not args.weights:
            raise DurianInputError("bench --engine durian needs --random-weights or --weights")
        report = bench_durian(
            config=args.config,
            random_weights=args.random_weights,
            weights=args.weights,
            frames=args.frames,
            size=args.size,
            steps=args.steps,
            repeats=args.repeats,
            compile_blocks=args.compile,
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
    """Send file descriptor 2 to /dev/null while the work runs; yields a stream to the real standard error.

    MediaPipe's and TensorFlow Lite's C++ code log start-up chatter straight to fd 2, which would bury the one
    ``error:`` line a user needs. Python's own messages are written after fd 2 is restored; progress goes to the
    yielded stream meanwhile.
    """
    if not enabled:
        yield sys.stderr
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    stream = os.fdopen(os.dup(saved), "w", buffering=1)
    try:
        yield stream
    finally:
        stream.close()
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
        with _native_logs_silenced(not args.verbose) as progress_stream:
            args.progress_stream = progress_stream
            return args.func(args)
    except (DurianInputError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
