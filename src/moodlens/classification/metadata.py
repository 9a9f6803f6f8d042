"""The contract between a classifier model file and the runtime: ``model.onnx`` + ``model.json``.

The JSON says the label order, the input the graph wants (size, colour, value range, layout),
how faces should be cropped to resemble the training data, how the model was trained and how it
scored. Preprocessing therefore travels with the weights.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodlens.errors import ModelError
from moodlens.labels import LABELS

FORMAT = "moodlens-classifier/1"
COLOURS = ("gray", "bgr", "rgb")
OUTPUTS = ("probabilities", "logits")


@dataclass(frozen=True)
class CropSpec:
    """How to cut a face out of a frame so it looks like the training crops.

    The square side is ``scale`` times the larger side of the detector's box; its centre is
    moved down by ``shift_y`` times the box height (FER2013 faces sit slightly low in the frame).
    ``align`` rotates the face upright from the eye landmarks when the detector gives them.
    """

    scale: float = 1.0
    shift_y: float = 0.0
    align: bool = True

    def __post_init__(self) -> None:
        if not 0.5 <= self.scale <= 3.0:
            raise ValueError(f"crop scale must lie in [0.5, 3], got {self.scale}")
        if not -0.5 <= self.shift_y <= 0.5:
            raise ValueError(f"crop shift_y must lie in [-0.5, 0.5], got {self.shift_y}")


@dataclass(frozen=True)
class ModelMetadata:
    name: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]  # (height, width)
    colour: str = "gray"
    input_name: str = "input"
    output_name: str = "probabilities"
    output: str = "probabilities"
    crop: CropSpec = field(default_factory=CropSpec)
    normalization: str = "in-graph per-image standardisation of 0..255 pixels"
    training: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    #: Temperature scaling fitted after training (``softmax(logits / T)``); 1 means none. The
    #: classifier applies it, so the probabilities it returns are the calibrated ones.
    temperature: float = 1.0
    #: How the temperature was fitted and what it did (data, split, ECE before and after...).
    calibration: dict[str, Any] = field(default_factory=dict)
    #: The decision rule: added to the log-probabilities before the temperature, one number per
    #: label (empty: none). A model trained with a logit-adjusted loss outputs class-balanced
    #: probabilities; ``beta * log(prior)`` gives part of the training prior back, with ``beta``
    #: chosen on PublicTest (``decision`` records how).
    offset: tuple[float, ...] = ()
    decision: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if tuple(self.labels) != LABELS:
            raise ModelError(
                f"model {self.name!r} labels {list(self.labels)} differ from the canonical order "
                f"{list(LABELS)}; re-export it with moodlens's label order"
            )
        if self.colour not in COLOURS:
            raise ModelError(f"model {self.name!r}: colour must be one of {COLOURS}, got {self.colour!r}")
        if self.output not in OUTPUTS:
            raise ModelError(f"model {self.name!r}: output must be one of {OUTPUTS}, got {self.output!r}")
        h, w = self.input_size
        if not (8 <= h <= 1024 and 8 <= w <= 1024):
            raise ModelError(f"model {self.name!r}: input size {self.input_size} is out of range")
        if self.offset and (len(self.offset) != len(LABELS) or not all(-20 <= v <= 20 for v in self.offset)):
            raise ModelError(
                f"model {self.name!r}: the decision offset must be {len(LABELS)} numbers in [-20, 20]"
            )
        if not 0.05 <= self.temperature <= 20:
            raise ModelError(
                f"model {self.name!r}: temperature must lie in [0.05, 20], got {self.temperature}"
            )

    @property
    def channels(self) -> int:
        return 1 if self.colour == "gray" else 3

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "name": self.name,
            "labels": list(self.labels),
            "input": {
                "name": self.input_name,
                "size": list(self.input_size),
                "colour": self.colour,
                "layout": "NCHW",
                "dtype": "float32",
                "range": [0, 255],
                "normalization": self.normalization,
            },
            "output": {"name": self.output_name, "kind": self.output},
            "crop": {
                "scale": self.crop.scale,
                "shift_y": self.crop.shift_y,
                "align": self.crop.align,
            },
            "training": self.training,
            "metrics": self.metrics,
            "calibration": {**self.calibration, "temperature": self.temperature},
            **({"decision": {**self.decision, "offset": list(self.offset)}} if self.offset else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, where: str = "metadata") -> ModelMetadata:
        try:
            if data.get("format") != FORMAT:
                raise ModelError(f"{where}: format must be {FORMAT!r}, got {data.get('format')!r}")
            inp, out, crop = data["input"], data["output"], data.get("crop", {})
            size = inp["size"]
            return cls(
                name=str(data.get("name", "model")),
                labels=tuple(data["labels"]),
                input_size=(int(size[0]), int(size[1])),
                colour=str(inp.get("colour", "gray")),
                input_name=str(inp.get("name", "input")),
                output_name=str(out.get("name", "probabilities")),
                output=str(out.get("kind", "probabilities")),
                crop=CropSpec(
                    scale=float(crop.get("scale", 1.0)),
                    shift_y=float(crop.get("shift_y", 0.0)),
                    align=bool(crop.get("align", True)),
                ),
                normalization=str(inp.get("normalization", "")),
                training=dict(data.get("training", {})),
                metrics=dict(data.get("metrics", {})),
                temperature=float(data.get("calibration", {}).get("temperature", 1.0)),
                calibration={k: v for k, v in data.get("calibration", {}).items() if k != "temperature"},
                offset=tuple(float(v) for v in data.get("decision", {}).get("offset", ())),
                decision={k: v for k, v in data.get("decision", {}).items() if k != "offset"},
            )
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise ModelError(f"{where}: malformed model metadata ({type(exc).__name__}: {exc})") from None


def metadata_path(model_path: Path) -> Path:
    """``model.onnx`` -> ``model.json``."""
    return model_path.with_suffix(".json")


def load_metadata(model_path: str | Path) -> ModelMetadata:
    """Read the JSON that sits beside a model file."""
    path = metadata_path(Path(model_path))
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            f"{path}: no metadata beside the model; every model needs a JSON file with its labels "
            "and input (see docs/model-contract.md)"
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{path}: unreadable metadata: {exc}") from None
    if not isinstance(data, dict):
        raise ModelError(f"{path}: metadata must be a JSON object")
    return ModelMetadata.from_dict(data, where=str(path))


def save_metadata(metadata: ModelMetadata, model_path: str | Path) -> Path:
    from moodlens.pipeline.sinks import write_atomically

    path = metadata_path(Path(model_path))
    write_atomically(path, json.dumps(metadata.to_dict(), indent=2) + "\n")  # never half a JSON
    return path
