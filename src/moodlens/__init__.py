"""moodlens: local, private recognition of apparent facial expressions.

Importing moodlens loads no model, writes no file and downloads nothing; models load when an
:class:`Analyzer` or :func:`default_classifier` is created.

>>> import moodlens
>>> analyzer = moodlens.Analyzer()                      # doctest: +SKIP
>>> result = analyzer.analyze("photo.jpg")              # doctest: +SKIP
>>> [(face.label, face.confidence) for face in result.faces]  # doctest: +SKIP
"""

from moodlens._version import __version__
from moodlens.classification import (
    CropSpec,
    EmotionClassifier,
    FakeClassifier,
    ModelMetadata,
    OnnxClassifier,
    crop_faces,
    default_classifier,
    load_classifier,
)
from moodlens.detection import DetectorSettings, FaceDetector, FakeDetector, create_detector
from moodlens.errors import (
    DataError,
    ImageError,
    MissingExtraError,
    ModelError,
    MoodlensError,
    VideoError,
)
from moodlens.images import load_image
from moodlens.labels import LABELS, Expression
from moodlens.personal import Profile, ProfileTargetError, personalise
from moodlens.pipeline import Analyzer
from moodlens.results import Box, Detection, Face, FrameResult

__all__ = [
    "LABELS",
    "Analyzer",
    "Box",
    "CropSpec",
    "DataError",
    "Detection",
    "DetectorSettings",
    "EmotionClassifier",
    "Expression",
    "Face",
    "FaceDetector",
    "FakeClassifier",
    "FakeDetector",
    "FrameResult",
    "ImageError",
    "MissingExtraError",
    "ModelError",
    "ModelMetadata",
    "MoodlensError",
    "OnnxClassifier",
    "Profile",
    "ProfileTargetError",
    "VideoError",
    "__version__",
    "create_detector",
    "crop_faces",
    "default_classifier",
    "load_classifier",
    "load_image",
    "personalise",
]
