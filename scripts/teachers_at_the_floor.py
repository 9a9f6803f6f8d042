"""How well teachers read PublicTest at the decision rule's balance floor, each and averaged: what
a student distilled from them could hope for, measured before one is trained (issue 27).

Each teacher is an exported model on one scale: a class-balanced copy made by
``scripts/balanced_teacher.py`` (a natural model ``--beta -1``, a logit-adjusted one ``--beta 0``),
run as it runs in training (its decision offset applied, no temperature). Their log-probabilities
are averaged as the training ensemble averages them, and every reading (each teacher, and the
average of all) is put through the prior decision rule chosen on PublicTest: the most accurate
beta whose balanced accuracy reaches 0.80, in-sample and held out (fitted on one half of
PublicTest, measured on the other). The beta printed is added on top of each teacher's own offset
(a natural model balanced with ``--beta -1`` that reads best at beta +0.85 ships at -0.15). A row
marked ``*`` reaches no balance of 0.80 at any beta: its beta has the best mean of the two.
PrivateTest is never read.

    python scripts/teachers_at_the_floor.py runs/teachers/v22_balanced.onnx runs/teachers/vgg_m_la.onnx \
        runs/teachers/vgg_l_la.onnx --data fer2013.csv.gz --ferplus fer2013new.csv

A student rarely passes its teachers: an average that does not read better than the shipped model
at the floor (``crowd`` v2.3: 85.98% held out at 0.801) is not worth a student's training run.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from moodlens.classification import OnnxClassifier
from moodlens.classification.onnx import prepare_batch
from moodlens.data import load_dataset
from moodlens.errors import MoodlensError
from moodlens.evaluation.decision import MIN_BALANCED, HeldOut, choose_offset, held_out, rule_fit


@dataclass(frozen=True)
class Reading:
    """One reading of PublicTest at the floor: in-sample (the rule chosen and measured on all of
    it) and held out."""

    name: str
    beta: float
    accuracy: float
    balanced_accuracy: float
    held: HeldOut


def teacher_logp(model: Path, images: npt.NDArray[np.uint8]) -> npt.NDArray[np.float64]:
    """A teacher's log-probabilities as training reads it: its offset applied, no temperature."""
    classifier = OnnxClassifier(model, threads=0, batch_size=256)
    probs = classifier.predict_prepared(prepare_batch(images, classifier.metadata), calibrated=False)
    return np.log(np.clip(probs.astype(np.float64), 1e-12, None))


def at_the_floor(
    name: str, logp: npt.NDArray[np.float64], labels: npt.NDArray[np.int64], counts: npt.ArrayLike
) -> Reading:
    choice = choose_offset(logp, labels, counts)
    _, accuracy, balanced = next(row for row in choice.table if row[0] == choice.beta)
    return Reading(name, choice.beta, accuracy, balanced, held_out(logp, labels, rule_fit("prior", counts)))


def _row(r: Reading) -> str:
    mark = "" if r.balanced_accuracy >= MIN_BALANCED else " \\*"
    return (
        f"| {r.name}{mark} | {r.beta:+.2f} | {r.accuracy:.2%} | {r.balanced_accuracy:.3f} | "
        f"{r.held.accuracy:.2%} | {r.held.balanced_accuracy:.3f} |"
    )


def readings(
    models: list[Path], images: npt.NDArray[np.uint8], labels: npt.NDArray[np.int64], counts: npt.ArrayLike
) -> list[Reading]:
    """Each teacher's reading, then (with two or more) their average's."""
    logps = [teacher_logp(model, images) for model in models]
    out = [at_the_floor(m.name, lp, labels, counts) for m, lp in zip(models, logps, strict=True)]
    if len(models) > 1:
        mean = np.mean(logps, axis=0)
        # Renormalised, as a softmax of the averaged log-probabilities (the ensemble's output).
        mean = mean - np.log(np.exp(mean).sum(axis=1, keepdims=True))
        out.append(at_the_floor(f"average of {len(models)}", mean, labels, counts))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("models", type=Path, nargs="+", help="teachers: exported .onnx files (with .json)")
    parser.add_argument("--data", required=True, help="fer2013.csv(.gz)")
    parser.add_argument("--ferplus", help="fer2013new.csv: FERPlus majority labels (the crowd model's)")
    args = parser.parse_args(argv)
    for model in args.models:
        if not model.is_file():
            parser.error(f"{model}: no such model file")
    try:
        data = load_dataset(args.data, ferplus=args.ferplus)
        public = data.split("PublicTest")
        counts = data.split("Training").class_counts()
        found = readings(list(args.models), public.images, np.asarray(public.labels), counts)
    except (OSError, ValueError, MoodlensError) as exc:
        print(f"teachers_at_the_floor.py: {exc}", file=sys.stderr)
        return 1
    print(f"PublicTest, {len(public.labels)} faces; the prior rule at balanced accuracy >= 0.80")
    print("| reading | beta | accuracy | balanced | held out: accuracy | balanced |")
    print("|---|---|---|---|---|---|")
    for r in found:
        print(_row(r))
    if any(r.balanced_accuracy < MIN_BALANCED for r in found):
        print("\\* no beta reaches balanced accuracy 0.80: the beta with the best mean of the two")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
