"""Profiles: a person's named, opt-in calibration, kept as samples in label space.

A sample is the classifier's 7 probabilities for one reading of that person's face and what the
person said about it: their face at rest (``neutral``), the expression it showed (``label``) or one
it did not show (``not_label``). That is all: never a face, crop, landmark or embedding (STYLE.md,
point 18). Samples are append-only rows, so two processes adding to one profile at once lose
nothing; each names the model its probabilities came from, since they mean something for that
model only. Fitting a calibration from them is :mod:`moodlens.personal`'s job, not the store's.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from sqlalchemy import case, delete, false, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from moodlens.labels import LABELS, NUM_CLASSES, Expression
from moodlens.store.base import StoreBase, _now, spreadsheet_safe
from moodlens.store.database import NotFoundError
from moodlens.store.schema import CorrectionRow, IntervalRow, ProfileRow, ProfileSampleRow, SessionRow

__all__ = [
    "SAMPLE_KINDS",
    "UNKNOWN_MODEL",
    "NewSample",
    "ProfileExistsError",
    "ProfileInfo",
    "ProfileSample",
    "ProfilesMixin",
    "check_profile_name",
]

SampleKind = Literal["neutral", "correction"]
SAMPLE_KINDS: tuple[str, ...] = ("neutral", "correction")
#: The model of a sample derived from a session that did not record its classifier.
UNKNOWN_MODEL = "unknown"
MAX_NAME = 64
MAX_MODEL = 100
MAX_SOURCE = 500

# Letters and digits (any script), then letters, digits, spaces, '-', '_' or '.'; '@' never
# (the CLI reads NAME@N); no space at the end (it would be invisible in every listing).
_NAME = re.compile(r"[^\W_][\w .\-]*(?<! )")
_NAME_RULE = (
    "a profile name is 1-64 letters, digits, spaces, '-', '_' or '.', starting with a letter or "
    "digit and not ending with a space ('@' is not allowed)"
)


def check_profile_name(name: str) -> str:
    """The name in Unicode NFC form, or a ValueError saying what a name may be."""
    if not isinstance(name, str):
        raise ValueError(f"bad profile name {name!r}: {_NAME_RULE}")
    normal = unicodedata.normalize("NFC", name)
    if not 1 <= len(normal) <= MAX_NAME or _NAME.fullmatch(normal) is None:
        raise ValueError(f"bad profile name {name!r}: {_NAME_RULE}")
    return normal


def _unknown_profile(name: str) -> NotFoundError:
    return NotFoundError(
        f"no profile named {name!r} "
        f"(moodlens profile list shows them; moodlens profile create {name} makes one)"
    )


def _read_only(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    out = np.array(values, dtype=np.float64)
    out.flags.writeable = False
    return out


def _check_probabilities(values: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Seven finite numbers >= 0 adding up to 1 (within rounding), as a read-only array."""
    p = _read_only(values)
    if p.shape != (NUM_CLASSES,):
        raise ValueError(
            f"a sample has {NUM_CLASSES} probabilities (in the order {', '.join(LABELS)}), "
            f"got shape {p.shape}"
        )
    if not np.all(np.isfinite(p)) or np.any(p < 0) or abs(float(p.sum()) - 1.0) > 1e-3:
        raise ValueError("a sample's probabilities must be finite, >= 0 and add up to 1")
    return p


@dataclass(frozen=True, kw_only=True, eq=False)
class NewSample:
    """A sample to add to a profile. ``neutral``: the person's face at rest (its label is
    neutral). ``correction``: names either the expression it showed (``label``) or one it did not
    show (``not_label``). ``model`` names the classifier the probabilities came from; ``source``
    says where the reading came from (``image:photo.jpg``), and is cut to 500 characters."""

    #: ``neutral`` or ``correction`` (SAMPLE_KINDS).
    kind: SampleKind | str
    #: The 7 probabilities in canonical label order (moodlens.labels.LABELS): any sequence or
    #: array, kept as a read-only float64 array.
    probabilities: npt.ArrayLike
    model: str
    label: str | None = None
    not_label: str | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in SAMPLE_KINDS:
            raise ValueError(f"a sample's kind is one of {', '.join(SAMPLE_KINDS)}, not {self.kind!r}")
        object.__setattr__(self, "probabilities", _check_probabilities(self.probabilities))
        label = None if self.label is None else Expression.from_label(self.label).label
        not_label = None if self.not_label is None else Expression.from_label(self.not_label).label
        if self.kind == "neutral":
            if label not in (None, "neutral") or not_label is not None:
                raise ValueError(
                    "a neutral sample is the face at rest: its label is neutral, with no not_label"
                )
            label = "neutral"
        elif (label is None) == (not_label is None):
            raise ValueError(
                "a correction names either the expression it was (label) or one it was not (not_label)"
            )
        if not self.model.strip() or len(self.model) > MAX_MODEL:
            raise ValueError(f"a sample names its model in 1-{MAX_MODEL} characters, got {self.model!r}")
        object.__setattr__(self, "label", label)
        object.__setattr__(self, "not_label", not_label)
        object.__setattr__(self, "source", self.source[:MAX_SOURCE])


@dataclass(frozen=True, eq=False)
class ProfileSample:
    """A stored sample (see :class:`NewSample`); ``correction_id`` is the history correction it was
    derived from, if any (deleting that correction deletes the sample)."""

    id: int
    kind: str
    label: str | None
    not_label: str | None
    #: The 7 probabilities in canonical label order (read-only; what moodlens.personal.Sample takes).
    probabilities: npt.NDArray[np.float64]
    model: str
    source: str
    created_at: datetime
    correction_id: int | None = None

    def probability(self) -> dict[str, float]:
        """The probabilities by label."""
        return {name: float(p) for name, p in zip(LABELS, self.probabilities, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "not_label": self.not_label,
            "probabilities": {k: round(v, 6) for k, v in self.probability().items()},
            "model": self.model,
            "source": self.source,
            "created_at": self.created_at.isoformat(),
            "correction_id": self.correction_id,
        }


@dataclass(frozen=True)
class ProfileInfo:
    id: int
    name: str
    created_at: datetime
    #: When the profile's samples last changed (added, removed, reset).
    updated_at: datetime
    consent_at: datetime | None
    neutral_samples: int
    corrections: int
    #: The latest of ``updated_at`` and the newest sample's time.
    last_changed: datetime

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("created_at", "updated_at", "consent_at", "last_changed"):
            out[key] = None if out[key] is None else out[key].isoformat()
        return out


def profile_row(s: Session, name: str) -> ProfileRow:
    """The profile called ``name``, or a NotFoundError saying how to list or make one."""
    try:
        normal = check_profile_name(name)
    except ValueError:
        raise _unknown_profile(name) from None
    row = s.scalars(select(ProfileRow).where(ProfileRow.name == normal)).first()
    if row is not None:
        return row
    # "ann" finds "Ann": a name typed in another case means the one profile of that name. Where a
    # store made before names were kept unique in any case holds "Ann" and "ANN", only the exact
    # spelling says which. Case is folded here, not in SQL: SQLite's lower() is ASCII-only.
    folded = [r for r in s.scalars(select(ProfileRow)) if r.name.casefold() == normal.casefold()]
    if len(folded) == 1:
        return folded[0]
    raise _unknown_profile(name)


#: The PostgreSQL advisory lock key that serialises profile creation ("moodlens" as 8 bytes).
PROFILE_NAMES_LOCK = int.from_bytes(b"moodlens", "big")


class ProfileExistsError(ValueError):
    """A profile of that name (in any case) exists."""


def _same_name(s: Session, normal: str) -> str | None:
    """The existing profile name equal to ``normal`` in any case, if there is one. Must open its
    transaction: it takes a lock that serialises profile creation first, so that two processes
    creating "Ann" and "ann" at once see each other (the unique constraint only knows exact
    spellings)."""
    if s.get_bind().dialect.name == "postgresql":
        # A transaction-scoped advisory lock of our own: creators wait for each other, readers and
        # other writers never do, and unlike LOCK TABLE it needs no UPDATE or DELETE right on the
        # table (a role that may only insert profiles can still create one). Read committed, set
        # before the lock's SELECT: under a stricter default (repeatable read, serializable) that
        # SELECT would fix the snapshot before the wait, and the name scan below would not see
        # the profile the other creator committed meanwhile.
        s.execute(text("SET TRANSACTION ISOLATION LEVEL READ COMMITTED"))
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PROFILE_NAMES_LOCK})
    else:
        # Any write statement, even one that changes no row, starts SQLite's write transaction:
        # a second creator waits here (busy timeout) and then reads the first one's row.
        s.execute(update(ProfileRow).where(false()).values(name=ProfileRow.name))
    for existing in s.scalars(select(ProfileRow.name)):
        if existing.casefold() == normal.casefold():
            return existing
    return None


def _sample_row(profile_id: int, sample: NewSample, *, correction_id: int | None = None) -> ProfileSampleRow:
    return ProfileSampleRow(
        profile_id=profile_id,
        kind=sample.kind,
        label=sample.label,
        not_label=sample.not_label,
        model=sample.model,
        source=sample.source,
        correction_id=correction_id,
        created_at=_now(),
        **{f"p_{name}": float(p) for name, p in zip(LABELS, _read_only(sample.probabilities), strict=True)},
    )


def touch_profiles(s: Session, profile_ids: Sequence[int]) -> None:
    """Mark profiles as changed now (their samples were added or removed)."""
    if profile_ids:
        s.execute(update(ProfileRow).where(ProfileRow.id.in_(set(profile_ids))).values(updated_at=_now()))


def add_correction_sample(s: Session, session: SessionRow, correction: CorrectionRow) -> int | None:
    """In the caller's transaction: what a history correction teaches the session's profile, as a
    ``correction`` sample; its probabilities are the frame-weighted mean of the stored intervals of
    that track overlapping the corrected span in which the track was read through the profile
    (``profiled``: the session's main track; never another person's). None (and nothing added)
    when the session has no profile or no such interval overlaps."""
    if session.profile_id is None:
        return None
    weighted = [func.sum(getattr(IntervalRow, f"p_{name}") * IntervalRow.frames) for name in LABELS]
    row = s.execute(
        select(func.coalesce(func.sum(IntervalRow.frames), 0), *weighted).where(
            IntervalRow.session_id == session.id,
            IntervalRow.track_id == correction.track_id,
            IntervalRow.start_ms <= correction.end_ms,
            IntervalRow.end_ms >= correction.start_ms,
            IntervalRow.frames > 0,
            IntervalRow.profiled.is_(True),
        )
    ).one()
    frames, sums = int(row[0]), np.array([float(v or 0.0) for v in row[1:]], dtype=np.float64)
    if frames <= 0 or not math.isfinite(float(sums.sum())) or sums.sum() <= 0:
        return None
    sample = NewSample(
        kind="correction",
        probabilities=sums / sums.sum(),
        label=correction.correct_label,
        not_label=correction.wrong_label if correction.correct_label is None else None,
        model=session.model or UNKNOWN_MODEL,
        source=f"history:session {session.id} correction {correction.id}",
    )
    added = _sample_row(session.profile_id, sample, correction_id=correction.id)
    s.add(added)
    s.flush()
    touch_profiles(s, [session.profile_id])
    return added.id


class ProfilesMixin(StoreBase):
    """Creating, reading, changing, exporting and deleting profiles."""

    def _profile_infos(self, where: Any = None) -> list[ProfileInfo]:
        sample = ProfileSampleRow
        counts = (
            select(
                sample.profile_id,
                func.sum(case((sample.kind == "neutral", 1), else_=0)).label("neutral"),
                func.sum(case((sample.kind == "correction", 1), else_=0)).label("corrections"),
                func.max(sample.created_at).label("newest"),
            )
            .group_by(sample.profile_id)
            .subquery()
        )
        query = (
            select(ProfileRow, counts.c.neutral, counts.c.corrections, counts.c.newest)
            .outerjoin(counts, counts.c.profile_id == ProfileRow.id)
            .order_by(func.lower(ProfileRow.name), ProfileRow.id)
        )
        if where is not None:
            query = query.where(where)
        with self._session() as s:
            rows = s.execute(query).all()
        out = []
        for r, neutral, corrections, newest in rows:
            out.append(
                ProfileInfo(
                    id=r.id,
                    name=r.name,
                    created_at=r.created_at,
                    updated_at=r.updated_at,
                    consent_at=r.consent_at,
                    neutral_samples=int(neutral or 0),
                    corrections=int(corrections or 0),
                    last_changed=r.updated_at if newest is None else max(r.updated_at, newest),
                )
            )
        return out

    def create_profile(self, name: str, *, consent: bool) -> ProfileInfo:
        """A new, empty profile. It needs the consent of the person it calibrates for."""
        normal = check_profile_name(name)
        if consent is not True:
            raise ValueError(
                "a profile keeps numbers about one person's face and needs that person's consent; "
                "confirm you have it (consent=True, or --consent; see docs/responsible-use.md)"
            )
        now = _now()
        row = ProfileRow(name=normal, created_at=now, updated_at=now, consent_given=True, consent_at=now)
        try:
            with self._writing(), self._session() as s, s.begin():
                # Names differing only in case would be two profiles of one person to anyone who
                # types them (and the lookup above treats them as one).
                if (existing := _same_name(s, normal)) is not None:
                    raise ProfileExistsError(f"a profile named {existing!r} exists")
                s.add(row)
        except IntegrityError:  # created by another process between the check and the insert
            raise ProfileExistsError(f"a profile named {normal!r} exists") from None
        return self.get_profile(normal)

    def list_profiles(self) -> list[ProfileInfo]:
        """Every profile, by name."""
        return self._profile_infos()

    def get_profile(self, name: str) -> ProfileInfo:
        with self._session() as s:
            row = profile_row(s, name)
        (found,) = self._profile_infos(ProfileRow.id == row.id)
        return found

    def add_profile_samples(
        self, name: str, samples: Sequence[NewSample], *, profile_id: int | None = None
    ) -> list[int]:
        """Add samples in one transaction (all or none); returns their ids, in order. With
        ``profile_id`` (what a live stream started with), only to that profile: one deleted since,
        and perhaps made again under the same name for someone else, is a NotFoundError."""
        for sample in samples:
            if not isinstance(sample, NewSample):
                raise TypeError(f"profile samples are NewSample objects, got {type(sample).__name__}")
        gone = NotFoundError(
            f"the profile {name!r} was deleted after this session started with it (a profile of that "
            "name made since is not the same one): nothing was added to it"
        )
        with self._writing(), self._session() as s, s.begin():
            try:
                profile = profile_row(s, name)
            except NotFoundError:
                if profile_id is not None:
                    raise gone from None
                raise
            if profile_id is not None and profile.id != profile_id:
                raise gone
            rows = [_sample_row(profile.id, sample) for sample in samples]
            if not rows:
                return []
            s.add_all(rows)
            try:
                s.flush()
            except IntegrityError:  # the profile was deleted between the lookup and the insert
                raise gone from None
            touch_profiles(s, [profile.id])
            return [row.id for row in rows]

    def profile_samples(self, name: str, model: str | None = None) -> list[ProfileSample]:
        """A profile's samples, oldest first; only those of ``model`` when it is given."""
        with self._session() as s:
            profile = profile_row(s, name)
            query = select(ProfileSampleRow).where(ProfileSampleRow.profile_id == profile.id)
            if model is not None:
                query = query.where(ProfileSampleRow.model == model)
            rows = s.scalars(query.order_by(ProfileSampleRow.id)).all()
        return [
            ProfileSample(
                id=r.id,
                kind=r.kind,
                label=r.label,
                not_label=r.not_label,
                probabilities=_read_only([getattr(r, f"p_{n}") for n in LABELS]),
                model=r.model,
                source=r.source,
                created_at=r.created_at,
                correction_id=r.correction_id,
            )
            for r in rows
        ]

    def remove_profile_sample(self, name: str, sample_id: int) -> None:
        """Remove one sample (what ``profile_samples`` lists)."""
        with self._writing(), self._session() as s, s.begin():
            profile = profile_row(s, name)
            removed = s.execute(
                delete(ProfileSampleRow).where(
                    ProfileSampleRow.id == sample_id, ProfileSampleRow.profile_id == profile.id
                )
            )
            if not getattr(removed, "rowcount", 0):
                raise NotFoundError(
                    f"profile {profile.name!r} has no sample {sample_id} "
                    f"(moodlens profile show {profile.name} lists them)"
                )
            touch_profiles(s, [profile.id])

    def reset_profile(self, name: str) -> int:
        """Remove every sample, keeping the profile (and its consent); returns how many went."""
        with self._writing(), self._session() as s, s.begin():
            profile = profile_row(s, name)
            removed = s.execute(delete(ProfileSampleRow).where(ProfileSampleRow.profile_id == profile.id))
            touch_profiles(s, [profile.id])
            return int(getattr(removed, "rowcount", 0) or 0)

    def delete_profile(self, name: str) -> None:
        """Delete a profile and every sample of it. Sessions recorded with it keep their rows (the
        plain model's results) and no longer name a profile."""
        with self._writing(), self._session() as s, s.begin():
            profile = profile_row(s, name)
            # Explicitly, as the foreign keys would: correct whether or not the backend enforces them.
            s.execute(update(SessionRow).where(SessionRow.profile_id == profile.id).values(profile_id=None))
            s.execute(delete(ProfileSampleRow).where(ProfileSampleRow.profile_id == profile.id))
            s.execute(delete(ProfileRow).where(ProfileRow.id == profile.id))

    def export_profile(self, name: str) -> str:
        """Everything kept about a profile, as JSON: its details and every sample (label-space
        numbers only). A sample's source is quoted if a spreadsheet would run it."""
        info = self.get_profile(name)
        samples = []
        for sample in self.profile_samples(name):
            data = sample.to_dict()
            data["source"] = spreadsheet_safe(sample.source)
            samples.append(data)
        return json.dumps(
            {
                "profile": info.to_dict(),
                "samples": samples,
                "kept": "label-space numbers only: the model's 7 probabilities per sample and the expression "
                "it showed or did not show; never a face, crop, landmark or embedding",
            },
            indent=2,
        )
