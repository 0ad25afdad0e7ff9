"""The composition proof in one command: train the toy model longer than CI affords, on looks with a beard beside
the hair, and measure transfer, face, α and composition on held-out people and looks.

Run from the repository root (about 80 minutes on two shared cores with the defaults; ``--quick`` goes through every
phase in a few minutes):

    python scripts/prove_composition.py --output runs/prove --seed 0

Stopped, the same command continues from the newest checkpoint. Figures go to ``OUTPUT/proof.json``, the contact
sheet to ``OUTPUT/sheet.png`` (see ``durian_core/training/prove.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shlex
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from durian_core.training.prove import QUICK, RECIPES, ProofSettings, measure_checkpoint, run_proof  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="folder for the data, the run and the figures")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--recipe", choices=RECIPES, default=ProofSettings.recipe)
    parser.add_argument("--extra", choices=("beard", "glasses"), default=ProofSettings.extra)
    parser.add_argument("--steps", type=int, help=f"stage-1 steps (default {ProofSettings.steps})")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one runs fastest on a shared CPU)")
    parser.add_argument("--quick", action="store_true", help="a few minutes through every phase (not the claim)")
    parser.add_argument(
        "--checkpoint",
        action="store_true",
        help="only measure the run's newest checkpoint as it stands (while it trains or after it stopped)",
    )
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    # Stopped with `kill`, the run still adds this session's time to timing.json; its checkpoints are on disk.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    changes = dict(QUICK) if args.quick else {}
    if args.steps is not None:
        changes["steps"] = args.steps
    settings = ProofSettings(output=args.output, seed=args.seed, recipe=args.recipe, extra=args.extra)
    settings = dataclasses.replace(settings, **changes)
    command = shlex.join(["python", "scripts/prove_composition.py", *sys.argv[1:]])
    if args.checkpoint:
        record = measure_checkpoint(settings, command=command)
        head = {"step": record["step"]}
    else:
        record = run_proof(settings, command=command)
        head = {"wall_minutes": record["wall_minutes_total"]}
    figures = {key: value for key, value in record["figures"].items() if key != "per_pair"}
    sys.stdout.write(json.dumps({**head, **figures}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
