"""Export a trained network to ONNX (dynamic batch, softmax inside) with its metadata JSON."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moodlens.classification.metadata import CropSpec, ModelMetadata, save_metadata
from moodlens.labels import LABELS
from moodlens.pipeline.sinks import reserve_partial


class _WithSoftmax(nn.Module):
    """The network's probabilities; ``head`` picks one 7-logit head of a multi-head network."""

    def __init__(self, model: nn.Module, head: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(x)
        if self.head is not None:
            logits = logits[:, self.head * len(LABELS) : (self.head + 1) * len(LABELS)]
        return torch.softmax(logits, dim=1)


def export_onnx(
    model: nn.Module,
    path: str | Path,
    *,
    input_size: int,
    training: dict[str, Any] | None = None,
    crop: CropSpec | None = None,
    opset: int = 17,
    head: int | None = None,
) -> Path:
    """Write ``path`` (ONNX) and ``path.with_suffix('.json')`` (metadata); return ``path``.

    ``head`` exports one head of a multi-head network (its logits ``7*head .. 7*head+6``).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    wrapped = _WithSoftmax(model.cpu().float().eval(), head).eval()
    dummy = torch.full((2, 1, input_size, input_size), 128.0)
    with warnings.catch_warnings():
        # The legacy TorchScript exporter is deprecated in favour of dynamo, which needs
        # onnxscript; the legacy one produces a plain, small graph that ORT runs well.
        warnings.simplefilter("ignore")
        # Written under a partial name and renamed: an interrupted export never leaves half a
        # model over the previous one.
        partial = reserve_partial(target, keep_suffix=True)
        try:
            torch.onnx.export(
                wrapped,
                (dummy,),
                str(partial),
                input_names=["input"],
                output_names=["probabilities"],
                dynamic_axes={"input": {0: "batch"}, "probabilities": {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
            os.replace(partial, target)
        except BaseException:
            # Only on failure: once renamed, the partial name may already be another export's.
            partial.unlink(missing_ok=True)
            raise
    training = dict(training or {})
    metrics = training.pop("metrics", {})
    metadata = ModelMetadata(
        name=target.stem,
        labels=LABELS,
        input_size=(input_size, input_size),
        colour="gray",
        crop=crop or CropSpec(),
        training=training,
        metrics=metrics,
    )
    save_metadata(metadata, target)
    return target


def max_abs_difference(
    model: nn.Module,
    onnx_path: str | Path,
    input_size: int,
    *,
    n: int = 16,
    seed: int = 0,
    head: int | None = None,
) -> float:
    """Largest |torch - ONNX Runtime| over the probabilities of ``n`` random images."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, 1, input_size, input_size)).astype(np.float32)
    with torch.no_grad():
        expected = _WithSoftmax(model.cpu().float().eval(), head)(torch.from_numpy(x)).numpy()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x})[0]
    return float(np.abs(expected - got).max())
