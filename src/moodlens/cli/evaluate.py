"""``moodlens evaluate``: accuracy, per-class figures, confusion matrix and an error gallery."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from moodlens.cli.numbers import THREADS


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "evaluate",
        help="evaluate a classifier model on a FER2013 split",
        description="Evaluate an ONNX classifier (default: the shipped one) on a split of FER2013 "
        "(CSV or image folders) and write metrics.json, confusion.png, errors.png, predictions.csv "
        "and report.html into --out.",
    )
    from moodlens.cli.common import add_model_option

    add_model_option(parser)
    parser.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or image-folder root")
    parser.add_argument("--split", default="PrivateTest", help="Training, PublicTest or PrivateTest")
    parser.add_argument("--out", required=True, help="folder for the report")
    parser.add_argument("--tta", action="store_true", help="average with horizontally mirrored faces")
    parser.add_argument("--ferplus", help="evaluate against FERPlus majority labels instead")
    parser.add_argument("--skip-bad", action="store_true", help="skip malformed rows/images")
    parser.add_argument("--threads", type=THREADS, default=0, help="ONNX Runtime threads")
    parser.add_argument(
        "--record",
        action="store_true",
        help="write the accuracy and macro-F1 measured here into the model's JSON",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moodlens.classification import OnnxClassifier, model_path
    from moodlens.classification.registry import is_shipped
    from moodlens.data import SPLITS, load_dataset
    from moodlens.evaluation import evaluate, write_report

    if args.split not in SPLITS:
        print(f"moodlens evaluate: error: --split must be one of {', '.join(SPLITS)}", file=sys.stderr)
        return 2
    model = model_path(args.model)
    if args.record and is_shipped(model):
        print(
            f"moodlens evaluate: error: --record writes into the model's JSON, and {model.name} is a "
            f"model shipped inside moodlens ({model.parent}), not rewritten in place: evaluate a copy "
            "(moodlens export), or leave out --record",
            file=sys.stderr,
        )
        return 2
    classifier = OnnxClassifier(model, threads=args.threads, batch_size=256)
    data = load_dataset(args.data, ferplus=args.ferplus, skip_bad=args.skip_bad)
    result = evaluate(classifier, data, args.split, model=str(model), tta=args.tta)
    paths = write_report(result, args.out)
    m = result.metrics
    ece = result.extra["calibration"]["ece"]
    labels = result.extra["labels_from"]
    print(
        f"{args.split} ({labels} labels): {m.count} faces, accuracy {m.accuracy:.4f}, "
        f"balanced accuracy {m.balanced_accuracy:.4f}, macro-F1 {m.macro_f1:.4f}, ECE {ece:.4f}"
        + (
            f" (without the model's temperature {result.extra['temperature']:.2f}: "
            f"{result.extra['calibration_without_temperature']['ece']:.4f})"
            if "calibration_without_temperature" in result.extra
            else ""
        )
    )
    for c in m.per_class:
        print(f"  {c.label:9s} precision {c.precision:.3f} recall {c.recall:.3f} F1 {c.f1:.3f} ({c.support})")
    print(f"report: {paths['report']}")
    if args.record:
        from dataclasses import replace

        from moodlens.classification.metadata import save_metadata

        meta = classifier.metadata
        entry = {
            "accuracy": round(m.accuracy, 5),
            "macro_f1": round(m.macro_f1, 5),
            "balanced_accuracy": round(m.balanced_accuracy, 5),
            "ece": round(ece, 5),
            "count": m.count,
            "labels": labels,
            "tta": args.tta,
            "data_sha256": data.sha256,
        }
        if "calibration_without_temperature" in result.extra:
            entry["ece_without_temperature"] = result.extra["calibration_without_temperature"]["ece"]
        key = args.split if args.ferplus is None else f"{args.split} FERPlus"
        save_metadata(replace(meta, metrics={**meta.metrics, key: entry}), model)
        print(f"recorded {key} figures in {Path(str(model)).with_suffix('.json')}")
    return 0
