"""``moodlens export``: a trained run -> ONNX model + metadata (optionally INT8)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from moodlens.training.catalog import HEADS


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "export",
        help="export a trained run to ONNX with its metadata",
        description="Export a training run to ONNX (dynamic batch, softmax inside) with the metadata "
        "JSON beside it. With the [train] extra, the checkpoint (best.pt, or a given .pt) is converted "
        "and checked against ONNX Runtime; without it, the ONNX model the run exported at its end is "
        "copied with its metadata. --quantize needs the [train] extra.",
    )
    parser.add_argument("checkpoint", help="a run folder, a .pt checkpoint or a run's .onnx model")
    parser.add_argument("--out", required=True, help="ONNX file to write (the .json goes beside it)")
    parser.add_argument("--network", help="network name (default: from the run's config.json)")
    parser.add_argument("--head", choices=HEADS, help="for a two-head run: the head to export")
    parser.add_argument("--quantize", action="store_true", help="also write an INT8 model (FILE-int8.onnx)")
    parser.add_argument("--data", help="FER2013 CSV for INT8 calibration (Training split)")
    parser.add_argument("--metrics", help="a metrics.json from 'moodlens evaluate' to record in the metadata")
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"moodlens export: error: {message}", file=sys.stderr)
    return 2


def _run_config(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.json"
    if not path.is_file():
        return {}
    try:
        config: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["config"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return config


def _metrics(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        return {
            report.get("split", "PrivateTest"): {
                "accuracy": report["accuracy"],
                "macro_f1": report["macro_f1"],
            }
        }
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{path}: not a metrics.json from 'moodlens evaluate' ({exc})") from None


def run(args: argparse.Namespace) -> int:
    source = Path(args.checkpoint)
    if not source.exists():
        return _fail(f"{source}: no such run folder or file")
    run_dir = source if source.is_dir() else source.parent
    two_heads = _run_config(run_dir).get("ferplus_mode") == "both"
    if two_heads and args.head is None:
        return _fail(f"{run_dir} is a two-head run: pass --head {' or --head '.join(HEADS)}")
    problem = _output_problem(source, run_dir, args)
    if problem is not None:
        return _fail(problem)
    try:
        metrics = _metrics(args.metrics)
    except ValueError as exc:
        return _fail(str(exc))
    if importlib.util.find_spec("torch") is None or source.suffix == ".onnx":
        out = _copy_exported(source, run_dir, args, metrics)
        if out is None:
            return 2
    else:
        out = _convert(source, run_dir, args, metrics, two_heads)
        if out is None:
            return 2
    if args.quantize:
        return _quantize(out, args)
    return 0


def _output_problem(source: Path, run_dir: Path, args: argparse.Namespace) -> str | None:
    """Why ``--out`` cannot be written, or None. A model is two files (the .onnx and the .json
    beside it; with --quantize two more), and none may overwrite what the command reads, nor a
    .json of the user's that is no model's metadata."""
    from moodlens.cli.common import output_clash

    out = Path(args.out)
    if out.suffix.lower() != ".onnx":
        return f"--out {out} must end in .onnx (its metadata is written beside it, as {out.stem}.json)"
    outputs = [("--out", out), ("--out's metadata", out.with_suffix(".json"))]
    if args.quantize:
        int8 = out.with_name(out.stem + "-int8.onnx")
        outputs += [("the INT8 model", int8), ("the INT8 model's metadata", int8.with_suffix(".json"))]
    # What this command reads: the run's exported model (copied without torch, or named), or the
    # checkpoint it converts; a model that a previous export left in the run folder is neither.
    inputs: list[Path] = [source] if source.is_file() else []
    if source.suffix == ".onnx":
        inputs.append(source.with_suffix(".json"))
    elif importlib.util.find_spec("torch") is None:
        copied = run_dir / ("model.onnx" if args.head is None else f"model-{args.head}.onnx")
        inputs += [copied, copied.with_suffix(".json")]
    elif source.is_dir():
        inputs.append(source / ("best.pt" if args.head is None else f"best-{args.head}.pt"))
    inputs += [Path(p) for p in (args.metrics, args.data) if p]
    problem = output_clash(outputs, inputs)
    if problem is not None:
        return problem
    for (_, model), (_, meta) in zip(outputs[::2], outputs[1::2], strict=True):
        if meta.exists() and not model.exists():
            return (
                f"{meta} exists and is not the metadata of a model (there is no {model.name}): it "
                "would be replaced; choose another --out"
            )
    return None


def _copy_exported(
    source: Path, run_dir: Path, args: argparse.Namespace, metrics: dict[str, Any]
) -> Path | None:
    """The ONNX model the run exported itself, copied with its metadata (no torch needed)."""
    from dataclasses import replace

    from moodlens.classification.metadata import load_metadata, save_metadata
    from moodlens.pipeline.sinks import reserve_partial

    name = "model.onnx" if args.head is None else f"model-{args.head}.onnx"
    model = source if source.suffix == ".onnx" else run_dir / name
    if not model.is_file():
        print(
            f"moodlens export: error: {model} does not exist: the run has not finished exporting; converting "
            "its checkpoint needs the [train] extra: pip install 'moodlens[train]'",
            file=sys.stderr,
        )
        return None
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    meta = load_metadata(model)
    # The model's bytes go in whole or not at all (a full disk or a Ctrl-C leaves the old file).
    partial = reserve_partial(out, keep_suffix=True)
    try:
        shutil.copyfile(model, partial)
        os.replace(partial, out)
    except BaseException:
        # Only on failure: once renamed, the partial name may already be another export's.
        partial.unlink(missing_ok=True)
        raise
    save_metadata(replace(meta, name=out.stem, metrics={**meta.metrics, **metrics}), out)
    print(f"wrote {out} and {out.with_suffix('.json')} (copied from {model})")
    return out


def _convert(
    source: Path, run_dir: Path, args: argparse.Namespace, metrics: dict[str, Any], two_heads: bool
) -> Path | None:
    from moodlens.errors import extra_required

    with extra_required("train", "torch", "onnx"):
        from moodlens.training.export import export_onnx, max_abs_difference
        from moodlens.training.networks import NETWORKS, TRANSFER_NETWORKS, create_network, load_state
    best = "best.pt" if args.head is None else f"best-{args.head}.pt"
    checkpoint = source / best if source.is_dir() else source
    if not checkpoint.is_file():
        print(f"moodlens export: error: {checkpoint}: no such checkpoint", file=sys.stderr)
        return None
    summary_file = run_dir / ("summary.json" if args.head is None else f"summary-{args.head}.json")
    summary: dict[str, Any] = json.loads(summary_file.read_text()) if summary_file.is_file() else {}
    network = args.network or _run_config(run_dir).get("network")
    if network not in NETWORKS:
        print("moodlens export: error: pass --network (no config.json in the run folder)", file=sys.stderr)
        return None
    kwargs: dict[str, Any] = {"pretrained": False} if network in TRANSFER_NETWORKS else {}
    if two_heads:
        kwargs["heads"] = len(HEADS)
    model = create_network(network, **kwargs)
    load_state(model, checkpoint)
    size = NETWORKS[network].input_size
    training = {"network": network, "checkpoint": str(checkpoint), **summary}
    training["metrics"] = {**training.get("metrics", {}), **metrics}
    head = None if args.head is None else HEADS.index(args.head)
    out = export_onnx(model, args.out, input_size=size, training=training, head=head)
    diff = max_abs_difference(model, out, size, head=head)
    print(f"wrote {out} and {out.with_suffix('.json')} (torch vs ONNX Runtime max |diff| {diff:.2e})")
    return out


def _quantize(out: Path, args: argparse.Namespace) -> int:
    from moodlens.errors import extra_required

    if not args.data:
        return _fail("--quantize needs --data for calibration")
    with extra_required("train", "onnx", "torch"):
        import onnx  # noqa: F401  (the quantizer needs it)
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
