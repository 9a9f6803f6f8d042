"""Which tracks of one run are the same person: agglomerative linking of track embeddings.

A tracker keeps one id per person *within a shot*; after a cut, or when someone leaves and comes
back later than re-identification allows, the same person gets a new track. :func:`link_tracks`
groups tracks into :class:`Person` objects from a few face embeddings per track:

- **One vector per track.** Each embedding is scaled to unit length, the track's embeddings are
  averaged and the mean scaled to unit length again: every sighting counts the same, and a track
  seen from many angles is not pulled towards the origin (a shorter mean would look closer to
  everyone).
- **Complete linkage** under a distance threshold: two groups merge, closest first, only while
  *every* pair of their tracks lies closer than the threshold. The threshold is a pairwise
  "same person" rule (dlib's), and complete linkage keeps it true of every pair in a person;
  average linkage would let a track join a group it is far from in part, and single linkage would
  chain look-alikes A ~ B ~ C into one person even where A and C are far apart.
- **Never on the same frame.** Two tracks seen on a common frame (or, without frame sets, with
  overlapping time spans) are two people, however close their embeddings: their distance is
  infinite, and complete linkage then never puts them in one person, directly or through others.
- **Deterministic**: tracks are taken in order of first appearance (then track id), ties go to
  the earlier pair, and people are numbered 1, 2, ... by their first appearance.

The threshold, :data:`LINK_THRESHOLD` = 0.40 on unit vectors, is dlib's documented rule (Euclidean
distance below 0.6 between its unnormalised embeddings means the same person) divided by the
typical length of those embeddings, about 1.48 (median of the 21 faces in the face-api package's
own demo photos; 0.6 / 1.48 = 0.41), rounded down: a wrong link mixes two people's timelines,
while a missed one only splits a person in two. See docs/identity.md.

Embeddings are held only for the call; the results hold track ids, nothing about a face.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: Largest distance between unit-length track embeddings that still links two tracks.
LINK_THRESHOLD = 0.40


@dataclass(frozen=True)
class TrackSighting:
    """What one track contributes: when it was seen and a few of its face embeddings.

    ``frames``: the frame indices it was seen on; when both tracks of a pair have them, they
    decide whether the two were ever seen together, otherwise ``[first_ms, last_ms]`` does.
    ``embeddings`` (k, d) may be empty (no face embedded): such a track stays a person of its own.
    """

    track_id: int
    first_ms: float
    last_ms: float
    embeddings: npt.NDArray[np.float32]
    frames: frozenset[int] | None = None

    def __post_init__(self) -> None:
        if not (np.isfinite(self.first_ms) and np.isfinite(self.last_ms)) or self.last_ms < self.first_ms:
            raise ValueError(
                f"track {self.track_id}: need finite first_ms <= last_ms, got {self.first_ms}, {self.last_ms}"
            )
        emb = np.asarray(self.embeddings, dtype=np.float32)
        if emb.ndim == 1:
            emb = emb[None] if emb.size else emb.reshape(0, 0)
        if emb.ndim != 2:
            raise ValueError(f"track {self.track_id}: embeddings must be (k, d), got shape {emb.shape}")
        if not np.all(np.isfinite(emb)):
            raise ValueError(f"track {self.track_id}: embeddings must be finite")
        object.__setattr__(self, "embeddings", emb)
        if self.frames is not None:
            object.__setattr__(self, "frames", frozenset(int(f) for f in self.frames))

    def seen_with(self, other: TrackSighting) -> bool:
        """True when both tracks were seen at the same time (so they are two people)."""
        if self.frames is not None and other.frames is not None:
            return not self.frames.isdisjoint(other.frames)
        return self.first_ms <= other.last_ms and other.first_ms <= self.last_ms


@dataclass(frozen=True)
class Person:
    """One person of a run: ``person_id`` (1, 2, ... by first appearance) and their track ids,
    in order of first appearance."""

    person_id: int
    track_ids: tuple[int, ...]

    def __post_init__(self) -> None:
        if self.person_id < 1:
            raise ValueError(f"person_id must be >= 1, got {self.person_id}")
        if not self.track_ids:
            raise ValueError("a person has at least one track")
        object.__setattr__(self, "track_ids", tuple(int(t) for t in self.track_ids))


def unit_rows(vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Each row scaled to unit length (rows of length zero are dropped)."""
    arr = np.asarray(vectors, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None]
    norms = np.linalg.norm(arr, axis=1)
    keep = norms > 1e-12
    return np.asarray(arr[keep] / norms[keep, None], dtype=np.float32)


def track_embedding(embeddings: npt.ArrayLike) -> npt.NDArray[np.float32] | None:
    """A track's one vector: the mean of its unit-length embeddings, at unit length (None when
    there is nothing to average, or the directions cancel out)."""
    rows = unit_rows(embeddings)
    if len(rows) == 0:
        return None
    mean = unit_rows(rows.mean(axis=0, dtype=np.float64))
    return mean[0] if len(mean) else None


def embedding_distance(a: npt.ArrayLike, b: npt.ArrayLike) -> float:
    """Euclidean distance between two embeddings scaled to unit length (0 .. 2): the quantity
    :data:`LINK_THRESHOLD` applies to."""
    ua, ub = unit_rows(a), unit_rows(b)
    if len(ua) != 1 or len(ub) != 1:
        raise ValueError("embedding_distance needs two non-zero vectors")
    return float(np.linalg.norm(ua[0].astype(np.float64) - ub[0]))


def _first_seen(s: TrackSighting) -> tuple[float, int]:
    return (s.first_ms, s.track_id)


def link_tracks(sightings: Iterable[TrackSighting], *, threshold: float = LINK_THRESHOLD) -> list[Person]:
    """Group tracks into people (complete linkage, ``distance < threshold``, never two tracks seen
    together); every track is in exactly one person; people are in order of first appearance."""
    if not np.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be a finite distance >= 0, got {threshold}")
    tracks = sorted(sightings, key=_first_seen)
    ids = [t.track_id for t in tracks]
    if len(set(ids)) != len(ids):
        raise ValueError("each track may appear once in the sightings")
    n = len(tracks)
    if n == 0:
        return []
    members = _cluster(tracks, threshold)
    groups = sorted(members, key=lambda group: _first_seen(tracks[group[0]]))
    return [
        Person(person_id=k + 1, track_ids=tuple(tracks[i].track_id for i in group))
        for k, group in enumerate(groups)
    ]


def _distances(tracks: Sequence[TrackSighting], threshold: float) -> npt.NDArray[np.float32]:
    """Pairwise distances between the tracks' vectors; inf where a pair cannot be one person."""
    n = len(tracks)
    vectors = [track_embedding(t.embeddings) if t.embeddings.size else None for t in tracks]
    dims = {len(v) for v in vectors if v is not None}
    if len(dims) > 1:
        raise ValueError(f"all embeddings must have the same length, got {sorted(dims)}")
    dist = np.full((n, n), np.inf, dtype=np.float32)
    have = [i for i, v in enumerate(vectors) if v is not None]
    if len(have) > 1:
        mat = np.stack([vectors[i] for i in have]).astype(np.float64)  # type: ignore[misc]
        gram = np.clip(mat @ mat.T, -1.0, 1.0)
        sub = np.sqrt(np.maximum(2.0 - 2.0 * gram, 0.0))
        dist[np.ix_(have, have)] = sub
    np.fill_diagonal(dist, np.inf)
    # Only pairs under the threshold can ever be merged; any other pair already blocks a merge
    # under complete linkage, so the (slower) seen-together test is needed for those alone.
    rows, cols = np.nonzero(np.triu(dist < threshold, k=1))
    for a, b in zip(rows.tolist(), cols.tolist(), strict=True):
        if tracks[a].seen_with(tracks[b]):
            dist[a, b] = dist[b, a] = np.inf
    return dist


def _cluster(tracks: Sequence[TrackSighting], threshold: float) -> list[list[int]]:
    """Complete-linkage agglomeration stopped at ``threshold``: a heap of candidate merges (only
    pairs closer than the threshold), stale entries skipped by version. O(n^2 log n) time, one
    n x n float32 matrix of memory."""
    dist = _distances(tracks, threshold)
    n = len(tracks)
    alive = np.ones(n, dtype=bool)
    version = [0] * n
    members: list[list[int]] = [[i] for i in range(n)]
    heap: list[tuple[float, int, int, int, int]] = []
    rows, cols = np.nonzero(np.triu(dist < threshold, k=1))
    for i, j in zip(rows.tolist(), cols.tolist(), strict=True):
        heap.append((float(dist[i, j]), i, j, 0, 0))
    heapq.heapify(heap)
    while heap:
        _, i, j, vi, vj = heapq.heappop(heap)
        if not (alive[i] and alive[j] and version[i] == vi and version[j] == vj):
            continue
        # merge j into i (i < j: the cluster that appeared first keeps its slot)
        merged = np.maximum(dist[i], dist[j])
        dist[i], dist[:, i] = merged, merged
        dist[i, i] = np.inf
        dist[j], dist[:, j] = np.inf, np.inf
        alive[j] = False
        members[i].extend(members[j])
        members[j] = []
        version[i] += 1
        for k in np.flatnonzero(alive & (dist[i] < threshold)).tolist():
            a, b = (i, k) if i < k else (k, i)
            heapq.heappush(heap, (float(dist[i, k]), a, b, version[a], version[b]))
    return [sorted(group) for group in members if group]
