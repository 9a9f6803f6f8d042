"""The end of a run: the selected weights of each head measured once on PrivateTest (the final
report; never with ``limit`` or without ``final_test``), summarised, and exported to ONNX."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from moodlens.data import FaceDataset
from moodlens.evaluation.metrics import compute_metrics
from moodlens.labels import NUM_CLASSES
from moodlens.training.catalog import HEADS
from moodlens.training.checkpoints import BEST, best_checkpoint
from moodlens.training.config import TrainConfig
from moodlens.training.measure import predict_probabilities
from moodlens.training.networks import NETWORKS, create_network, load_state
from moodlens.training.records import summary, write_json
from moodlens.training.state import LoopState


@dataclass(frozen=True)
class TrainResult:
    out: Path
    best_epoch: int
    best_val_accuracy: float
    test_accuracy: float | None
    test_macro_f1: float | None
    onnx: Path | None
    #: For a two-head run: each head's ONNX export (``model-fer2013.onnx``, ``model-crowd.onnx``).
    head_models: dict[str, Path] = field(default_factory=dict)


def finish(
    model: nn.Module,
    data: FaceDataset,
    loop: LoopState,
    config: TrainConfig,
    *,
    command: list[str],
    device: torch.device,
    log: Any,
) -> TrainResult:
    """Export ``model``, the run's network, with the weights of ``best.pt``."""
    from moodlens.training.export import export_onnx

    out, size = Path(config.out), NETWORKS[config.network].input_size
    best_acc, best_epoch = loop.best_acc, loop.best_epoch

    load_state(model, out / BEST)
    model = model.to(device)
    test_acc = test_f1 = None
    test_metrics: dict[str, Any] = {}
    if "PrivateTest" in set(data.splits.tolist()) and not config.limit and config.final_test:
        test = data.split("PrivateTest")
        probs = predict_probabilities(model, test.images, size=size, device=device, bf16=False)
        metrics = compute_metrics(test.labels, probs.argmax(1))
        test_acc, test_f1 = metrics.accuracy, metrics.macro_f1
        test_metrics = {"PrivateTest": {"accuracy": test_acc, "macro_f1": test_f1}}
        log(f"PrivateTest (final report only): accuracy {test_acc:.4f} macro-F1 {test_f1:.4f}")
    scores = {"PublicTest": {"accuracy": best_acc}, **test_metrics}
    recorded = summary(model, data, best_epoch, scores, config=config, command=command, out=out)
    write_json(out / "summary.json", recorded)
    onnx_path = export_onnx(model.cpu(), out / "model.onnx", input_size=size, training=recorded)
    log(f"exported {onnx_path} (+ {onnx_path.with_suffix('.json').name})")
    return TrainResult(out, best_epoch + 1, best_acc, test_acc, test_f1, onnx_path)


def finish_heads(
    data: FaceDataset,
    loop: LoopState,
    config: TrainConfig,
    *,
    command: list[str],
    device: torch.device,
    log: Any,
) -> TrainResult:
    """Export each head of a two-head run from its own best epoch (no PrivateTest look when
    ``final_test`` is off: the shipped, calibrated copies are measured once instead)."""
    from moodlens.training.export import export_onnx

    out, size, heads = Path(config.out), NETWORKS[config.network].input_size, len(HEADS)

    selected = {
        HEADS[0]: (loop.best_acc, loop.best_epoch, "FER2013 labels"),
        HEADS[1]: (loop.best_crowd_acc, loop.best_crowd_epoch, "FERPlus majority"),
    }
    exports: dict[str, Path] = {}
    for index, head in enumerate(HEADS):
        model = create_network(config.network, heads=heads)
        load_state(model, out / best_checkpoint(head))
        model = model.to(device)
        accuracy, epoch, scored_on = selected[head]
        test_metrics: dict[str, Any] = {}
        if "PrivateTest" in set(data.splits.tolist()) and not config.limit and config.final_test:
            test = data.split("PrivateTest")
            truth = test.labels if head == HEADS[0] else test.crowd_labels()
            rated = truth >= 0
            probs = predict_probabilities(
                model, test.images[rated], size=size, device=device, bf16=False, heads=heads
            )[:, index * NUM_CLASSES : (index + 1) * NUM_CLASSES]
            metrics = compute_metrics(truth[rated], probs.argmax(1))
            test_metrics = {"PrivateTest": {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1}}
            log(f"{head} head PrivateTest ({scored_on}): accuracy {metrics.accuracy:.4f}")
        scores = {"PublicTest": {"accuracy": accuracy}, **test_metrics}
        recorded = summary(model, data, epoch, scores, config=config, command=command, out=out)
        recorded.update(head=head, scored_on=scored_on)
        write_json(out / f"summary-{head}.json", recorded)
        exports[head] = export_onnx(
            model.cpu(),
            out / f"model-{head}.onnx",
            input_size=size,
            training=recorded,
            head=index,
        )
        log(f"exported {exports[head]} (+ {exports[head].with_suffix('.json').name})")
    return TrainResult(
        out, loop.best_epoch + 1, loop.best_acc, None, None, exports[HEADS[0]], head_models=exports
    )
