"""Expression classification: the ``EmotionClassifier`` protocol, the ONNX Runtime classifier,
face alignment and cropping, the shipped default model, and a fake."""

from __future__ import annotations

from pathlib import Path

from moodlens.classification.base import EmotionClassifier
from moodlens.classification.fake import FakeClassifier
from moodlens.classification.metadata import CropSpec, ModelMetadata, load_metadata
from moodlens.classification.onnx import OnnxClassifier
from moodlens.classification.preprocess import crop_faces
from moodlens.classification.registry import (
    DEFAULT_MODEL_NAME,
    SHIPPED_MODELS,
    load_classifier,
    model_path,
)


def default_model_path() -> Path:
    """Where the shipped default model lies inside the installed package."""
    return model_path(DEFAULT_MODEL_NAME)


def default_classifier(*, threads: int = 0, batch_size: int = 64) -> OnnxClassifier:
    """The shipped default classifier (loads the model now; call once and reuse)."""
    return load_classifier(DEFAULT_MODEL_NAME, threads=threads, batch_size=batch_size)


__all__ = [
    "DEFAULT_MODEL_NAME",
    "SHIPPED_MODELS",
    "CropSpec",
    "EmotionClassifier",
    "FakeClassifier",
    "ModelMetadata",
    "OnnxClassifier",
    "crop_faces",
    "default_classifier",
    "default_model_path",
    "load_classifier",
    "load_metadata",
    "model_path",
]
