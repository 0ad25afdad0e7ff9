"""Command line: ``python -m durian_core generate | mask | evaluate | bench | preprocess | train``.

Each command is a frozen dataclass; tyro builds its options from the fields: the flag from the name, the type and
default from the annotation, the help from the comment beside (or above) the field. The generation settings'
options come from :class:`~durian_core.config.GenerationSettings` itself, so they are declared once. Bad input
exits with status 2 and one line ``error: <what is wrong>`` on stderr; an output that cannot be written is found
before any work. Ctrl-C (status 130) and SIGTERM (status 143) stop the work and leave no partial output.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal, TextIO, Union

import tyro
from tyro.constructors import ConstructorRegistry, StructConstructorSpec, StructFieldSpec, StructTypeInfo

from durian_core.cli_usage import bare_flags, raise_usage_error, tyro_errors
from durian_core.config import ATTRIBUTE_KINDS, AttributeKind, EvaluationProtocol, GenerationSettings
from durian_core.errors import DurianInputError, FaceIndexError
from durian_core.native_logs import native_logs_silenced
from durian_core.stopping import TERMINATED_STATUS, Terminated, sigterm_as_interrupt

if TYPE_CHECKING:
    from durian_core.types import AttributeFit, GenerateRequest

PROG = "python -m durian_core"

Repeatable = tyro.conf.UseAppendAction
"""Each use of the flag adds one value."""

Unprefixed = tyro.conf.OmitArgPrefixes
"""A nested settings dataclass whose fields are flags of their own (``--seed``, not ``--settings.seed``)."""

SETTING_FLAGS: dict[str, str] = {
    "motion_multiplier": "multiplier",
    "output_size": "size",
    "num_inference_steps": "steps",
    "face_index": "face",
}
"""Short flags for a few settings; every other setting's flag is its field name with dashes."""


@dataclass(frozen=True)
class AttributeOptions:
    """One ``--attribute`` with the ``--kind``, ``--mask``, ``--weight`` and ``--fit`` that follow it."""

    path: str
    kind: str | None = None
    mask: str | None = None
    weight: float = 1.0
    fit: AttributeFit | None = None  # None: as it lands


def parse_fit(text: str) -> AttributeFit:
    """``--fit DX,DY,SCALE,DEG`` as an :class:`AttributeFit`; :class:`DurianInputError` naming what is wrong."""
    from durian_core.types import AttributeFit  # the types pull in OpenCV: not for ``--help``

    parts = [part.strip() for part in text.split(",")]
    if len(parts) != 4:
        raise DurianInputError(f"--fit takes four numbers DX,DY,SCALE,DEG, got {len(parts)} in {text!r}")
    try:
        dx, dy, scale, degrees = (float(part) for part in parts)
    except ValueError:
        raise DurianInputError(f"--fit takes four numbers DX,DY,SCALE,DEG, got {text!r}") from None
    if not scale > 0:
        raise DurianInputError(f"--fit scale must be above 0, got {parts[2]}")
    try:
        return AttributeFit(dx=dx, dy=dy, scale=scale, degrees=degrees)
    except ValueError as error:
        raise DurianInputError(f"--fit {text}: {error}") from None


@dataclass(frozen=True)
class Generate:
    """Transfer attributes onto a portrait and animate it with a driving video, or onto every frame of a video.

    Examples: generate --portrait me.jpg --attribute them.jpg --kind hair --driving talk.mp4 --output out.mp4;
    generate --portrait me.mp4 --attribute glasses.png --kind glasses --output worn.mp4 (your own clip wears them)
    """

    # the identity: a photo, or a video whose every frame wears the attributes (it takes no --driving)
    portrait: str
    # out.mp4 (with --driving or a portrait video) or, for a still edit, an image: out.png, .jpg, .webp, .tif, ...
    output: str
    attribute: Annotated[tuple[str, ...], Repeatable] = ()  # an attribute image; repeat the flag for several
    kind: Annotated[tuple[AttributeKind, ...], Repeatable] = ()  # kind of the --attribute before it
    # a mask PNG for the --attribute before it, white = attribute (added to the automatic mask, or used alone with
    # --mask-mode replace)
    mask: Annotated[tuple[str, ...], Repeatable] = ()
    weight: Annotated[tuple[float, ...], Repeatable] = ()  # opacity of the --attribute before it, 0..1 (default 1)
    # DX,DY,SCALE,DEG: nudge the --attribute before it once it is on the portrait: move it DX, DY face sizes (right,
    # down; within ±1), scale it (0.5 to 2) and turn it DEG degrees counter-clockwise (within ±45)
    fit: Annotated[tuple[str, ...], Repeatable] = ()
    # add: unite each --mask with the automatic mask; replace: use the --mask alone
    mask_mode: Literal["add", "replace"] = "add"
    alpha: float | None = None  # blend the first two attributes (one kind): 0 = first, 1 = second
    driving: str | None = None  # driving video (motion and audio); without it the output is a still edit
    weights: str | None = None  # Durian weights: a local folder or a Hub id (unset: $DURIAN_WEIGHTS)
    settings: Annotated[GenerationSettings, Unprefixed] = GenerationSettings()
    # each --attribute with the --kind, --mask and --weight after it: tyro cannot group options by position, so
    # parse_command pairs them from the command line's order
    attributes: tyro.conf.Suppress[tuple[AttributeOptions, ...]] = ()

    def run(self, *, progress: TextIO) -> int:
        """Write the edit (no driver) or the video; progress goes to ``progress`` when it is a terminal."""
        from durian_core.api import generate
        from durian_core.media import check_output_path
        from durian_core.tryon import is_video_file

        video_portrait = is_video_file(self.portrait)
        if video_portrait and self.driving:
            raise DurianInputError(
                "a portrait video moves by itself and takes no --driving (a driving video animates a still portrait)"
            )
        # Before any work: a result that cannot be written must not cost a render first.
        output = check_output_path(self.output, video=self.driving is not None or video_portrait)
        request = self.request()
        try:
            result = generate(request, weights=self.weights, output=output, progress=_progress_line(progress))
        except FaceIndexError as error:
            raise DurianInputError(error.message_for("--face")) from error
        timings = ", ".join(f"{stage} {seconds:.2f}s" for stage, seconds in result.timings.items())
        sys.stdout.write(f"wrote {result.path} with the {result.engine} engine ({timings})\n")
        for note in result.notes:
            sys.stdout.write(f"note: {note}\n")
        return 0

    def request(self) -> GenerateRequest:
        """The request these options describe, its attributes loaded."""
        from durian_core.api import build_request, load_attribute
        from durian_core.types import AttributeFit, Interpolation

        references = []
        for entry in self.attributes:
            if entry.kind is None:
                raise DurianInputError(f"attribute {entry.path} needs a --kind ({', '.join(ATTRIBUTE_KINDS)})")
            references.append(
                load_attribute(
                    entry.path,
                    entry.kind,
                    mask=entry.mask,
                    mask_mode=self.mask_mode,
                    weight=entry.weight,
                    fit=entry.fit or AttributeFit(),
                )
            )
        interpolation = None
        if self.alpha is not None:
            if len(references) < 2 or references[0].kind != references[1].kind:
                raise DurianInputError("--alpha blends the first two attributes, which must be of one kind")
            interpolation = Interpolation(0, 1, self.alpha)
        return build_request(
            self.portrait, references, driver=self.driving, interpolation=interpolation, settings=self.settings
        )


def attribute_groups(command: Generate, argv: Sequence[str]) -> list[AttributeOptions]:
    """Each ``--attribute`` with the ``--kind``, ``--mask``, ``--weight`` and ``--fit`` after it.

    tyro collects every use of a flag in order, but not where it stood; the command line's order says which
    attribute each value belongs to.
    """
    values = {
        "--kind": iter(command.kind),
        "--mask": iter(command.mask),
        "--weight": iter(command.weight),
        "--fit": iter(parse_fit(text) for text in command.fit),
    }
    paths = iter(command.attribute)
    groups: list[dict] = []
    for token in argv:
        flag = token.partition("=")[0]
        if flag == "--attribute":
            groups.append({"path": next(paths)})
        elif flag in values:
            if not groups:
                raise DurianInputError(f"{flag} must follow an --attribute")
            groups[-1][flag.removeprefix("--")] = next(values[flag])
    return [AttributeOptions(**group) for group in groups]


def _progress_line(stream):
    """A progress callback drawing a bar on a terminal (and nothing when it is not one)."""
    from durian_core.progress import TerminalProgress

    return TerminalProgress(stream)


@dataclass(frozen=True)
class Mask:
    """Write the automatic mask of an attribute at the image's own size (white = attribute, grey along a soft
    edge), to edit in any painting program and pass back to generate with --mask.

    Example: mask --image them.jpg --kind hair --output hair_mask.png
    """

    image: str  # the image whose attribute is masked (the attribute image you will pass to generate)
    kind: AttributeKind  # the attribute to mask
    output: str  # the mask to write: .png (or .bmp, .jpg, .webp), in a folder that exists
    face: int = 0  # which face of the image: 0 is the largest, 1 the next largest, and so on

    def run(self, *, progress: TextIO) -> int:
        """Write the mask and say what share of the image it covers."""
        import numpy as np

        from durian_core.media import check_output_path, write_image
        from durian_core.prepare import automatic_mask_of_file

        target = check_output_path(self.output, video=False)  # before the work: a bad path fails at once
        mask = automatic_mask_of_file(self.image, self.kind, face=self.face)
        grey = np.round(np.clip(mask, 0, 1) * 255).astype(np.uint8)
        try:
            written = write_image(grey, target)
        except OSError as error:
            raise DurianInputError(f"cannot write the mask to '{target}': {error.strerror or error}") from None
        height, width = grey.shape
        share = float((grey > 127).mean())
        sys.stdout.write(f"wrote {written} ({width}×{height}; {share:.0%} of the image is {self.kind})\n")
        return 0


@dataclass(frozen=True)
class EvaluationSettings(GenerationSettings):
    """Generation settings (evaluation takes these few)."""

    options: ClassVar[tuple[str, ...]] = ("engine", "max_seconds", "output_size")


@dataclass(frozen=True)
class Evaluate:
    """Measure transfer quality: self-reenactment, self-reconstruction (the paper's protocol), a video wearing an
    attribute, the cross-identity grid of the examples, or the automatic hair masks on labelled photos. Prints JSON.

    Examples: evaluate --video clip.mp4 (self-reenactment); evaluate --video clip.mp4 --protocol
    reconstruction --kind hair; evaluate --video clip.mp4 --protocol tryon --kind glasses (the clip wears them);
    evaluate --grid --sheet grid.png; evaluate --masks --sheet masks.png (the labelled set in tests/data/hair);
    evaluate --toy-transfer --engine durian --weights runs/toy/stage1/final --sheet transfer.png (held-out toy
    people and looks).
    """

    video: str | None = None  # a talking-face video (the three video protocols)
    # reenactment: animate the first frame with the video's motion; reconstruction: rebuild every frame from the
    # first frame without its attribute and the middle frame's attribute; tryon: the video itself wears --kind
    protocol: EvaluationProtocol = "reenactment"
    kind: AttributeKind = "hair"  # the attribute the reconstruction transfers (or the video wears) and that is scored
    attribute: str | None = None  # with --protocol tryon: the attribute image (default: the example of --kind)
    grid: bool = False  # every example portrait × every example attribute, as stills
    # score the automatic hair masks on a labelled set (a folder with manifest.json; --masks alone: tests/data/hair):
    # per image the share of hair covered, of non-hair left out, and the IoU
    masks: str | None = None
    # cross-identity transfer, α interpolation and composition on held-out toy people and looks (for weights
    # trained on toy data)
    toy_transfer: bool = False
    pairs: int = 12  # with --toy-transfer: held-out pairs
    sheet: str | None = None  # with --grid, --masks or --toy-transfer: write the contact sheet PNG here
    weights: str | None = None  # Durian weights: a local folder or a Hub id (unset: $DURIAN_WEIGHTS)
    settings: Annotated[EvaluationSettings, Unprefixed] = EvaluationSettings()

    def run(self, *, progress: TextIO) -> int:
        """Print the chosen measurement as JSON."""
        from durian_core import evaluation
        from durian_core.media import check_output_path

        if self.sheet is not None:
            check_output_path(self.sheet, video=False)
        settings = self.settings
        engine = settings.engine
        if self.toy_transfer:
            from durian_core.api import choose_engine, load_engine
            from durian_core.training.transfer import evaluate_transfer

            chosen = load_engine(choose_engine(engine, weights=self.weights))
            report = evaluate_transfer(chosen, pairs=self.pairs, sheet=self.sheet).summary()
        elif self.grid:
            report = evaluation.cross_identity_grid(
                engine=engine, weights=self.weights, size=settings.output_size, sheet=self.sheet
            )
        elif self.masks is not None:
            from durian_core.mask_benchmark import evaluate_masks
            from durian_core.media import check_output_path

            sheet = check_output_path(self.sheet, video=False) if self.sheet else None
            report = evaluate_masks(self.masks, sheet=sheet)
        elif self.video is None:
            raise DurianInputError("evaluate needs --video (or --grid, or --masks)")
        elif self.protocol == "tryon":
            from durian_core.tryon_metrics import tryon_report

            report = tryon_report(
                self.video, kind=self.kind, attribute=self.attribute, max_seconds=settings.max_seconds
            )
        elif self.protocol == "reconstruction":
            report = evaluation.self_reconstruction(
                self.video, kind=self.kind, engine=engine, weights=self.weights, max_seconds=settings.max_seconds
            )
        else:
            report = evaluation.self_reenactment(
                self.video, engine=engine, weights=self.weights, max_seconds=settings.max_seconds, kind=self.kind
            )
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0


@dataclass(frozen=True)
class Bench:
    """Per-stage timings (medians) as JSON."""

    engine: Literal["classical", "durian"] = "classical"  # the engine to time
    repeats: int = 5  # timed runs per stage; the report gives medians
    size: int = 512  # side of the square portrait and frames, in pixels
    config: str = "tiny"  # durian model config: tiny, toy or sd15
    random_weights: bool = False  # durian: random weights (speed only)
    weights: str | None = None  # durian: weights to time instead (a folder or owner/name@revision)
    frames: int = 16  # durian: frames per clip
    steps: int = 25  # durian: denoising steps
    compile_blocks: Annotated[bool, tyro.conf.arg(name="compile")] = False  # durian: compile the repeated blocks
    # time video portraits instead: the talking-face clip, square, wearing each kind; and the mirror
    video_portrait: bool = False

    def run(self, *, progress: TextIO) -> int:
        """Print the timings as JSON."""
        if self.video_portrait:
            from durian_core.bench.video_portrait import bench_video_portrait

            report = bench_video_portrait(size=self.size, repeats=self.repeats)
        elif self.engine == "classical":
            from durian_core.bench.classical import bench_classical

            report = bench_classical(size=self.size, repeats=self.repeats)
        else:
            from durian_core.bench.durian import bench_durian

            if not self.random_weights and not self.weights:
                raise DurianInputError("bench --engine durian needs --random-weights or --weights")
            report = bench_durian(
                config=self.config,
                random_weights=self.random_weights,
                weights=self.weights,
                frames=self.frames,
                size=self.size,
                steps=self.steps,
                repeats=self.repeats,
                compile_blocks=self.compile_blocks,
            )
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
        return 0


def _command_types() -> list:
    commands = [
        Annotated[Generate, tyro.conf.subcommand("generate")],
        Annotated[Mask, tyro.conf.subcommand("mask")],
        Annotated[Evaluate, tyro.conf.subcommand("evaluate")],
        Annotated[Bench, tyro.conf.subcommand("bench")],
    ]
    try:
        from durian_core.training.cli import Preprocess, Train
    except ImportError:  # training code is optional at run time
        return commands
    return [
        *commands,
        Annotated[Preprocess, tyro.conf.subcommand("preprocess")],
        Annotated[Train, tyro.conf.subcommand("train")],
    ]


Command = Union[tuple(_command_types())]  # noqa: UP007 (a union built from a list)


@dataclass(frozen=True)
class CommandLine:
    """Portrait animation with attribute transfer."""

    command: Annotated[Command, tyro.conf.arg(name="")]
    verbose: bool = False  # keep native libraries' log output


def _settings_registry() -> ConstructorRegistry:
    """tyro's options for :class:`GenerationSettings`, with the short flags of :data:`SETTING_FLAGS` and, for a
    subclass with ``options``, only those fields (the rest keep their defaults)."""
    registry = ConstructorRegistry()
    # The rule starts from the spec tyro's own dataclass rule makes; asking the registry for it asks this rule again.
    building: list[type] = []

    @registry.struct_rule
    def settings_options(info: StructTypeInfo) -> StructConstructorSpec | None:
        if building or not (isinstance(info.type, type) and issubclass(info.type, GenerationSettings)):
            return None
        building.append(info.type)
        try:
            spec = ConstructorRegistry.get_struct_spec(info)
        finally:
            building.pop()
        if not isinstance(spec, StructConstructorSpec):
            return None
        shown = getattr(info.type, "options", None)
        fields = tuple(_setting_option(field, shown=shown) for field in spec.fields)
        return dataclasses.replace(spec, fields=fields)

    return registry


def _setting_option(field: StructFieldSpec, *, shown: tuple[str, ...] | None) -> StructFieldSpec:
    kind = field.type
    if field.name in SETTING_FLAGS:
        kind = Annotated[kind, tyro.conf.arg(name=SETTING_FLAGS[field.name])]
    if shown is not None and field.name not in shown:
        kind = Annotated[kind, tyro.conf.Suppress]
    return dataclasses.replace(field, type=kind)


def parse_command(argv: Sequence[str]) -> CommandLine:
    """The command and its options; :class:`UsageError` for a command line that cannot be read.

    ``--help`` prints the help and raises ``SystemExit(0)``.
    """
    with tyro_errors.on_parse_error(raise_usage_error):
        parsed = tyro.cli(
            CommandLine,
            args=bare_flags(argv),
            prog=PROG,
            registry=_settings_registry(),
            config=(tyro.conf.OmitSubcommandPrefixes, tyro.conf.CascadeSubcommandArgs, tyro.conf.FlagCreatePairsOff),
        )
    if isinstance(parsed.command, Generate):
        attributes = tuple(attribute_groups(parsed.command, argv))
        parsed = dataclasses.replace(parsed, command=dataclasses.replace(parsed.command, attributes=attributes))
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        with sigterm_as_interrupt():
            parsed = parse_command(argv)
            with native_logs_silenced(not parsed.verbose) as progress:
                return parsed.command.run(progress=progress)
    except (DurianInputError, ValueError) as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    except Terminated:
        sys.stderr.write("error: terminated; nothing was written\n")
        return TERMINATED_STATUS
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130
