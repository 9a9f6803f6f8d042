"""The networks ``moodlens train`` can build: names, input sizes and descriptions, without torch.

``moodlens train --list-networks`` and config validation read this on the inference-only
install; ``moodlens.training.networks`` builds the networks (and needs torch).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NetworkInfo:
    input_size: int
    description: str


CATALOG: dict[str, NetworkInfo] = {
    "seed_cnn": NetworkInfo(48, "the seed project's Keras CNN, as a baseline"),
    "vgg_s": NetworkInfo(48, "compact VGG, widths 32-256"),
    "vgg_s_late": NetworkInfo(48, "compact VGG, widths 24-48-128-320: vgg_s's cost moved to the last stages"),
    "vgg_m": NetworkInfo(48, "VGG, widths 48-384"),
    "vgg_l": NetworkInfo(48, "VGG, widths 64-512 (teacher)"),
    "mobilenet_v2": NetworkInfo(96, "ImageNet MobileNetV2, transfer learning"),
    "efficientnet_lite0": NetworkInfo(96, "ImageNet EfficientNet-Lite0, transfer learning"),
}

TRANSFER_NETWORKS = ("mobilenet_v2", "efficientnet_lite0")
#: Networks that can carry a FER2013 head and a crowd head on one backbone (``ferplus_mode="both"``).
MULTI_HEAD_NETWORKS = ("vgg_s", "vgg_s_late", "vgg_m", "vgg_l")
#: The heads of a network trained with ``ferplus_mode = "both"``, in logit order: FER2013's own
#: labels, and the FERPlus crowd's votes.
HEADS = ("fer2013", "crowd")
