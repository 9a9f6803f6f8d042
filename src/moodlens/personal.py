"""Personal calibration: a person's neutral baseline and corrections, kept in label space only.

A :class:`Profile` is fitted from *samples*: the model's 7 probabilities for a photo (or a stretch
of video) of that person, each with what it showed: their face at rest (``neutral`` samples) or a
correction ("this was surprise", "this was not sad"). Nothing else is kept: no face, crop,
landmark or embedding; a profile's numbers are 7 floats a sample (STYLE.md, point 18).

How the numbers change what a person's face reads as (measured in docs/personal.md):

1. **Baseline.** Faces differ at rest; the model reads some resting faces as sad or angry. The
   mean log-probabilities of the person's neutral samples, ``b``, say how. Their log-probabilities
   are shifted by ``target - b``, where ``target`` is the log of a moderately confident neutral
   reading (``neutral_target``, 0.6), so their resting face reads neutral and every other face is
   read *relative to it*. A shift in log-probability space is a per-person change of each
   expression's prior, which is what a different resting face amounts to; it keeps the order of
   faces within each expression.
2. **Corrections.** Each labelled sample (and, once there are corrections, each neutral sample) is
   a prototype of that expression for that person. For each expression with prototypes, ``d2`` is
   the squared Aitchison distance (between centred log-probabilities, divided by ``2 * width**2``)
   from a face to the
   nearest of them, and each such expression loses ``d2 - min(d2)`` against the closest one. An
   expression without prototypes loses ``max_bonus * exp(-min(d2) / unseen)``: everything at a
   reading the person corrected, nothing far from every correction. So the photo the person
   corrected reads as they said at once, and one correction of surprise does not rule out happy
   for a smile. A "not X" sample lowers X for faces near it.

**Bounds.** Every term is clipped: the baseline shift to ``[-max_shift, max_shift]`` per
expression; each prototype term to ``[-max_bonus, 0]``; each "not" term to ``[-max_bonus, 0]``.
So a profile moves one expression's log-odds against another's by at most
``2 * max_shift + 2 * max_bonus`` (26 with the defaults), whatever its corrections say:
contradictory corrections (the same face called happy and sad) give both labels the same term
and cancel out instead of pushing a label to 0 or 1 for every face.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from moodlens.labels import LABELS, NUM_CLASSES, Expression
from moodlens.results import Face, FrameResult

SampleKind = Literal["neutral", "correction"]
SAMPLE_KINDS: tuple[str, ...] = ("neutral", "correction")

#: Probabilities are floored here before the log: below it a model's reading is noise, and a
#: floor keeps distances between two near-certain readings finite.
_FLOOR = 1e-4
_NEUTRAL = int(Expression.NEUTRAL)


def _log(probabilities: npt.ArrayLike) -> npt.NDArray[np.float64]:
    return np.log(np.clip(np.asarray(probabilities, dtype=np.float64), _FLOOR, 1.0))


def _softmax(z: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    out: npt.NDArray[np.float64] = e / e.sum(axis=-1, keepdims=True)
    return out


def check_probabilities(values: npt.ArrayLike, where: str = "probabilities") -> npt.NDArray[np.float64]:
    """Seven finite, non-negative numbers that add up to 1 (within rounding), or a ValueError."""
    p = np.asarray(values, dtype=np.float64)
    if p.shape != (NUM_CLASSES,):
        raise ValueError(f"{where}: expected {NUM_CLASSES} probabilities, got shape {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(float(p.sum()) - 1.0) > 1e-3:
        raise ValueError(f"{where}: probabilities must be finite, >= 0 and add up to 1")
    return p


def mean_reading(readings: Sequence[npt.ArrayLike]) -> npt.NDArray[np.float64]:
    """One sample's probabilities from a stretch of readings (a calibration's seconds, a
    correction's last second): their geometric mean, renormalised, as the fit works in
    log-probabilities."""
    stack = np.stack([check_probabilities(r, f"readings[{i}]") for i, r in enumerate(readings)])
    mean: npt.NDArray[np.float64] = np.exp(np.log(np.clip(stack, _FLOOR, 1.0)).mean(axis=0))
    out: npt.NDArray[np.float64] = mean / mean.sum()
    return out


@dataclass(frozen=True)
class Sample:
    """One thing a person said about one reading of their face: 7 probabilities and a label."""

    kind: SampleKind
    probabilities: npt.NDArray[np.float64]
    #: The expression it showed (a neutral sample shows neutral).
    label: str | None = None
    #: For a correction that only says what it was not.
    not_label: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in SAMPLE_KINDS:
            raise ValueError(f"sample kind must be one of {SAMPLE_KINDS}, got {self.kind!r}")
        object.__setattr__(self, "probabilities", check_probabilities(self.probabilities))
        label = self.label
        if self.kind == "neutral":
            label = "neutral"
        for name, value in (("label", label), ("not_label", self.not_label)):
            if value is not None:
                object.__setattr__(self, name, Expression.from_label(value).label)
        if self.kind == "correction" and (label is None) == (self.not_label is None):
            raise ValueError("a correction names either the expression it was or the one it was not")
        if self.kind == "neutral":
            object.__setattr__(self, "label", "neutral")

    @classmethod
    def of(cls, stored: Any) -> Sample:
        """A stored sample (anything with ``kind``, ``probabilities``, ``label`` and ``not_label``,
        such as ``moodlens.store.profiles.ProfileSample``) as the fit takes it."""
        return cls(stored.kind, stored.probabilities, label=stored.label, not_label=stored.not_label)


@dataclass(frozen=True)
class PersonalSettings:
    """The constants of the fit (see the module docstring); the defaults are what ships."""

    #: Width of a prototype's reach, in log-probability units.
    width: float = 0.2
    #: Confidence of the neutral reading a resting face is moved to.
    neutral_target: float = 0.6
    max_shift: float = 5.0
    max_bonus: float = 8.0
    #: How far (in units of ``d2``) a correction's pull on expressions without prototypes reaches.
    unseen: float = 4.0

    def __post_init__(self) -> None:
        if not 0.01 <= self.width <= 10:
            raise ValueError(f"width must lie in [0.01, 10], got {self.width}")
        if not 1 / NUM_CLASSES < self.neutral_target < 1:
            raise ValueError(f"neutral_target must lie in (1/7, 1), got {self.neutral_target}")
        if not (0 < self.max_shift <= 20 and 0 < self.max_bonus <= 20 and 0 < self.unseen <= 20):
            raise ValueError("max_shift, max_bonus and unseen must lie in (0, 20]")

    @property
    def target(self) -> npt.NDArray[np.float64]:
        rest = (1 - self.neutral_target) / (NUM_CLASSES - 1)
        target = np.full(NUM_CLASSES, rest)
        target[_NEUTRAL] = self.neutral_target
        return _log(target)


@dataclass(frozen=True)
class Profile:
    """A person's fitted calibration. Build it with :meth:`fit`; use it with :meth:`apply`.

    Holds label-space numbers only: the baseline (7 floats) and one 7-float prototype per
    correction.
    """

    name: str
    #: Mean log-probabilities of the neutral samples; None until a baseline is set.
    baseline: npt.NDArray[np.float64] | None = None
    #: Log-probabilities of the labelled samples (corrections and, once there are corrections,
    #: the neutral samples too) and their label indices.
    prototypes: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, NUM_CLASSES)))
    prototype_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    #: Log-probabilities and label indices of "it was not X" samples.
    negatives: npt.NDArray[np.float64] = field(default_factory=lambda: np.zeros((0, NUM_CLASSES)))
    negative_labels: npt.NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    neutral_samples: int = 0
    settings: PersonalSettings = field(default_factory=PersonalSettings)

    @classmethod
    def fit(cls, name: str, samples: Iterable[Sample], settings: PersonalSettings | None = None) -> Profile:
        """Fit from samples (none is fine: the profile then changes nothing)."""
        settings = settings or PersonalSettings()
        items = list(samples)
        neutral = [s for s in items if s.kind == "neutral"]
        labelled = [s for s in items if s.kind == "correction" and s.label is not None]
        negative = [s for s in items if s.not_label is not None]
        baseline = np.mean([_log(s.probabilities) for s in neutral], axis=0) if neutral else None
        protos = labelled + neutral if labelled else []

        def stack(group: Sequence[Sample]) -> npt.NDArray[np.float64]:
            if not group:
                return np.zeros((0, NUM_CLASSES))
            return np.stack([_log(s.probabilities) for s in group])

        return cls(
            name=name,
            baseline=baseline,
            prototypes=stack(protos),
            prototype_labels=np.array([LABELS.index(str(s.label)) for s in protos], dtype=np.int64),
            negatives=stack(negative),
            negative_labels=np.array([LABELS.index(str(s.not_label)) for s in negative], dtype=np.int64),
            neutral_samples=len(neutral),
            settings=settings,
        )

    @property
    def corrections(self) -> int:
        labelled = len(self.prototype_labels) - (self.neutral_samples if len(self.prototype_labels) else 0)
        return labelled + len(self.negative_labels)

    @property
    def empty(self) -> bool:
        return self.baseline is None and self.corrections == 0

    def shift(self) -> npt.NDArray[np.float64]:
        """The baseline's shift of each expression's log-probability (zeros without a baseline)."""
        if self.baseline is None:
            return np.zeros(NUM_CLASSES)
        limit = self.settings.max_shift
        shift: npt.NDArray[np.float64] = np.clip(self.settings.target - self.baseline, -limit, limit)
        return shift

    def apply(self, probabilities: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """The personal probabilities of one reading (7,) or several (N, 7)."""
        p = np.asarray(probabilities, dtype=np.float64)
        single = p.ndim == 1
        logp = _log(np.atleast_2d(p))
        z = logp + self.shift()
        if len(self.prototype_labels):
            z = z + self._prototype_terms(logp)
        if len(self.negative_labels):
            z = z + self._negative_terms(logp)
        out = _softmax(z).astype(np.float32)
        return out[0] if single else out

    def _distances(
        self, logp: npt.NDArray[np.float64], refs: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        # Aitchison's distance between compositions: log-probabilities centred per reading (the
        # centred log-ratio), so two readings that differ only by a common factor are the same.
        a = logp - logp.mean(axis=-1, keepdims=True)
        b = refs - refs.mean(axis=-1, keepdims=True)
        d2: npt.NDArray[np.float64] = ((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=-1)
        return d2 / (2 * self.settings.width**2)

    def _prototype_terms(self, logp: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        d2 = self._distances(logp, self.prototypes)
        nearest = np.full((len(logp), NUM_CLASSES), np.nan)
        for k in np.unique(self.prototype_labels):
            nearest[:, k] = d2[:, self.prototype_labels == k].min(axis=1)
        seen = ~np.isnan(nearest[0])
        closest = nearest[:, seen].min(axis=1, keepdims=True)
        limit = self.settings.max_bonus
        terms: npt.NDArray[np.float64] = -np.clip(nearest - closest, 0, limit)
        # An expression nobody corrected towards loses as much as the face is close to a
        # correction: at a corrected reading it yields to what the person said, far from every
        # correction it keeps the model's reading.
        unseen = limit * np.exp(-closest / self.settings.unseen)
        terms[:, ~seen] = -np.broadcast_to(unseen, (len(logp), int((~seen).sum())))
        return terms

    def _negative_terms(self, logp: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        near = np.exp(-self._distances(logp, self.negatives))
        terms = np.zeros((len(logp), NUM_CLASSES))
        for k in np.unique(self.negative_labels):
            closest = near[:, self.negative_labels == k].max(axis=1)
            terms[:, k] = -self.settings.max_bonus * closest
        return terms

    def wire(self) -> dict[str, Any]:
        """The numbers :meth:`apply` uses, as JSON for the live page's engine (browser mode reads a
        face through the profile in the page: ``static/engine/personal.js`` applies exactly these).
        Label-space numbers only: the baseline's shift and the prototypes' log-probabilities."""

        def rows(values: npt.NDArray[np.float64]) -> list[list[float]]:
            return [[float(v) for v in row] for row in values]

        return {
            "name": self.name,
            "floor": _FLOOR,
            "width": self.settings.width,
            "max_bonus": self.settings.max_bonus,
            "unseen": self.settings.unseen,
            "shift": [float(v) for v in self.shift()],
            "prototypes": rows(self.prototypes),
            "prototype_labels": [int(v) for v in self.prototype_labels],
            "negatives": rows(self.negatives),
            "negative_labels": [int(v) for v in self.negative_labels],
        }

    def state(self) -> dict[str, Any]:
        """What the profile holds, for ``profile show`` (label-space numbers only)."""
        # Once there are corrections the neutral samples are prototypes too; they are not corrections.
        extra = self.neutral_samples if len(self.prototype_labels) else 0
        per_label = {
            label: int((self.prototype_labels == i).sum()) - (extra if i == _NEUTRAL else 0)
            for i, label in enumerate(LABELS)
        }
        return {
            "name": self.name,
            "baseline_set": self.baseline is not None,
            "neutral_samples": self.neutral_samples,
            "corrections": self.corrections,
            "corrections_per_label": per_label,
            "not_corrections_per_label": {
                label: int((self.negative_labels == i).sum()) for i, label in enumerate(LABELS)
            },
            "baseline_shift": None
            if self.baseline is None
            else {label: round(float(v), 4) for label, v in zip(LABELS, self.shift(), strict=True)},
        }


class ProfileTargetError(ValueError):
    """Which face a profile applies to is not clear (several faces and none named, or no such face)."""


def personal_face(face: Face, profile: Profile) -> Face:
    """The face read through the profile: personal probabilities, the model's kept beside them."""
    model = face.model_probabilities if face.model_probabilities is not None else face.probabilities
    return dataclasses.replace(
        face, probabilities=profile.apply(model), model_probabilities=model, profile=profile.name
    )


def personalise(result: FrameResult, profile: Profile, face: int | None = None) -> FrameResult:
    """Apply ``profile`` to one face of ``result``: the only face, or face number ``face`` (0-based).

    Never every face: a profile is one person's. With several faces and no index this raises
    :class:`ProfileTargetError`; a photo without faces comes back unchanged.
    """
    if not result.faces:
        return result
    if face is None:
        if len(result.faces) > 1:
            raise ProfileTargetError(
                f"{len(result.faces)} faces: say which one is {profile.name}'s (face numbers as printed, "
                f"e.g. --profile '{profile.name}@1')"
            )
        face = 0
    if not 0 <= face < len(result.faces):
        raise ProfileTargetError(f"no face {face + 1}: found {len(result.faces)}")
    faces = list(result.faces)
    faces[face] = personal_face(faces[face], profile)
    return dataclasses.replace(result, faces=tuple(faces))


def model_id(classifier: object) -> str:
    """Which model a profile's numbers belong to: its name and the first bytes of its file's sha256.

    A profile fitted on one model's probabilities means nothing for another model's, so samples
    are stored with this and only those of the model in use are fitted.
    """
    metadata = getattr(classifier, "metadata", None)
    name = getattr(metadata, "name", type(classifier).__name__)
    digest = getattr(classifier, "sha256", None)
    return f"{name}:{digest[:12]}" if isinstance(digest, str) else str(name)
