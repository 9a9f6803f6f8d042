"""People across cuts and exits, opt-in: which tracks of one run show the same person.

The tracker never carries an id over a shot cut, and gives a new id to a face that comes back
where no gate fits (see :mod:`moodlens.pipeline.tracking`): a person who is cut away from and back
to, or who walks out and in again much later, is several tracks. With ``--link-people`` a
:class:`PeopleLinker` embeds a few faces of every confirmed track (a face-embedding model,
:mod:`moodlens.identity`) and, when asked, links the tracks of one person (two tracks seen at the
same time are never one person).

The embeddings live in this object's memory for the run and nowhere else: they are never written,
logged or sent, and :meth:`PeopleLinker.close` drops them. What leaves it is numbers: which track
ids belong to one person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from moodlens.identity import (
    LINK_THRESHOLD,
    FaceEmbedder,
    Person,
    TrackSighting,
    embedding_distance,
    link_tracks,
    track_embedding,
)
from moodlens.results import Detection, Face


def turn(detection: Detection) -> float:
    """How far a face is turned: the nose's sideways offset from the middle of the eyes, in eye
    distances (0 frontal, about 0.5 and more for a profile); 0 without landmarks."""
    marks = detection.landmarks
    if marks is None:
        return 0.0
    (ex1, _), (ex2, _), (nx, _) = marks[0], marks[1], marks[2]
    span = abs(float(ex2 - ex1))
    return abs(float(nx) - (float(ex1) + float(ex2)) / 2) / span if span > 1 else 1.0


@dataclass(frozen=True)
class LinkSettings:
    #: A track's face is embedded at most this often (people do not change faster; a few
    #: looks at different moments are what make a track's embedding robust).
    every_ms: float = 400.0
    #: At most this many embeddings per track (memory and time stay bounded on long runs).
    max_per_track: int = 12
    #: Faces smaller than this (pixels, the box's shorter side) are not embedded: the model's
    #: input is 150 px and tiny faces embed poorly.
    min_face: float = 32.0
    #: Largest distance between two tracks' embeddings that links them (moodlens.identity).
    threshold: float = LINK_THRESHOLD
    #: Within one run the footage itself says how far apart *different* people look: two tracks
    #: seen at the same time are two people. Small, blurred or side-lit video faces bring
    #: different people closer than the model's photo threshold assumes, so a link also needs a
    #: distance under this fraction of the smallest such known-different distance.
    known_margin: float = 0.8
    #: Faces turned further than this (about 45 degrees) are not embedded: the nose's offset from
    #: the middle of the eyes, in eye distances (a profile embeds poorly and links strangers).
    max_turn: float = 0.5

    def __post_init__(self) -> None:
        if not self.every_ms >= 0:
            raise ValueError("every_ms must be >= 0")
        if self.max_per_track < 1:
            raise ValueError("max_per_track must be >= 1")
        if not self.min_face >= 0:
            raise ValueError("min_face must be >= 0")
        if not self.threshold >= 0:
            raise ValueError("threshold must be >= 0")
        if not 0 < self.known_margin <= 1:
            raise ValueError("known_margin must lie in (0, 1]")
        if not self.max_turn > 0:
            raise ValueError("max_turn must be > 0")


@dataclass
class _Track:
    first_ms: float
    last_ms: float
    frames: set[int] = field(default_factory=set)
    embeddings: list[npt.NDArray[np.float32]] = field(default_factory=list)
    embedded_ms: float = -np.inf


class PeopleLinker:
    """Feed every result of a stream (:meth:`observe`); :meth:`people` links its tracks."""

    def __init__(self, embedder: FaceEmbedder, settings: LinkSettings | None = None) -> None:
        self.embedder = embedder
        self.settings = settings or LinkSettings()
        self._tracks: dict[int, _Track] = {}
        self._frame = 0

    def observe(self, image: npt.NDArray[np.uint8], faces: Sequence[Face], timestamp_ms: float) -> None:
        """Note when each confirmed track was seen, and embed the faces that are due: big enough,
        not touching another face (a neighbour's features would mix in), not embedded for
        ``every_ms``, and under ``max_per_track``."""
        s = self.settings
        frame = self._frame
        self._frame += 1
        due = []
        for index, face in enumerate(faces):
            if face.track_id is None:
                continue
            track = self._tracks.setdefault(face.track_id, _Track(timestamp_ms, timestamp_ms))
            track.last_ms = max(track.last_ms, timestamp_ms)
            track.frames.add(frame)
            box = face.box
            if (
                len(track.embeddings) < s.max_per_track
                and timestamp_ms - track.embedded_ms >= s.every_ms
                and min(box.width, box.height) >= s.min_face
                and turn(face.detection) <= s.max_turn
                and not any(j != index and box.iou(other.box) > 0 for j, other in enumerate(faces))
            ):
                due.append(index)
        if not due:
            return
        vectors = self.embedder.embed(image, [faces[i].detection for i in due])
        for index, vector in zip(due, vectors, strict=True):
            track_id = faces[index].track_id
            assert track_id is not None
            track = self._tracks[track_id]
            track.embeddings.append(np.asarray(vector, dtype=np.float32))
            track.embedded_ms = timestamp_ms

    def people(self) -> list[Person]:
        """Every confirmed track seen so far, grouped into people (numbered by first appearance).
        A track with no face big enough to embed stays a person of its own."""
        sightings = self._sightings()
        return link_tracks(sightings, threshold=self.threshold(sightings))

    def threshold(self, sightings: Sequence[TrackSighting] | None = None) -> float:
        """The link threshold for this run: the settings' one, or less where two people seen
        together look closer than that (``known_margin`` of their distance)."""
        tracks = [
            (s, vector)
            for s in (self._sightings() if sightings is None else sightings)
            if (vector := track_embedding(s.embeddings)) is not None
        ]
        known = [
            embedding_distance(a, b)
            for i, (sa, a) in enumerate(tracks)
            for sb, b in tracks[i + 1 :]
            if sa.seen_with(sb)
        ]
        limit = self.settings.threshold
        return min(limit, self.settings.known_margin * min(known)) if known else limit

    def _sightings(self) -> list[TrackSighting]:
        return [
            TrackSighting(
                track_id,
                t.first_ms,
                t.last_ms,
                np.stack(t.embeddings) if t.embeddings else np.zeros((0, 0), np.float32),
                frozenset(t.frames),
            )
            for track_id, t in self._tracks.items()
        ]

    def close(self) -> None:
        """Drop every embedding (what is linked so far is lost too)."""
        self._tracks.clear()
