"""``python -m durian_core preprocess`` and ``python -m durian_core train``: their options and what they run.

:mod:`durian_core.cli` adds these commands; tyro builds their options from the fields below (``preprocess`` takes
its settings' options from :class:`~durian_core.training.preprocess.PreprocessSettings` itself). Bad input raises
:class:`~durian_core.errors.DurianInputError`, which the CLI prints as one line.
"""

from __future__ import annotations

import contextlib
import json
import sys
from dataclasses import dataclass
from typing import Annotated, Literal, TextIO

import tyro

from durian_core.errors import DurianInputError
from durian_core.training.preprocess import PreprocessSettings


@dataclass(frozen=True)
class Preprocess:
    """Turn a folder of portrait videos into a training cache (resumable).

    Crop, landmarks, attribute masks and keypoint maps of every video under --videos, written to --out. Unusable
    videos are skipped with a reason; running again resumes. Example: preprocess --videos data/videos --out
    data/cache --resolution 512 --fps 25
    """

    videos: str  # folder of videos (searched recursively)
    out: str  # cache folder to write (created if missing)
    settings: Annotated[PreprocessSettings, tyro.conf.OmitArgPrefixes] = PreprocessSettings()
    workers: int = 1  # processes on this machine, each taking the next video
    # k/n: only slice k (counted from 0) of n of the videos, for one of n machines writing into one --out; when all
    # are done, run once more without it so the manifest lists every video
    shard: str | None = None

    def run(self, *, progress: TextIO) -> int:
        """Write the cache (a progress bar on ``progress`` when it is a terminal), then a JSON summary on stdout; exit
        status 1 when no video is usable."""
        from durian_core.progress import TerminalProgress
        from durian_core.training.preprocess import parse_shard, preprocess_videos

        shard = parse_shard(self.shard) if self.shard else None
        with TerminalProgress(progress, unit="video") as bar:
            report = preprocess_videos(
                self.videos, self.out, settings=self.settings, on_video=bar.item, workers=self.workers, shard=shard
            )
        summary = {
            "cache": str(self.out),
            "usable_videos": len(report.manifest.videos) if report.manifest else 0,
            "written_now": len(report.written),
            "already_done": len(report.already_done),
            "skipped": report.skipped,
        }
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
        return 0 if summary["usable_videos"] else 1


@dataclass(frozen=True)
class Train:
    """Train the Durian model (stage 1: references; stage 2: motion modules).

    Self-reconstruction training on a cache written by `preprocess`. Multi-GPU and multi-node: `accelerate
    launch -m durian_core train ...`. Example: train --config sd15 --set data=data/cache --set
    output_dir=runs/sd15 --stage all
    """

    config: str = "tiny"  # a preset (tiny, toy, sd15) or a YAML/JSON file
    # override a setting, dotted for nested ones (stage1.learning_rate=2e-5); repeat the flag for several
    overrides: Annotated[
        tuple[str, ...], tyro.conf.UseAppendAction, tyro.conf.arg(name="set", metavar="KEY=VALUE")
    ] = ()
    data: str | None = None  # the training cache (same as --set data=...)
    output_dir: str | None = None  # where runs are written (same as --set output_dir=...)
    stage: Literal["1", "2", "all"] = "all"  # which stage(s) to run
    # continue from the newest checkpoint of the stage (--resume alone, or --resume latest) or from the checkpoint
    # folder given
    resume: str | None = None
    # first write a toy dataset to the data folder: 96 synthetic videos of 24 people in 24 looks, cast
    # independently, for trying the loop (`evaluate --toy-transfer` measures the result)
    toy_data: bool = False
    print_config: bool = False  # print the resolved config and exit

    def run(self, *, progress: TextIO) -> int:
        """Train the stages asked for (or print the resolved config); progress bars go to ``progress``."""
        from durian_core.training.config import load_training_config, training_config_yaml

        overrides = list(self.overrides)
        if self.data:
            overrides.append(f"data={self.data}")
        if self.output_dir:
            overrides.append(f"output_dir={self.output_dir}")
        config = load_training_config(self.config, overrides=overrides)
        if self.print_config:
            sys.stdout.write(training_config_yaml(config))
            return 0
        if not config.data:
            raise DurianInputError("no training data: pass --data CACHE (a folder written by `preprocess`)")
        # Progress (bars and the line before each) goes to the terminal's standard error.
        with contextlib.redirect_stderr(progress):
            if self.toy_data:
                from durian_core.models.config import model_config
                from durian_core.training.toy import TOY_DATASET, write_toy_dataset

                resolution = model_config(config.model).resolution
                sys.stderr.write(f"writing a toy dataset at {resolution} px to {config.data} (reused if complete)\n")
                write_toy_dataset(config.data, resolution=resolution, **TOY_DATASET)
            from durian_core.training.loop import train

            stages = (1, 2) if self.stage == "all" else (int(self.stage),)
            results = train(config, stages=stages, resume=self.resume)
        for result in results:
            sys.stdout.write(f"stage {result.stage}: {result.steps} steps, pipeline at {result.final_dir}\n")
        return 0
