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

from moodlens.identity import LINK_THRESHOLD, FaceEmbedder, Person, TrackSighting, link_tracks
from moodlens.results import Face


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

    def __post_init__(self) -> None:
        if not self.every_ms >= 0:
            raise ValueError("every_ms must be >= 0")
        if self.max_per_track < 1:
            raise ValueError("max_per_track must be >= 1")
        if not self.min_face >= 0:
            raise ValueError("min_face must be >= 0")
        if not self.threshold >= 0:
            raise ValueError("threshold must be >= 0")


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
        sightings = [
            TrackSighting(
                track_id,
                t.first_ms,
                t.last_ms,
                np.stack(t.embeddings) if t.embeddings else np.zeros((0, 0), np.float32),
                frozenset(t.frames),
            )
            for track_id, t in self._tracks.items()
        ]
        return link_tracks(sightings, threshold=self.settings.threshold)

    def close(self) -> None:
        """Drop every embedding (what is linked so far is lost too)."""
        self._tracks.clear()
