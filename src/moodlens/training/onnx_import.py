"""Start a run from a trained moodlens ONNX model (the shipped one included) instead of a checkpoint.

An exported VGG graph has its batch norms folded into the convolutions (``W' = W * g / s``,
``b' = beta - mu * g / s``), and the shipped copy is INT8 with per-channel weight scales. Importing
dequantizes the weights and *unfolds* each batch norm so that the network computes the same
function in eval mode *and* in training mode: its running statistics are set to the mean and
variance of ``W'x`` measured on real faces, its scale to that standard deviation and its shift to
that mean plus ``b'``. Fine-tuning then starts from what the model knew, not from a network whose
batch norms would renormalise every layer on the first step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from moodlens.labels import NUM_CLASSES


def _dequantized_initializers(path: Path) -> dict[str, np.ndarray]:
    """Every float tensor of the graph: initializers, and weights behind a DequantizeLinear."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    values = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    for node in graph.node:
        if node.op_type != "DequantizeLinear" or not all(name in values for name in node.input[:3]):
            continue
        q, scale, zero = (values[name].astype(np.float32) for name in node.input[:3])
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        if scale.ndim == 1 and q.ndim > 1:
            shape = [1] * q.ndim
            shape[axis] = -1
            scale, zero = scale.reshape(shape), zero.reshape(shape)
        values[node.output[0]] = (q - zero) * scale
    return values


def _layers(path: Path) -> tuple[list[tuple[np.ndarray, np.ndarray]], list[tuple[np.ndarray, np.ndarray]]]:
    """(weight, bias) of each Conv and each Gemm, in graph order."""
    import onnx

    values = _dequantized_initializers(path)
    convs: list[tuple[np.ndarray, np.ndarray]] = []
    gemms: list[tuple[np.ndarray, np.ndarray]] = []
    for node in onnx.load(str(path)).graph.node:
        if node.op_type in ("Conv", "Gemm"):
            weight, bias = values.get(node.input[1]), values.get(node.input[2])
            if weight is None or bias is None:
                raise ValueError(f"{path}: {node.op_type} {node.name!r} has weights computed at run time")
            (convs if node.op_type == "Conv" else gemms).append((weight, bias))
    return convs, gemms


@torch.no_grad()
def import_vgg(model: nn.Module, path: Path, faces: torch.Tensor, *, head: int = 0) -> None:
    """Load the weights of the exported VGG model at ``path`` into ``model`` (same widths).

    ``faces`` (N,1,H,W float 0..255, a few hundred real faces) measure the batch-norm statistics.
    A model with more heads than the file gets the file's head copied into each; a model with
    fewer (one) takes the file's head number ``head`` (the shipped fer2013.onnx holds both).
    """
    convs, gemms = _layers(path)
    conv_layers = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if len(convs) != len(conv_layers) or len(norms) != len(conv_layers) or len(gemms) != len(linears):
        raise ValueError(
            f"{path}: {len(convs)} convolutions and {len(gemms)} dense layers, the network has "
            f"{len(conv_layers)} and {len(linears)}: not the same architecture"
        )
    for (weight, bias), conv, norm in zip(convs, conv_layers, norms, strict=True):
        if tuple(weight.shape) != tuple(conv.weight.shape):
            raise ValueError(
                f"{path}: a convolution of shape {weight.shape}, the network's is {conv.weight.shape}"
            )
        conv.weight.copy_(torch.from_numpy(np.array(weight)))
        # Identity batch norm plus the folded bias: eval mode now computes the file's function.
        norm.weight.fill_(1.0)
        norm.bias.copy_(torch.from_numpy(np.array(bias)))
        assert norm.running_mean is not None and norm.running_var is not None
        norm.running_mean.zero_()
        norm.running_var.fill_(1.0 - norm.eps)
    for (file_weight, file_bias), linear in zip(gemms, linears, strict=True):
        weight, bias = file_weight, file_bias
        wanted = linear.weight.shape[0]
        if linear is linears[-1] and weight.shape[0] > wanted and weight.shape[0] % wanted == 0:
            if not 0 <= head < weight.shape[0] // wanted:
                raise ValueError(f"{path}: no head {head} (it has {weight.shape[0] // wanted})")
            weight, bias = (
                weight[head * wanted : (head + 1) * wanted],
                bias[head * wanted : (head + 1) * wanted],
            )
        rows = linear.weight.shape[0] // weight.shape[0] if linear is linears[-1] else 1
        if tuple(weight.shape) != (linear.weight.shape[0] // rows, linear.weight.shape[1]):
            raise ValueError(
                f"{path}: a dense layer of shape {weight.shape}, the network's is {linear.weight.shape}"
            )
        linear.weight.copy_(torch.from_numpy(np.tile(weight, (rows, 1)).copy()))
        linear.bias.copy_(torch.from_numpy(np.tile(bias, rows)))
    # Measure each convolution's output statistics on real faces, then unfold the batch norms.
    stats: dict[nn.Conv2d, tuple[torch.Tensor, torch.Tensor]] = {}

    def hook(module: nn.Module, _inputs: object, output: torch.Tensor) -> None:
        assert isinstance(module, nn.Conv2d)
        stats[module] = (output.mean(dim=(0, 2, 3)), output.var(dim=(0, 2, 3), unbiased=False))

    handles = [conv.register_forward_hook(hook) for conv in conv_layers]
    model.eval()
    model(faces)
    for handle in handles:
        handle.remove()
    for conv, norm in zip(conv_layers, norms, strict=True):
        mean, var = stats[conv]
        folded_bias = norm.bias.clone()
        assert norm.running_mean is not None and norm.running_var is not None
        norm.running_mean.copy_(mean)
        norm.running_var.copy_(var)
        norm.weight.copy_(torch.sqrt(var + norm.eps))
        norm.bias.copy_(mean + folded_bias)
    assert linears[-1].weight.shape[0] % NUM_CLASSES == 0
