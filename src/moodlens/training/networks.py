"""Expression networks, created by name.

Every network takes ``(N, 1, H, W)`` float pixels in 0..255 and returns logits over the 7
labels. Input normalisation (per-image standardisation) is the first layer, so it travels
inside the exported ONNX graph with the weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from moodlens.labels import NUM_CLASSES
from moodlens.training.catalog import CATALOG, MULTI_HEAD_NETWORKS, TRANSFER_NETWORKS

__all__ = [
    "MULTI_HEAD_NETWORKS",
    "NETWORKS",
    "TRANSFER_NETWORKS",
    "NetworkSpec",
    "PerImageStandardize",
    "SeedCNN",
    "VGGNet",
    "count_parameters",
    "create_network",
    "load_state",
]


class PerImageStandardize(nn.Module):
    """Scale each image to zero mean and unit variance: lighting and camera gain drop out."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float() / 255.0
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        var = ((x - mean) ** 2).mean(dim=(1, 2, 3), keepdim=True)
        return (x - mean) / torch.sqrt(var + 1e-4)


def _conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class SeedCNN(nn.Module):
    """The seed project's Keras CNN, as a baseline: conv32-conv64-pool-conv128-pool-conv128-pool-dense1024."""

    def __init__(self) -> None:
        super().__init__()
        self.norm = PerImageStandardize()
        self.features = nn.Sequential(
            nn.Conv2d(1, 32, 3),
            nn.ReLU(inplace=True),
            nn.Conv2d(32, 64, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
            nn.Conv2d(64, 128, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(128, 128, 3),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Dropout(0.25),
        )
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * 16, 1024),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(1024, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(self.norm(x))))


class VGGNet(nn.Module):
    """A VGG-style network for 48x48 faces: four stages of 3x3 conv + BN + ReLU, each halving
    the resolution, then a small fully connected head over the final 3x3 map.

    The fully connected head keeps *where* a feature fires (mouth versus brows), which global
    average pooling would discard. Widths set the speed/accuracy trade-off.
    """

    def __init__(
        self,
        widths: tuple[int, ...] = (48, 96, 192, 384),
        depth: int = 2,
        hidden: int = 256,
        dropout: float = 0.3,
        heads: int = 1,
    ) -> None:
        super().__init__()
        self.norm = PerImageStandardize()
        layers: list[nn.Module] = []
        cin = 1
        for width in widths:
            for _ in range(depth):
                layers.append(_conv_bn_relu(cin, width))
                cin = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(3)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(cin * 9, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            # Several heads (one per label source) are one matrix: logits 7*k..7*k+6 are head k.
            nn.Linear(hidden, NUM_CLASSES * heads),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.features(self.norm(x))))


@dataclass(frozen=True)
class NetworkSpec:
    """How to build a network and what input it expects."""

    build: Callable[..., nn.Module]
    input_size: int
    description: str


def _mobilenet_v2(pretrained: bool = True, freeze_backbone: bool = False) -> nn.Module:
    from moodlens.training.transfer import mobilenet_v2

    return mobilenet_v2(pretrained=pretrained, freeze_backbone=freeze_backbone)


def _efficientnet_lite0(pretrained: bool = True, freeze_backbone: bool = False) -> nn.Module:
    from moodlens.training.transfer import efficientnet_lite0

    return efficientnet_lite0(pretrained=pretrained, freeze_backbone=freeze_backbone)


_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "seed_cnn": SeedCNN,
    "vgg_s": lambda heads=1: VGGNet((32, 64, 128, 256), heads=heads),
    # The same cost as vgg_s (0.9x its crops/s in float on this CPU) with fewer channels where the
    # map is large and more where the features are about mouths and brows.
    "vgg_s_late": lambda heads=1: VGGNet((24, 48, 128, 320), heads=heads),
    "vgg_m": lambda heads=1: VGGNet((48, 96, 192, 384), heads=heads),
    "vgg_l": lambda heads=1: VGGNet((64, 128, 256, 512), heads=heads),
    "mobilenet_v2": _mobilenet_v2,
    "efficientnet_lite0": _efficientnet_lite0,
}
NETWORKS: dict[str, NetworkSpec] = {
    name: NetworkSpec(_BUILDERS[name], info.input_size, info.description) for name, info in CATALOG.items()
}


def create_network(name: str, **kwargs: object) -> nn.Module:
    """Build a network by name; an unknown name lists the choices."""
    if name not in NETWORKS:
        raise ValueError(f"unknown network {name!r}; choose one of: {', '.join(NETWORKS)}")
    return NETWORKS[name].build(**kwargs)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load_state(model: nn.Module, path: Path) -> None:
    """Load weights saved by the trainer (a checkpoint or a bare state dict)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "ema" in state:
        state = state["ema"]
    model.load_state_dict(state)
