"""The classifier seam: ``predict(crops) -> (N, 7) probabilities`` in the canonical label order."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from moodlens.classification.metadata import ModelMetadata


@runtime_checkable
class EmotionClassifier(Protocol):
    """Classifies already-cropped faces.

    ``predict`` takes uint8 crops, (N, H, W) gray or (N, H, W, 3) BGR, of any size (they are
    resized to ``metadata.input_size``) and returns float32 (N, 7) probabilities whose rows sum
    to 1, in ``moodlens.LABELS`` order. ``metadata`` says how crops should be cut.
    """

    metadata: ModelMetadata

    def predict(self, crops: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]: ...
