"""``moodlens train``: train an expression network on FER2013 (needs the [train] extra)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from moodlens.cli.numbers import integer


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "train",
        help="train an expression network on FER2013 (CSV or image folders)",
        description=(
            "Train a network on FER2013: Training fits, PublicTest selects the model, PrivateTest "
            "is reported once at the end. A checkpoint is written every epoch; --resume continues."
        ),
    )
    parser.add_argument("--config", help="a TOML file of training settings (see configs/)")
    parser.add_argument("--data", help="FER2013 CSV (.csv or .csv.gz) or image-folder root")
    parser.add_argument("--ferplus", help="FERPlus fer2013new.csv to replace the labels")
    parser.add_argument("--out", help="run folder (checkpoints, logs, exported model)")
    parser.add_argument("--network", help="network name (see --list-networks)")
    parser.add_argument("--epochs", type=integer(1, 100_000))
    parser.add_argument("--batch-size", type=integer(2, 1_000_000))
    parser.add_argument("--seed", type=integer(0, 2**32 - 1))
    parser.add_argument("--limit", type=integer(0, 10**9), help="train on about N examples (smoke tests)")
    parser.add_argument(
        "--teacher",
        action="append",
        dest="teachers",
        metavar="CHECKPOINT",
        help="a teacher checkpoint to distil from (repeat for an ensemble)",
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--skip-bad", action="store_true", default=None, help="skip malformed rows/images")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config key, e.g. --set lr=0.02 --set augment.rotation_deg=10",
    )
    parser.add_argument("--list-networks", action="store_true", help="list the networks and exit")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moodlens.errors import extra_required
    from moodlens.training.catalog import CATALOG

    if args.list_networks:
        for name, spec in CATALOG.items():
            print(f"{name:20s} input {spec.input_size}x{spec.input_size}  {spec.description}")
        return 0
    with extra_required("train", "torch", "onnx"):
        from moodlens.training.config import load_config, parse_override
        from moodlens.training.trainer import Trainer
    overrides: dict[str, Any] = {}
    for flag in (
        "data",
        "ferplus",
        "out",
        "network",
        "epochs",
        "batch_size",
        "seed",
        "limit",
        "teachers",
        "device",
        "skip_bad",
    ):
        value = getattr(args, flag)
        if value is not None:
            overrides[flag] = value
    try:
        overrides.update(dict(parse_override(item) for item in args.set))
        config = load_config(args.config, overrides)
    except (ValueError, TypeError) as exc:
        print(f"moodlens train: error: {exc}", file=sys.stderr)
        return 2
    if not config.data:
        print(
            "moodlens train: error: no data: pass --data PATH (FER2013 CSV or image folders)", file=sys.stderr
        )
        return 2
    trainer = Trainer(config, command=["moodlens", *sys.argv[1:]])
    try:
        result = trainer.run(resume=args.resume, log=lambda m: print(m, flush=True))
    except (FileExistsError, FileNotFoundError, ValueError) as exc:
        print(f"moodlens train: error: {exc}", file=sys.stderr)
        return 2
    print(f"best PublicTest accuracy {result.best_val_accuracy:.4f} at epoch {result.best_epoch}")
    if result.test_accuracy is not None:
        print(f"PrivateTest accuracy {result.test_accuracy:.4f}, macro-F1 {result.test_macro_f1:.4f}")
    return 0
