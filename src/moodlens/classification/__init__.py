"""Expression classification: the ``EmotionClassifier`` protocol, the ONNX Runtime classifier,
face alignment and cropping, the shipped default model, and a fake."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from moodlens.classification.base import EmotionClassifier
from moodlens.classification.fake import FakeClassifier
from moodlens.classification.metadata import CropSpec, ModelMetadata, load_metadata
from moodlens.classification.onnx import OnnxClassifier
from moodlens.classification.preprocess import crop_faces
from moodlens.errors import ModelError

DEFAULT_MODEL = "default.onnx"


def default_model_path() -> Path:
    """Where the shipped default model lies inside the installed package."""
    path = Path(str(resources.files("moodlens.models").joinpath(DEFAULT_MODEL)))
    if not path.is_file():
        raise ModelError(f"the shipped default model is missing ({path}); reinstall moodlens or pass --model")
    return path


def default_classifier(*, threads: int = 0, batch_size: int = 64) -> OnnxClassifier:
    """The shipped classifier (loads the model now; call once and reuse)."""
    return OnnxClassifier(default_model_path(), threads=threads, batch_size=batch_size)


__all__ = [
    "CropSpec",
    "EmotionClassifier",
    "FakeClassifier",
    "ModelMetadata",
    "OnnxClassifier",
    "crop_faces",
    "default_classifier",
    "default_model_path",
    "load_metadata",
]
