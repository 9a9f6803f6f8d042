"""Training configuration: one frozen, validated dataclass, loaded from TOML and overridable."""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodlens.data.ferplus import FERPLUS_MODES
from moodlens.training.augment import AugmentConfig

CLASS_WEIGHTINGS = ("none", "inverse_sqrt", "inverse")
OPTIMIZERS = ("sgd", "adamw")
#: What a setting of each plain type accepts from TOML or --set (an int where a float is asked).
_PLAIN_TYPES: dict[str, tuple[type, ...]] = {
    "bool": (bool,),
    "int": (int,),
    "float": (int, float),
    "str": (str,),
}


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a training run. Saved, resolved, next to its outputs."""

    network: str = "vgg_m"
    data: str = ""
    ferplus: str | None = None
    ferplus_mode: str = "majority"
    skip_bad: bool = False
    out: str = "runs/train"
    epochs: int = 80
    batch_size: int = 128
    optimizer: str = "sgd"
    lr: float = 0.05
    weight_decay: float = 5e-4
    momentum: float = 0.9
    warmup_epochs: int = 3
    label_smoothing: float = 0.1
    class_weighting: str = "inverse_sqrt"
    #: Logit-adjusted loss (Menon et al., ICLR 2021): the loss sees ``logits + tau * log(prior)``
    #: with the training labels' prior, so the network's own logits learn the class-balanced
    #: posterior and rare expressions stop falling into neutral. 0 is the plain loss; use it
    #: with ``class_weighting = "none"``, as both correct the same imbalance.
    logit_adjust_tau: float = 0.0
    #: The logit adjustment the teachers were trained with (their logits are balanced by that
    #: much): the student's logits plus ``(logit_adjust_tau - teacher_logit_adjust_tau) *
    #: log(prior)`` are what match theirs.
    teacher_logit_adjust_tau: float = 0.0
    ema_decay: float = 0.999
    patience: int = 25
    seed: int = 0
    bf16: bool = True
    channels_last: bool = True
    #: Compile the training forward and backward pass (torch.compile, inductor; needs a C++
    #: compiler and Python's headers; a minute of compiling per start). 1.19x for vgg_l in a
    #: paused A/B on a 2-core CPU without bf16, no faster in a whole run there (docs/training.md):
    #: off by default.
    compile: bool = False
    threads: int = 0
    device: str = "auto"
    limit: int = 0
    freeze_backbone: bool = False
    pretrained: bool = True
    #: A checkpoint (or exported VGG model) whose weights start the run: fine-tuning a trained
    #: model instead of a fresh one.
    init_from: str | None = None
    #: For a one-head run started from an exported two-head model: the head it starts from.
    init_head: str = "fer2013"
    #: Models to distil from; several form an ensemble (their logits are averaged). Checkpoints
    #: (``.pt``) are networks of ``teacher_network``; exported models (``.onnx``) run as exported.
    teachers: tuple[str, ...] = ()
    teacher_network: str = "vgg_m"
    #: For teachers with two heads (a ``ferplus_mode = "both"`` run): the head whose logits teach.
    teacher_head: str = "crowd"
    distill_alpha: float = 0.5
    distill_temperature: float = 4.0
    #: Evaluate the selected weights on PrivateTest at the end. Off for runs whose shipped copy
    #: (quantized, calibrated) is what gets its one PrivateTest measurement.
    final_test: bool = True
    augment: AugmentConfig = field(default_factory=AugmentConfig)

    def __post_init__(self) -> None:
        from moodlens.training.catalog import CATALOG as NETWORKS
        from moodlens.training.catalog import HEADS, MULTI_HEAD_NETWORKS

        for setting in dataclasses.fields(self):
            # TOML and --set give any type: "compile = 'yes'" must not read as true, nor a quoted
            # number fail later with a TypeError.
            kinds = _PLAIN_TYPES.get(str(setting.type))
            value = getattr(self, setting.name)
            if kinds and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
                raise ValueError(
                    f"invalid training config: {setting.name} must be of type {setting.type}, got {value!r}"
                )
        checks = [
            (self.network in NETWORKS, f"network must be one of {', '.join(NETWORKS)}"),
            (
                self.teacher_network in NETWORKS,
                f"teacher_network must be one of {', '.join(NETWORKS)}",
            ),
            (self.teacher_head in HEADS, f"teacher_head must be one of {', '.join(HEADS)}"),
            (self.init_head in HEADS, f"init_head must be one of {', '.join(HEADS)}"),
            (self.epochs >= 1, "epochs must be >= 1"),
            (self.batch_size >= 2, "batch_size must be >= 2"),
            (self.lr > 0, "lr must be > 0"),
            (self.weight_decay >= 0, "weight_decay must be >= 0"),
            (0 <= self.momentum < 1, "momentum must lie in [0, 1)"),
            (self.warmup_epochs >= 0, "warmup_epochs must be >= 0"),
            (0 <= self.label_smoothing < 1, "label_smoothing must lie in [0, 1)"),
            (
                self.class_weighting in CLASS_WEIGHTINGS,
                f"class_weighting must be one of {CLASS_WEIGHTINGS}",
            ),
            (0 <= self.logit_adjust_tau <= 2, "logit_adjust_tau must lie in [0, 2]"),
            (0 <= self.teacher_logit_adjust_tau <= 2, "teacher_logit_adjust_tau must lie in [0, 2]"),
            (self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}"),
            (self.ferplus_mode in FERPLUS_MODES, f"ferplus_mode must be one of {FERPLUS_MODES}"),
            (0 <= self.ema_decay < 1, "ema_decay must lie in [0, 1)"),
            (self.patience >= 1, "patience must be >= 1"),
            (self.threads >= 0 and self.limit >= 0, "threads and limit must be >= 0"),
            (self.device in ("auto", "cpu", "cuda"), "device must be auto, cpu or cuda"),
            (0 <= self.distill_alpha <= 1, "distill_alpha must lie in [0, 1]"),
            (self.distill_temperature > 0, "distill_temperature must be > 0"),
            (
                self.ferplus_mode != "both" or self.network in MULTI_HEAD_NETWORKS,
                f"ferplus_mode 'both' needs a network with two heads: {', '.join(MULTI_HEAD_NETWORKS)}",
            ),
            (
                self.ferplus_mode != "both" or not self.teachers,
                "ferplus_mode 'both' does not take teachers",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"invalid training config: {message}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> TrainConfig:
        return from_dict({**self.to_dict(), **changes})


def _check_keys(given: dict[str, Any], allowed: list[str], where: str) -> None:
    for key in given:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; known keys: {', '.join(allowed)}"
            raise ValueError(f"unknown {where} key {key!r}{hint}")


def from_dict(values: dict[str, Any]) -> TrainConfig:
    """Build a config from plain values; unknown keys fail with a suggestion."""
    names = [f.name for f in dataclasses.fields(TrainConfig)]
    _check_keys(values, names, "training config")
    values = dict(values)
    if "teachers" in values:
        teachers = values["teachers"]
        values["teachers"] = (teachers,) if isinstance(teachers, str) else tuple(teachers)
    aug = values.pop("augment", {})
    if isinstance(aug, dict):
        _check_keys(aug, [f.name for f in dataclasses.fields(AugmentConfig)], "augment")
        if "erase_area" in aug:
            aug = {**aug, "erase_area": tuple(aug["erase_area"])}
        aug = AugmentConfig(**aug)
    return TrainConfig(**values, augment=aug)


def load_config(path: str | Path | None, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a TOML config (or the defaults) and apply command-line overrides on top."""
    values: dict[str, Any] = {}
    if path is not None:
        source = Path(path)
        try:
            values = tomllib.loads(source.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValueError(f"{source}: no such config file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{source}: not valid TOML: {exc}") from None
    for key, value in (overrides or {}).items():
        if key.startswith("augment."):
            values.setdefault("augment", {})[key.removeprefix("augment.")] = value
        else:
            values[key] = value
    return from_dict(values)


def parse_override(text: str) -> tuple[str, Any]:
    """``key=value`` from the command line; the value is read as TOML (numbers, booleans, lists)."""
    if "=" not in text:
        raise ValueError(f"--set expects key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip(), value
