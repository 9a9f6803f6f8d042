"""Drawing results on frames."""

from moodlens.render.annotators import (
    Annotator,
    BoxAnnotator,
    Compose,
    FpsAnnotator,
    LabelAnnotator,
    ProbabilityBarAnnotator,
    annotate,
    default_annotator,
)

__all__ = [
    "Annotator",
    "BoxAnnotator",
    "Compose",
    "FpsAnnotator",
    "LabelAnnotator",
    "ProbabilityBarAnnotator",
    "annotate",
    "default_annotator",
]
