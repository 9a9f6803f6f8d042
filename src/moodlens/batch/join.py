"""Joining a video's segments into one story: track ids made global across segment boundaries.

Each segment ``k`` > 0 was analysed from ``warmup_frame`` (the last frames of segment ``k-1``) on, so
the same frames were seen twice near every boundary. A track of segment ``k`` that covers the same
faces as a track of segment ``k-1`` in those shared frames (mean box IoU >= ``MIN_IOU`` over at least
``MIN_SHARED`` frames, best pairs first, one to one) continues under its global id. A track that was
unconfirmed for part of the shared frames is followed there by the tracker's internal key, which
tentative faces have too. A track still not joined is joined by continuity: it starts
within ``MAX_GAP`` frames after the boundary where a track of segment ``k-1`` ended within
``MAX_GAP`` frames before it, with boxes overlapping by ``MIN_IOU``. Any other gets a new id. The
rows kept are each segment's own frames, so no frame appears twice.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from moodlens.batch.analysis import FACE_COLUMNS, UnitResult
from moodlens.results import Box

MIN_IOU = 0.5
MIN_SHARED = 3
MAX_GAP = 3


def _by_track(columns: dict[str, list[Any]], keys: list[int] | None = None) -> dict[int, dict[int, Box]]:
    """track id (or, given ``keys``, the tracker's key) -> frame index -> box."""
    out: dict[int, dict[int, Box]] = defaultdict(dict)
    for k, track in enumerate(columns["track_id"] if keys is None else keys):
        if track is None:
            continue
        box = Box(columns["x1"][k], columns["y1"][k], columns["x2"][k], columns["y2"][k])
        out[int(track)][int(columns["frame_index"][k])] = box
    return out


def match_tracks(previous: dict[int, dict[int, Box]], warmup: dict[int, dict[int, Box]]) -> dict[int, int]:
    """Local track id (this segment) -> global id (the previous segment's) for tracks seen in both."""
    pairs = []
    for local, frames in warmup.items():
        for global_id, seen in previous.items():
            shared = sorted(set(frames) & set(seen))
            if len(shared) < MIN_SHARED:
                continue
            iou = sum(frames[f].iou(seen[f]) for f in shared) / len(shared)
            if iou >= MIN_IOU:
                pairs.append((iou, local, global_id))
    mapping: dict[int, int] = {}
    taken: set[int] = set()
    for _, local, global_id in sorted(pairs, reverse=True):
        if local not in mapping and global_id not in taken:
            mapping[local] = global_id
            taken.add(global_id)
    return mapping


def match_at_boundary(
    previous: dict[int, dict[int, Box]], current: dict[int, dict[int, Box]], boundary: int, taken: set[int]
) -> dict[int, int]:
    """Tracks that end just before ``boundary`` and tracks that start just after, boxes overlapping."""
    ending = {
        g: frames[max(frames)]
        for g, frames in previous.items()
        if boundary - MAX_GAP <= max(frames) < boundary
    }
    starting = {
        t: frames[min(frames)]
        for t, frames in current.items()
        if boundary <= min(frames) < boundary + MAX_GAP
    }
    pairs = sorted(
        ((a.iou(b), t, g) for t, a in starting.items() for g, b in ending.items() if g not in taken),
        reverse=True,
    )
    mapping: dict[int, int] = {}
    for iou, t, g in pairs:
        if iou >= MIN_IOU and t not in mapping and g not in taken:
            mapping[t] = g
            taken.add(g)
    return mapping


def join_segments(results: list[UnitResult]) -> dict[str, list[Any]]:
    """One video's rows, segments in order, with global track ids."""
    rows: dict[str, list[Any]] = {c: [] for c in FACE_COLUMNS}
    next_id = 1
    previous_own: dict[str, list[Any]] | None = None
    for result in sorted(results, key=lambda r: r.unit.segment):
        own = result.rows
        mapping: dict[int, int] = {}
        if previous_own is not None:
            before = _by_track(previous_own)
            by_key = match_tracks(before, _by_track(result.warmup, result.warmup_keys))
            # A key is one tracker track; its rows with an id say which local id it became.
            id_of_key = {
                key: int(track)
                for key, track in zip(
                    [*result.warmup_keys, *result.keys],
                    [*result.warmup["track_id"], *own["track_id"]],
                    strict=True,
                )
                if track is not None
            }
            for key, global_id in by_key.items():
                if key in id_of_key and id_of_key[key] not in mapping:
                    mapping[id_of_key[key]] = global_id
            unmatched = {t: f for t, f in _by_track(own).items() if t not in mapping}
            taken = set(mapping.values())
            mapping.update(match_at_boundary(before, unmatched, result.unit.start_frame, taken))
        for track in sorted({int(t) for t in own["track_id"] if t is not None}):
            if track not in mapping:
                mapping[track] = next_id
                next_id += 1
        next_id = max([next_id, *(g + 1 for g in mapping.values())])
        mapped = {**own, "track_id": [None if t is None else mapping[int(t)] for t in own["track_id"]]}
        for name in FACE_COLUMNS:
            rows[name].extend(mapped[name])
        previous_own = mapped
    return rows
