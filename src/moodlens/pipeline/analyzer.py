"""The analyzer: image -> detect -> align + crop -> classify -> ``FrameResult``."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from moodlens.classification.base import EmotionClassifier
from moodlens.classification.preprocess import crop_faces
from moodlens.detection.base import FaceDetector
from moodlens.images import DEFAULT_MAX_PIXELS, Colour, ImageInput, load_image
from moodlens.personal import Profile, personalise
from moodlens.results import Detection, Face, FrameResult


class Analyzer:
    """Finds faces and their apparent expressions.

    Build it once and reuse it: construction loads the models. Detector and classifier are
    injectable (any object following :class:`FaceDetector` / :class:`EmotionClassifier`);
    by default the shipped ones are used.
    """

    def __init__(
        self,
        detector: FaceDetector | None = None,
        classifier: EmotionClassifier | None = None,
        *,
        max_faces: int | None = None,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        profile: Profile | None = None,
    ) -> None:
        if detector is None:
            from moodlens.detection import create_detector

            detector = create_detector()
        if classifier is None:
            from moodlens.classification import default_classifier

            classifier = default_classifier()
        if max_faces is not None and max_faces < 1:
            raise ValueError("max_faces must be >= 1")
        self.detector = detector
        self.classifier = classifier
        self.max_faces = max_faces
        self.max_pixels = max_pixels
        #: A person's profile (moodlens.personal): ``analyze`` reads one face through it.
        self.profile = profile

    def analyze(
        self,
        image: ImageInput,
        *,
        colour: Colour = "bgr",
        timestamp_ms: float | None = None,
        frame_index: int | None = None,
        profile_face: int | None = None,
    ) -> FrameResult:
        """Analyse one image: a path, encoded bytes, or a numpy array (gray, BGR/RGB, BGRA/RGBA;
        ``colour`` says whether a colour array is BGR, OpenCV's order, or RGB).

        With a ``profile``, the only face (or face ``profile_face``, 0-based) is read through it;
        several faces and no ``profile_face`` raise ``ProfileTargetError`` (never every face)."""
        bgr = load_image(image, colour=colour, max_pixels=self.max_pixels)
        started = time.perf_counter()
        detections = self.detector.detect(bgr)
        if self.max_faces is not None:
            detections = detections[: self.max_faces]
        detected = time.perf_counter()
        result = self.classify(bgr, detections, timestamp_ms=timestamp_ms, frame_index=frame_index)
        result.timings_ms["detect"] = (detected - started) * 1000
        if self.profile is not None:
            result = personalise(result, self.profile, profile_face)
        return result

    def classify(
        self,
        bgr: npt.NDArray[np.uint8],
        detections: Sequence[Detection],
        *,
        timestamp_ms: float | None = None,
        frame_index: int | None = None,
        track_ids: Sequence[int | None] | None = None,
    ) -> FrameResult:
        """Classify faces already found in ``bgr`` (used by trackers that skip detection)."""
        started = time.perf_counter()
        meta = self.classifier.metadata
        crops = crop_faces(bgr, detections, meta.input_size, colour=meta.colour, spec=meta.crop)
        probabilities = self.classifier.predict(crops)
        ids = list(track_ids) if track_ids is not None else [None] * len(detections)
        faces = tuple(
            Face(det, probs, track_id=tid)
            for det, probs, tid in zip(detections, probabilities, ids, strict=True)
        )
        return FrameResult(
            faces=faces,
            width=int(bgr.shape[1]),
            height=int(bgr.shape[0]),
            timestamp_ms=timestamp_ms,
            frame_index=frame_index,
            timings_ms={"classify": (time.perf_counter() - started) * 1000},
        )
