"""The figures of docs/model-card.md, per shipped model and per expression, in one run.

    python benchmarks/model_card.py [--model NAME ...] [--markdown docs/model-card-figures.md]

For each model: precision and recall per expression on FER2013's PrivateTest against the FERPlus
majority (the shipped model's figures, as ``moodlens evaluate`` computes them; PrivateTest is not
used to choose anything here), accuracy, balanced accuracy and ECE; and recall per posed expression
on JAFFE end to end (the shipped detector included; zero-shot: JAFFE never trains, selects or
calibrates a model), with what each posed expression is most often read as.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from common import FER2013, SHARED, machine, require
from jaffe import JAFFE, analyse, read_jaffe
from moodlens.classification import SHIPPED_MODELS, OnnxClassifier, model_path
from moodlens.data import load_dataset
from moodlens.evaluation import compute_metrics, evaluate
from moodlens.labels import LABELS

FERPLUS = Path(os.environ.get("MOODLENS_FERPLUS", SHARED / "data" / "ferplus" / "fer2013new.csv"))


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows[1:]])


def ferplus_section(name: str, path: Path, data: object) -> str:
    result = evaluate(OnnxClassifier(path), data, "PrivateTest")  # type: ignore[arg-type]
    m = result.metrics
    rows = [["expression", "precision", "recall", "faces"]]
    rows += [[c.label, f"{c.precision:.2f}", f"{c.recall:.2f}", f"{c.support:,}"] for c in m.per_class]
    head = (
        f"FERPlus majority, PrivateTest ({m.count:,} faces): accuracy **{100 * m.accuracy:.2f}%**, "
        f"balanced accuracy **{m.balanced_accuracy:.3f}**, macro-F1 {m.macro_f1:.3f}, "
        f"ECE {result.extra['calibration']['ece']:.3f}"
    )
    return head + "\n\n" + table(rows)


def jaffe_section(path: Path, photos: list) -> str:
    import moodlens

    probs, _ = analyse(moodlens.Analyzer(classifier=OnnxClassifier(path)), photos)
    truth = np.array([p.label for p in photos])
    found = ~np.isnan(probs[:, 0])
    predicted = np.where(found, np.nan_to_num(probs).argmax(1), -1)
    m = compute_metrics(truth[found], predicted[found])
    rows = [["posed", "photos", "read as posed", "most often read as otherwise"]]
    for k, label in enumerate(LABELS):
        mine = truth == k
        wrong = predicted[mine & (predicted != k) & (predicted >= 0)]
        other = LABELS[int(np.bincount(wrong, minlength=7).argmax())] if len(wrong) else "-"
        rows.append([label, str(int(mine.sum())), f"{(predicted[mine] == k).mean():.2f}", other])
    head = (
        f"JAFFE, zero-shot, end to end ({len(photos)} photos, {int(found.sum())} with one face found): "
        f"accuracy **{100 * float((predicted == truth).mean()):.1f}%**, balanced accuracy "
        f"{m.balanced_accuracy:.3f}; read as neutral {int((predicted == LABELS.index('neutral')).sum())} times "
        f"(30 posed neutral)"
    )
    return head + "\n\n" + table(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", action="append", help="a shipped model name or an .onnx file")
    parser.add_argument("--markdown", type=Path, help="also write the sections to this file")
    args = parser.parse_args()
    data = load_dataset(require(FER2013, "FER2013"), ferplus=require(FERPLUS, "FERPlus"))
    photos = read_jaffe(JAFFE) if JAFFE.exists() else []
    parts = [f"Measured by `python benchmarks/model_card.py` ({machine()})."]
    for name in args.model or list(SHIPPED_MODELS):
        path = Path(name) if name.endswith(".onnx") else model_path(name)
        parts.append(f"### `{name}`\n\n{ferplus_section(name, path, data)}")
        parts.append(jaffe_section(path, photos) if photos else f"(JAFFE not found at {JAFFE})")
    text = "\n\n".join(parts) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
