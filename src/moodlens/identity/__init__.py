"""Who is who within one run: face embeddings and the linking of tracks into people.

Used to link the tracks of one person across shot cuts or long absences. Embeddings, chips and
landmarks live in memory for one run at most and are then discarded; nothing about a face's
appearance is stored, logged or sent (docs/identity.md).
"""

from __future__ import annotations

from moodlens.identity.align import CHIP_SIZE, face_chips
from moodlens.identity.embedder import (
    EMBEDDING_SIZE,
    FaceEmbedder,
    FakeEmbedder,
    OnnxFaceEmbedder,
)
from moodlens.identity.linking import (
    LINK_THRESHOLD,
    Person,
    TrackSighting,
    embedding_distance,
    link_tracks,
    track_embedding,
)

__all__ = [
    "CHIP_SIZE",
    "EMBEDDING_SIZE",
    "LINK_THRESHOLD",
    "FaceEmbedder",
    "FakeEmbedder",
    "OnnxFaceEmbedder",
    "Person",
    "TrackSighting",
    "embedding_distance",
    "face_chips",
    "link_tracks",
    "track_embedding",
]
