"""The personal fit (moodlens.personal): baseline, corrections, bounds, and which face it reads."""

from __future__ import annotations

import numpy as np
import pytest

from moodlens.labels import LABELS, NUM_CLASSES
from moodlens.personal import (
    PersonalSettings,
    Profile,
    ProfileTargetError,
    Sample,
    personal_face,
    personalise,
)
from moodlens.results import Box, Detection, Face, FrameResult


def probs(**named: float) -> np.ndarray:
    """Seven probabilities: the named ones, the rest sharing what is left."""
    p = np.zeros(NUM_CLASSES)
    for name, value in named.items():
        p[LABELS.index(name)] = value
    rest = [i for i in range(NUM_CLASSES) if LABELS[i] not in named]
    p[rest] = (1 - p.sum()) / len(rest)
    return p


def top(p: np.ndarray) -> str:
    return LABELS[int(np.argmax(p))]


RESTING_SAD = probs(sad=0.55, neutral=0.35)  # someone whose face at rest reads sad
SMILE = probs(happy=0.9)


def test_no_samples_changes_nothing() -> None:
    profile = Profile.fit("empty", [])
    assert profile.empty and profile.baseline is None and profile.corrections == 0
    for p in (RESTING_SAD, SMILE, probs(fear=0.3, surprise=0.3)):
        np.testing.assert_allclose(profile.apply(p), p, atol=1e-5)


def test_a_baseline_makes_the_resting_face_neutral_and_keeps_a_clear_smile() -> None:
    profile = Profile.fit("ann", [Sample("neutral", RESTING_SAD)])
    assert profile.baseline is not None and profile.neutral_samples == 1
    assert top(RESTING_SAD) == "sad" and top(profile.apply(RESTING_SAD)) == "neutral"
    assert top(profile.apply(SMILE)) == "happy"
    # A face sadder than their resting face still reads sad: it is read relative to rest.
    assert top(profile.apply(probs(sad=0.93, neutral=0.04))) == "sad"


def test_batches_and_single_readings_agree() -> None:
    profile = Profile.fit(
        "ann", [Sample("neutral", RESTING_SAD), Sample("correction", SMILE, label="surprise")]
    )
    batch = profile.apply(np.stack([RESTING_SAD, SMILE]))
    assert batch.shape == (2, NUM_CLASSES) and batch.dtype == np.float32
    np.testing.assert_allclose(batch[1], profile.apply(SMILE), atol=1e-6)
    np.testing.assert_allclose(batch.sum(axis=1), 1, atol=1e-5)


def test_one_correction_changes_that_reading_and_leaves_unlike_faces_alone() -> None:
    wide_eyes = probs(fear=0.6, surprise=0.3)
    profile = Profile.fit(
        "ann", [Sample("neutral", probs(neutral=0.9)), Sample("correction", wide_eyes, label="surprise")]
    )
    assert profile.corrections == 1
    assert top(profile.apply(wide_eyes)) == "surprise"
    assert top(profile.apply(probs(fear=0.62, surprise=0.28))) == "surprise"  # a face like it
    assert top(profile.apply(SMILE)) == "happy"  # unlike it


def test_a_not_correction_lowers_that_label_near_it() -> None:
    looks_angry = probs(angry=0.6, neutral=0.3)
    profile = Profile.fit(
        "ann", [Sample("neutral", probs(neutral=0.9)), Sample("correction", looks_angry, not_label="angry")]
    )
    assert profile.corrections == 1
    assert top(profile.apply(looks_angry)) != "angry"
    assert top(profile.apply(probs(angry=0.95))) == "angry"  # far from it: still angry


@pytest.mark.parametrize("repeats", [1, 10, 200])
def test_contradictory_corrections_stay_bounded(repeats: int) -> None:
    """The same face called happy and sad, many times over, pushes no label to 0 or 1."""
    face = probs(happy=0.4, sad=0.4)
    samples = [Sample("neutral", probs(neutral=0.8))]
    for _ in range(repeats):
        samples += [Sample("correction", face, label="happy"), Sample("correction", face, label="sad")]
    profile = Profile.fit("torn", samples)
    settings = profile.settings
    bound = 2 * settings.max_shift + 2 * settings.max_bonus
    rng = np.random.default_rng(0)
    faces = rng.dirichlet(np.ones(NUM_CLASSES) * 0.5, size=500)
    personal = profile.apply(faces)
    # Log-odds between any two labels move by at most the documented bound.
    floor = 1e-4
    before = np.log(np.clip(faces, floor, 1))
    after = np.log(personal.astype(np.float64))
    change = (after[:, :, None] - after[:, None, :]) - (before[:, :, None] - before[:, None, :])
    assert np.abs(change).max() <= bound + 1e-3
    # Neither label is forced for every face: each face's top label is not always happy or sad.
    tops = {top(p) for p in personal}
    assert len(tops) > 2
    assert personal[:, LABELS.index("happy")].max() < 1 and personal[:, LABELS.index("sad")].min() > 0


def test_bad_samples_are_refused() -> None:
    with pytest.raises(ValueError, match="7 probabilities"):
        Sample("neutral", np.ones(6) / 6)
    with pytest.raises(ValueError, match="add up to 1"):
        Sample("neutral", np.ones(7))
    with pytest.raises(ValueError, match="finite"):
        Sample("neutral", np.array([np.nan, 0, 0, 0, 0, 0, 1.0]))
    with pytest.raises(ValueError, match="either"):
        Sample("correction", SMILE)
    with pytest.raises(ValueError, match="either"):
        Sample("correction", SMILE, label="happy", not_label="sad")
    with pytest.raises(ValueError):
        Sample("correction", SMILE, label="contempt")
    with pytest.raises(ValueError, match="kind"):
        Sample("photo", SMILE)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="width"):
        PersonalSettings(width=0)


def test_state_counts_what_the_profile_holds() -> None:
    profile = Profile.fit(
        "ann",
        [
            Sample("neutral", RESTING_SAD),
            Sample("neutral", probs(neutral=0.5, sad=0.4)),
            Sample("correction", SMILE, label="surprise"),
            Sample("correction", RESTING_SAD, not_label="sad"),
        ],
    )
    state = profile.state()
    assert state["baseline_set"] and state["neutral_samples"] == 2 and state["corrections"] == 2
    assert state["corrections_per_label"]["surprise"] == 1 and state["corrections_per_label"]["neutral"] == 0
    assert state["not_corrections_per_label"]["sad"] == 1
    assert state["baseline_shift"]["sad"] < 0 < state["baseline_shift"]["neutral"]


def _face(p: np.ndarray, x: float = 0) -> Face:
    return Face(Detection(Box(x, 0, x + 10, 10), 0.9), p.astype(np.float32))


def test_personalise_reads_the_only_face_or_the_named_one_never_every_face() -> None:
    profile = Profile.fit("ann", [Sample("neutral", RESTING_SAD)])
    empty = FrameResult((), 100, 100)
    assert personalise(empty, profile) is empty
    one = personalise(FrameResult((_face(RESTING_SAD),), 100, 100), profile)
    (face,) = one.faces
    assert face.profile == "ann" and face.label == "neutral"
    assert face.model_probabilities is not None and top(face.model_probabilities) == "sad"
    record = face.to_dict()
    assert record["label"] == "neutral" and record["model_label"] == "sad" and record["profile"] == "ann"
    assert set(record["model_probabilities"]) == set(LABELS)

    two = FrameResult((_face(RESTING_SAD), _face(RESTING_SAD, 50)), 100, 100)
    with pytest.raises(ProfileTargetError, match="2 faces"):
        personalise(two, profile)
    named = personalise(two, profile, face=1)
    assert named.faces[0].profile is None and named.faces[1].profile == "ann"
    with pytest.raises(ProfileTargetError, match="no face 3"):
        personalise(two, profile, face=2)


def test_a_personal_face_is_read_from_the_model_reading_not_twice() -> None:
    profile = Profile.fit("ann", [Sample("neutral", RESTING_SAD)])
    once = personal_face(_face(RESTING_SAD), profile)
    twice = personal_face(once, profile)
    np.testing.assert_allclose(once.probabilities, twice.probabilities)
    with pytest.raises(ValueError, match="both"):
        Face(Detection(Box(0, 0, 1, 1), 0.9), SMILE.astype(np.float32), profile="ann")


def test_an_analyzer_with_a_profile_reads_one_face_through_it() -> None:
    from moodlens import Analyzer, FakeClassifier, FakeDetector

    image = np.full((100, 160, 3), 90, np.uint8)
    one = [Detection(Box(10, 10, 60, 60), 0.9)]
    two = [*one, Detection(Box(90, 10, 140, 60), 0.8)]
    profile = Profile.fit("ann", [Sample("neutral", probs(sad=0.55, neutral=0.35))])
    classifier = FakeClassifier(probabilities=probs(sad=0.55, neutral=0.35).astype(np.float32))
    (face,) = Analyzer(FakeDetector(one), classifier, profile=profile).analyze(image).faces
    assert face.profile == "ann" and face.label == "neutral" and face.model_probabilities is not None
    analyzer = Analyzer(FakeDetector(two), classifier, profile=profile)
    with pytest.raises(ProfileTargetError):
        analyzer.analyze(image)
    faces = analyzer.analyze(image, profile_face=1).faces
    assert [f.profile for f in faces] == [None, "ann"]


def test_the_corrected_photo_reads_as_corrected_even_far_from_its_model_label() -> None:
    """A photo the model reads as sad, corrected to surprise, reads surprise at once."""
    rest = probs(neutral=0.914, happy=0.083)
    photo = probs(sad=0.164, neutral=0.803, angry=0.026)
    profile = Profile.fit("rose", [Sample("neutral", rest), Sample("correction", photo, label="surprise")])
    assert top(profile.apply(photo)) == "surprise"
