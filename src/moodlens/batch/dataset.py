"""The batch's output: a Parquet dataset readable as it is by pandas, DuckDB or Spark.

    DIR/faces/<item key>.parquet     one row per face per frame (photos: frame 0)
    DIR/tracks/<item key>.parquet    per video, one row per person (moodlens.summary's rule)
    DIR/status.parquet               one row per input: done / failed (with the reason) / skipped
    DIR/_state/<item key>.json       the resume log: an item is done once its state file exists

Every file is written to a temporary name in its folder and renamed into place (atomic on POSIX),
and an item's state file is written last: an interrupted run leaves either all of an item or none.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from moodlens.batch.analysis import FACE_COLUMNS
from moodlens.batch.inputs import Item
from moodlens.labels import LABELS
from moodlens.summary import summaries_from_rows

STATUS_COLUMNS = (
    "source",
    "item_key",
    "kind",
    "status",
    "reason",
    "frames",
    "faces",
    "seconds",
    "media_ms",
    "finished_at",
)


def _arrow() -> Any:
    from moodlens.errors import extra_required

    with extra_required("batch", "pyarrow"):
        import pyarrow as pa
        import pyarrow.parquet as pq
    return pa, pq


def face_schema() -> Any:
    pa, _ = _arrow()
    fields = [
        pa.field("source", pa.string()),
        pa.field("item_key", pa.string()),
        pa.field("model", pa.string()),
    ]
    for name in FACE_COLUMNS:
        if name in ("frame_index", "track_id"):
            kind = pa.int64()
        elif name in ("label", "stable_label", "shown_label"):
            kind = pa.string()
        elif name == "timestamp_ms":
            kind = pa.float64()
        else:
            kind = pa.float32()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def track_schema() -> Any:
    pa, _ = _arrow()
    return pa.schema(
        [
            pa.field("source", pa.string()),
            pa.field("item_key", pa.string()),
            pa.field("model", pa.string()),
            pa.field("track_id", pa.int64()),
            pa.field("first_ms", pa.float64()),
            pa.field("last_ms", pa.float64()),
            pa.field("frames", pa.int64()),
            pa.field("duration_ms", pa.float64()),
            pa.field("dominant", pa.string()),
            pa.field("valence", pa.float64()),
            *(pa.field(f"share_{n}", pa.float64()) for n in LABELS),
            *(pa.field(f"mean_{n}", pa.float64()) for n in LABELS),
        ]
    )


def _atomic_parquet(table: Any, target: Path) -> None:
    _, pq = _arrow()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _atomic_json(value: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


class Dataset:
    """An output folder: what is done, and writing an item's results."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for sub in ("faces", "tracks", "_state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        # Leftovers of an interrupted write: never part of the dataset.
        for leftover in root.glob("*/.*.tmp"):
            leftover.unlink(missing_ok=True)
        # source -> item keys, read from the state files once and kept up to date: looking them up
        # per item would read every state file per item, quadratic in the archive's size.
        self._keys_by_source: dict[str, set[str]] | None = None

    def states(self) -> dict[str, dict[str, Any]]:
        out = {}
        for path in (self.root / "_state").glob("*.json"):
            try:
                state = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: redone
            out[path.stem] = state
        return out

    def write_item(
        self,
        item: Item,
        rows: dict[str, list[Any]],
        *,
        model: str,
        frames: int,
        seconds: float,
        media_ms: float,
    ) -> int:
        """The item's faces (and, for a video, its people), then its state; returns the face count."""
        pa, _ = _arrow()
        n = len(rows["frame_index"])
        columns = {"source": [item.source] * n, "item_key": [item.key] * n, "model": [model] * n, **rows}
        _atomic_parquet(
            pa.Table.from_pydict(columns, schema=face_schema()), self.root / "faces" / f"{item.key}.parquet"
        )
        if item.kind == "video":
            # Only the columns the summary reads: a dict of every column per row was a sixth of
            # the driver's time on long videos.
            needed = ["track_id", "timestamp_ms", "stable_label", *(f"s_{n}" for n in LABELS)]
            people = summaries_from_rows(
                dict(zip(needed, values, strict=True))
                for values in zip(*(rows[c] for c in needed), strict=True)
            )
            records = [
                {
                    "source": item.source,
                    "item_key": item.key,
                    "model": model,
                    "track_id": p.track_id,
                    "first_ms": p.first_ms,
                    "last_ms": p.last_ms,
                    "frames": p.frames,
                    "duration_ms": p.duration_ms,
                    "dominant": p.dominant,
                    "valence": p.valence,
                    **{f"share_{k}": v for k, v in p.shares.items()},
                    **{f"mean_{k}": v for k, v in p.mean_probabilities.items()},
                }
                for p in people
            ]
            table = pa.Table.from_pylist(records, schema=track_schema())
            _atomic_parquet(table, self.root / "tracks" / f"{item.key}.parquet")
        self._state(item, "done", "", frames=frames, faces=n, seconds=seconds, media_ms=media_ms)
        return n

    def remove_older_versions(self, item: Item) -> None:
        """Drop what an earlier version of the same file left (another key, the same source), so a
        file that changed between runs is in the dataset once."""
        keys = self._index().setdefault(item.source, set())
        for key in sorted(keys - {item.key}):
            for path in (self.root / "faces" / f"{key}.parquet", self.root / "tracks" / f"{key}.parquet"):
                path.unlink(missing_ok=True)
            (self.root / "_state" / f"{key}.json").unlink(missing_ok=True)
            keys.discard(key)

    def _index(self) -> dict[str, set[str]]:
        if self._keys_by_source is None:
            self._keys_by_source = {}
            for key, state in self.states().items():
                self._keys_by_source.setdefault(str(state.get("source")), set()).add(key)
        return self._keys_by_source

    def write_failure(self, item: Item, reason: str, *, seconds: float = 0.0) -> None:
        self._state(item, "failed", reason, frames=0, faces=0, seconds=seconds, media_ms=0.0)

    def _state(self, item: Item, status: str, reason: str, **figures: float) -> None:
        state = {
            "source": item.source,
            "item_key": item.key,
            "kind": item.kind,
            "status": status,
            "reason": reason,
            **figures,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        _atomic_json(state, self.root / "_state" / f"{item.key}.json")
        if self._keys_by_source is not None:
            self._keys_by_source.setdefault(item.source, set()).add(item.key)

    def write_status(self, skipped: list[tuple[str, str]]) -> Path:
        """``status.parquet`` from every item's state, plus the inputs that were not items."""
        pa, _ = _arrow()
        records = [{c: state.get(c) for c in STATUS_COLUMNS} for state in self.states().values()]
        records += [
            {"source": source, "item_key": "", "kind": "", "status": "skipped", "reason": reason}
            for source, reason in skipped
        ]
        schema = pa.schema(
            [
                *(pa.field(c, pa.string()) for c in ("source", "item_key", "kind", "status", "reason")),
                pa.field("frames", pa.int64()),
                pa.field("faces", pa.int64()),
                pa.field("seconds", pa.float64()),
                pa.field("media_ms", pa.float64()),
                pa.field("finished_at", pa.string()),
            ]
        )
        for record in records:
            for name in ("frames", "faces"):
                value = record.get(name)
                if value is not None:
                    record[name] = int(value)
        target = self.root / "status.parquet"
        _atomic_parquet(pa.Table.from_pylist(records, schema=schema), target)
        return target
