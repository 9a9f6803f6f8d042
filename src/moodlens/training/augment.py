"""Batched data augmentation on tensors.

Augmenting a whole batch with one affine grid is far cheaper on 2 CPU cores than per-image
OpenCV calls in worker processes, which would compete with the network for the same cores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812


@dataclass(frozen=True)
class AugmentConfig:
    rotation_deg: float = 12.0
    scale: float = 0.12
    translate: float = 0.08
    hflip: bool = True
    brightness: float = 0.15
    contrast: float = 0.25
    erase_prob: float = 0.5
    erase_area: tuple[float, float] = (0.02, 0.2)
    #: Gamma drawn log-uniformly from [1/(1+gamma), 1+gamma]: shadows and over-exposure, which a
    #: linear brightness/contrast change does not imitate.
    gamma: float = 0.0
    #: Probability of seeing the face at a lower resolution (down to ``lowres_min`` pixels, then
    #: back up): small or distant faces in photos and video carry less detail than FER2013's 48x48.
    lowres_prob: float = 0.0
    lowres_min: int = 16

    def __post_init__(self) -> None:
        for name in (
            "rotation_deg",
            "scale",
            "translate",
            "brightness",
            "contrast",
            "erase_prob",
            "gamma",
            "lowres_prob",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"augment.{name} must be >= 0")
        if not 0 <= self.scale < 1 or not 0 <= self.contrast < 1 or self.erase_prob > 1:
            raise ValueError("augment.scale and augment.contrast must be < 1, erase_prob <= 1")
        if self.lowres_prob > 1 or self.lowres_min < 4:
            raise ValueError("augment.lowres_prob must be <= 1 and augment.lowres_min >= 4")
        low, high = self.erase_area
        if not 0 < low <= high < 1:
            raise ValueError("augment.erase_area must satisfy 0 < low <= high < 1")


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return torch.rand(n, generator=gen) * (high - low) + low


def resize_batch(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N,1,H,W) float -> (N,1,size,size), for evaluation."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    mode = "area" if images.shape[-1] > size else "bilinear"
    return F.interpolate(images, size=(size, size), mode=mode)


def augment_batch(
    images: torch.Tensor, size: int, config: AugmentConfig, gen: torch.Generator
) -> torch.Tensor:
    """Random affine (rotation, scale, shift, flip), brightness/contrast and random erasing.

    ``images`` is (N,1,H,W) float in 0..255; returns (N,1,size,size) float in 0..255.
    """
    n = images.shape[0]
    angle = _uniform(n, -config.rotation_deg, config.rotation_deg, gen) * (math.pi / 180)
    scale = _uniform(n, 1 - config.scale, 1 + config.scale, gen)
    flip = torch.ones(n)
    if config.hflip:
        flip = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    shift = _uniform(2 * n, -config.translate, config.translate, gen).view(n, 2) * 2
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    # theta maps output coordinates to input ones: rotate/scale, mirror x, then shift.
    theta = torch.stack(
        [
            torch.stack([cos * flip, -sin, shift[:, 0]], dim=1),
            torch.stack([sin * flip, cos, shift[:, 1]], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, [n, 1, size, size], align_corners=False)
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    contrast = _uniform(n, 1 - config.contrast, 1 + config.contrast, gen).view(n, 1, 1, 1)
    bright = _uniform(n, -config.brightness, config.brightness, gen).view(n, 1, 1, 1) * 255
    out = ((out - mean) * contrast + mean + bright).clamp(0, 255)
    if config.gamma > 0:
        log_g = _uniform(n, -math.log1p(config.gamma), math.log1p(config.gamma), gen).view(n, 1, 1, 1)
        out = 255.0 * (out / 255.0).clamp(1e-6, 1.0) ** torch.exp(log_g)
    if config.lowres_prob > 0:
        out = _lower_resolution(out, config, gen)

    if config.erase_prob > 0:
        out = _random_erase(out, config, gen)
    return out


def _random_erase(images: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    n, _, h, w = images.shape
    area = _uniform(n, *config.erase_area, gen) * h * w
    log_ratio = _uniform(n, math.log(0.3), math.log(3.3), gen)
    eh = torch.sqrt(area * torch.exp(log_ratio)).clamp(1, h)
    ew = torch.sqrt(area / torch.exp(log_ratio)).clamp(1, w)
    y0 = torch.rand(n, generator=gen) * (h - eh)
    x0 = torch.rand(n, generator=gen) * (w - ew)
    ys = torch.arange(h).view(1, h, 1)
    xs = torch.arange(w).view(1, 1, w)
    inside = (
        (ys >= y0.view(n, 1, 1))
        & (ys < (y0 + eh).view(n, 1, 1))
        & (xs >= x0.view(n, 1, 1))
        & (xs < (x0 + ew).view(n, 1, 1))
    )
    chosen = (torch.rand(n, generator=gen) < config.erase_prob).view(n, 1, 1)
    mask = (inside & chosen).unsqueeze(1)
    noise = torch.rand(images.shape, generator=gen) * 255
    return torch.where(mask, noise, images)


def _lower_resolution(images: torch.Tensor, config: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Down-sample the chosen images to one random side in [lowres_min, size) and back up."""
    n, _, h, _ = images.shape
    if config.lowres_min >= h:
        return images
    chosen = torch.rand(n, generator=gen) < config.lowres_prob
    if not bool(chosen.any()):
        return images
    # One side per batch keeps it a single interpolate call; the batches vary it.
    side = int(torch.randint(config.lowres_min, h, (1,), generator=gen))
    small = F.interpolate(images[chosen], size=(side, side), mode="area")
    out = images.clone()
    out[chosen] = F.interpolate(small, size=(h, h), mode="bilinear", align_corners=False)
    return out
