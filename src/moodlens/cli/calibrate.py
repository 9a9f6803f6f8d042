"""``moodlens calibrate``: fit a model's temperature on PublicTest and store it in its metadata."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from moodlens.cli.numbers import THREADS


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "calibrate",
        help="fit a model's temperature (confidence calibration) on a held-out split",
        description="Fit temperature scaling on PublicTest (model selection data; PrivateTest is for "
        "the final report and is refused) by minimising the negative log-likelihood, and write the "
        "temperature into the model's JSON: the classifier applies it, so the confidences it reports "
        "match how often it is right. Labels are FER2013's, or the FERPlus majority with --ferplus.",
    )
    from moodlens.cli.common import add_model_option

    add_model_option(parser)
    parser.add_argument("--data", required=True, help="FER2013 CSV (.csv/.csv.gz) or image-folder root")
    parser.add_argument("--ferplus", help="fit against FERPlus majority labels (fer2013new.csv)")
    parser.add_argument("--split", default="PublicTest", help="Training or PublicTest (default)")
    parser.add_argument("--threads", type=THREADS, default=0, help="ONNX Runtime threads")
    parser.add_argument(
        "--decision",
        nargs="?",
        const="prior",
        choices=("prior", "per-class"),
        help="first choose the decision rule. 'prior' (the default): how much of the Training labels' "
        "prior to add to (or, negative, take from) the log-probabilities, the most accurate choice on "
        "the split whose balanced accuracy is at least 0.80 (else the best mean of the two); "
        "'per-class': one offset per expression, aimed at the balance whose held-out estimate "
        "(cross-validated on the split) reaches 0.80. Both print that held-out estimate",
    )
    parser.add_argument("--dry-run", action="store_true", help="print the fit, write nothing")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from moodlens.classification import OnnxClassifier, model_path
    from moodlens.classification.metadata import save_metadata
    from moodlens.classification.registry import is_shipped
    from moodlens.data import load_dataset
    from moodlens.evaluation.calibration import (
        fit_temperature,
        negative_log_likelihood,
        reliability,
        tempered,
    )
    from moodlens.evaluation.runner import predict_split

    if args.split not in ("Training", "PublicTest"):
        print(
            "moodlens calibrate: error: fit on PublicTest (or Training); "
            "PrivateTest is kept for the final report",
            file=sys.stderr,
        )
        return 2
    path = model_path(args.model)
    if not args.dry_run and is_shipped(path):
        print(
            f"moodlens calibrate: error: {path.name} is a model shipped inside moodlens ({path.parent}); "
            f"its metadata is not rewritten in place: calibrate a copy (moodlens export {path} --out "
            "mine.onnx, then --model mine.onnx), or add --dry-run to see the fit",
            file=sys.stderr,
        )
        return 2
    classifier = OnnxClassifier(path, threads=args.threads, batch_size=256)
    data = load_dataset(args.data, ferplus=args.ferplus)
    part = data.split(args.split)
    shown = predict_split(classifier, part.images)
    # Fit on the model's own output, without any temperature it already carries.
    raw = tempered(shown, 1.0 / classifier.metadata.temperature)
    meta = classifier.metadata
    if args.decision:
        meta = _choose_decision(
            meta, raw, part, data.split("Training").class_counts(), args.split, rule=args.decision
        )
        raw = _with_offset(raw, meta.offset, classifier.metadata.offset)
    temperature = fit_temperature(raw, part.labels)
    calibrated = tempered(raw, temperature)
    before, after = reliability(raw, part.labels), reliability(calibrated, part.labels)
    labels = "FERPlus majority" if args.ferplus else "FER2013"
    print(
        f"{path.name}: temperature {temperature:.3f} on {args.split} ({labels} labels, {len(part)} faces): "
        f"NLL {negative_log_likelihood(raw, part.labels):.4f} -> "
        f"{negative_log_likelihood(calibrated, part.labels):.4f}, "
        f"ECE {before.ece:.4f} -> {after.ece:.4f}"
    )
    if args.dry_run:
        return 0
    details = {
        "method": "temperature scaling (one scalar, NLL)",
        "fitted_on": args.split,
        "labels": labels,
        "count": len(part),
        "data_sha256": part.sha256,
        "ece_bins": len(before.count),
        "ece_before": round(before.ece, 5),
        "ece_after": round(after.ece, 5),
        "fitted_at": datetime.now(UTC).strftime("%Y-%m-%d"),
    }
    save_metadata(replace(meta, temperature=round(temperature, 4), calibration=details), path)
    print(f"wrote the temperature into {path.with_suffix('.json')}")
    return 0


def _with_offset(probs: Any, offset: tuple[float, ...], old: tuple[float, ...]) -> Any:
    """Probabilities with the decision offset ``offset`` in place of ``old``."""
    import numpy as np

    logp = np.log(np.clip(probs, 1e-12, None)) - (np.asarray(old) if old else 0.0)
    if offset:
        logp = logp + np.asarray(offset)
    e = np.exp(logp - logp.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _choose_decision(meta: Any, raw: Any, part: Any, counts: Any, split: str, *, rule: str) -> Any:
    from dataclasses import replace

    import numpy as np

    from moodlens.evaluation.decision import choose_offset, choose_per_class, held_out, rule_fit

    plain = _with_offset(raw, (), meta.offset)
    logp = np.log(np.clip(plain, 1e-12, None))
    choice = choose_offset(logp, part.labels, counts)
    for beta, accuracy, balanced in choice.table:
        mark = "  <- chosen" if rule == "prior" and beta == choice.beta else ""
        print(f"  beta {beta:.2f}: accuracy {accuracy:.4f}, balanced accuracy {balanced:.4f}{mark}")
    decision: dict[str, Any] = {
        "rule": "log-probabilities + beta * log(Training label prior), beta chosen on "
        f"{split}: the most accurate with balanced accuracy >= 0.80 (else the best mean of the two)",
        "kind": "prior",
        "beta": choice.beta,
        "prior_counts": [int(c) for c in counts],
        "fitted_on": split,
        "table": [list(row) for row in choice.table],
    }
    offset = choice.offset
    if rule == "per-class":
        per_class = choose_per_class(logp, part.labels, counts)
        for aim, accuracy, balanced in per_class.table:
            mark = "  <- chosen" if aim == per_class.aim else ""
            print(
                f"  per-class, aimed at {aim:.2f}: held-out accuracy {accuracy:.4f}, "
                f"balanced accuracy {balanced:.4f}{mark}"
            )
        estimate = per_class.held_out
        offset = per_class.offset
        decision = {
            "rule": "log-probabilities + one offset per expression, by coordinate ascent from the "
            f"prior rule's on {split}: the most accurate with balanced accuracy >= the aim, the aim "
            "the lowest whose held-out balanced accuracy (half-splits of the split) is >= 0.80",
            "kind": "per-class",
            "aim": per_class.aim,
            "aims": [list(row) for row in per_class.table],
            "prior_rule": {k: v for k, v in decision.items() if k not in ("rule", "kind")},
            "prior_counts": [int(c) for c in counts],
            "fitted_on": split,
        }
    else:
        estimate = held_out(logp, part.labels, rule_fit("prior", counts))
    decision["held_out"] = estimate.to_dict()
    print(
        f"decision rule '{rule}' on {split}, held out (fitted on half, measured on the other, "
        f"{2 * estimate.splits} times): accuracy {estimate.accuracy:.4f}, "
        f"balanced accuracy {estimate.balanced_accuracy:.4f}"
    )
    return replace(meta, offset=offset, decision=decision)
