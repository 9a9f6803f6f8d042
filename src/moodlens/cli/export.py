"""``moodlens export``: a trained checkpoint -> ONNX model + metadata (optionally INT8)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="export a training checkpoint to ONNX with its metadata",
        description="Export best.pt (or last.pt) of a training run to ONNX (dynamic batch, softmax "
        "inside) and write the metadata JSON beside it. Needs the [train] extra.",
    )
    parser.add_argument("checkpoint", help="a run folder or a .pt checkpoint")
    parser.add_argument("--out", required=True, help="ONNX file to write (the .json goes beside it)")
    parser.add_argument("--network", help="network name (default: from the run's config.json)")
    parser.add_argument("--quantize", action="store_true", help="also write an INT8 model (FILE-int8.onnx)")
    parser.add_argument("--data", help="FER2013 CSV for INT8 calibration (Training split)")
    parser.add_argument("--metrics", help="a metrics.json from 'moodlens evaluate' to record in the metadata")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from moodlens.errors import extra_required

    with extra_required("train", "torch", "onnx"):
        from moodlens.training.export import export_onnx, max_abs_difference
        from moodlens.training.networks import NETWORKS, TRANSFER_NETWORKS, create_network, load_state
    source = Path(args.checkpoint)
    run_dir = source if source.is_dir() else source.parent
    checkpoint = source / "best.pt" if source.is_dir() else source
    if not checkpoint.is_file():
        print(f"moodlens export: error: {checkpoint}: no such checkpoint", file=sys.stderr)
        return 2
    summary: dict[str, Any] = {}
    if (run_dir / "summary.json").is_file():
        summary = json.loads((run_dir / "summary.json").read_text())
    network = args.network
    if network is None and (run_dir / "config.json").is_file():
        network = json.loads((run_dir / "config.json").read_text())["config"]["network"]
    if network not in NETWORKS:
        print(
            "moodlens export: error: pass --network (no config.json in the run folder)",
            file=sys.stderr,
        )
        return 2
    kwargs = {"pretrained": False} if network in TRANSFER_NETWORKS else {}
    model = create_network(network, **kwargs)
    load_state(model, checkpoint)
    size = NETWORKS[network].input_size
    training = {"network": network, "checkpoint": str(checkpoint), **summary}
    if args.metrics:
        report = json.loads(Path(args.metrics).read_text())
        split = report.get("split", "PrivateTest")
        training.setdefault("metrics", {})[split] = {
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
        }
    out = export_onnx(model, args.out, input_size=size, training=training)
    diff = max_abs_difference(model, out, size)
    print(f"wrote {out} and {out.with_suffix('.json')} (torch vs ONNX Runtime max |diff| {diff:.2e})")
    if args.quantize:
        if not args.data:
            print("moodlens export: error: --quantize needs --data for calibration", file=sys.stderr)
            return 2
        import numpy as np

        from moodlens.data import load_dataset
        from moodlens.training.quantize import quantize_int8

        train = load_dataset(args.data).split("Training")
        rng = np.random.default_rng(0)
        pick = np.concatenate(
            [rng.choice(np.flatnonzero(train.labels == c), 60, replace=False) for c in range(7)]
        )
        target = out.with_name(out.stem + "-int8.onnx")
        quantize_int8(out, target, train.images[pick])
        print(f"wrote {target} (INT8)")
    return 0
