"""Copy an exported model as a teacher whose output is balanced by a given amount of the label prior.

Teachers of one run form an ensemble whose log-probabilities are averaged, and the run states how
much of the prior they are balanced by (``teacher_logit_adjust_tau``). A model trained on the
natural prior (the shipped ``crowd`` v2.2) and one trained with a logit-adjusted loss (the v3
teacher) only average meaningfully once they are on the same scale: this writes a copy of a model
whose decision offset is ``beta * log(prior)`` (the Training split's FERPlus-majority prior, as
``moodlens calibrate --decision`` uses), with no temperature, for ``moodlens train`` to run as an
ONNX teacher. ``--beta -1`` balances a natural model fully; ``--beta 0`` leaves it as trained.

    python scripts/balanced_teacher.py src/moodlens/models/crowd.onnx runs/teachers/v22_balanced.onnx \
        --beta -1 --data fer2013.csv.gz --ferplus fer2013new.csv

Nothing here is fitted: beta is the caller's, and only the Training labels' counts are read.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from pathlib import Path

from moodlens.classification.metadata import load_metadata, save_metadata
from moodlens.data import load_dataset
from moodlens.errors import MoodlensError
from moodlens.evaluation.decision import log_prior


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("model", type=Path, help="an exported model (.onnx with its .json)")
    parser.add_argument("out", type=Path, help="the teacher's .onnx path (its .json is written beside it)")
    parser.add_argument("--beta", type=float, required=True, help="how much of log(prior) to add, in [-2, 2]")
    parser.add_argument("--data", required=True, help="fer2013.csv(.gz): the Training split's labels")
    parser.add_argument(
        "--ferplus", help="fer2013new.csv: count FERPlus majorities (the crowd model's labels)"
    )
    args = parser.parse_args(argv)
    if not -2 <= args.beta <= 2:
        parser.error(f"--beta must lie in [-2, 2], got {args.beta}")
    if args.out.suffix != ".onnx":
        parser.error(f"the teacher's path must end in .onnx, got {args.out}")
    if not args.model.is_file() or args.model.stat().st_size == 0:
        parser.error(f"{args.model} is not a model file (missing or empty)")
    if args.out.resolve() == args.model.resolve():
        parser.error("the teacher must be a copy: OUT is the model itself")
    try:
        meta = load_metadata(args.model)
        counts = load_dataset(args.data, ferplus=args.ferplus).split("Training").class_counts()
    except (OSError, ValueError, MoodlensError) as exc:  # a missing or unreadable model or data
        print(f"balanced_teacher.py: {exc}", file=sys.stderr)
        return 1
    offset = tuple(round(float(v), 5) for v in args.beta * log_prior(counts))
    decision = {
        "rule": "log-probabilities + beta * log(Training label prior), beta given (a teacher, not fitted)",
        "beta": args.beta,
        "prior_counts": [int(c) for c in counts],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.model, args.out)
    save_metadata(replace(meta, offset=offset, decision=decision, temperature=1.0, calibration={}), args.out)
    print(f"wrote {args.out} (offset {args.beta:+.2f} x log prior)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
