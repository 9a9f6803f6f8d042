"""The batch's output: a Parquet dataset readable as it is by pandas, DuckDB or Spark.

    DIR/faces/<item key>.parquet     one row per face per frame (photos: frame 0)
    DIR/tracks/<item key>.parquet    per video, one row per person (moodlens.summary's rule)
    DIR/status.parquet               one row per input: done / truncated / failed / skipped
    DIR/_state/<item key>.json       the resume log: an item is done once its state file exists
    DIR/_segments/<item key>/<k>.parquet   finished segments of a long video not yet joined
    DIR/_moodlens_batch.json         the manifest: this folder is a dataset moodlens batch made

A batch touches only files it made: ``status.parquet``, the manifest, and each item's files, which
its state file lists (``files``). A folder that holds anything else and no manifest is refused
(:class:`OutputFolderError`) unless forced, and a dataset written before manifests (only the
layout above) is recognised and adopted.

Every file is written to a temporary name in its folder (``.NAME.moodlens-PID.tmp``) and renamed
into place (atomic on POSIX), and an item's state file is written last: an interrupted run leaves
either all of an item or none. A later run removes only such temporary files, and only those of a
process that is gone; any other ``*.tmp`` in the folder is left alone.

A state file records its dataset ``format``. Items of an older format (before the personal
columns: no ``format``) are brought up to the current columns when a run opens the dataset, so
the folder always reads as one table (:meth:`Dataset.upgrade`). A state also records the settings
the item was read with (the model, the detector and its options, the smoothing, the profile choice
``--profile NAME[@N]``); one dataset holds items read one way (:meth:`Dataset.check_settings`).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import unicodedata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moodlens.batch.analysis import FACE_COLUMNS, AnalysisSettings, Unit, UnitResult
from moodlens.batch.inputs import Item
from moodlens.labels import LABELS
from moodlens.summary import summaries_from_rows

if TYPE_CHECKING:
    from moodlens.personal import Profile

#: 1: the first layout; 2: faces gained ``profile`` and ``m_<label>``, tracks ``profile`` and
#: ``profile_frames``, states ``format`` and ``profile``.
FORMAT = 2

#: The statuses of an item whose rows are in the dataset: ``truncated`` is a video that ends
#: before the end its container announces (cut short), analysed up to the cut.
FINISHED = ("done", "truncated")

STATUS_COLUMNS = (
    "source",
    "item_key",
    "kind",
    "status",
    "reason",
    "profile",
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
        elif name in ("label", "stable_label", "shown_label", "profile"):
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
            # The profile this person was read through, and in how many of their frames (a
            # segment may have chosen another main track: docs/scaling.md); null without one.
            pa.field("profile", pa.string()),
            pa.field("profile_frames", pa.int64()),
        ]
    )


class DatasetMismatchError(ValueError):
    """This run's options do not fit the dataset already in the output folder."""


class OutputFolderError(ValueError):
    """The output folder holds files that moodlens batch did not make (or is not a folder)."""


MANIFEST = "_moodlens_batch.json"
_LAYOUT = {"faces", "tracks", "_state", "_segments", "status.parquet", MANIFEST}
_OWN_FILE = re.compile(r"[0-9a-f]{24}\.(parquet|json)")
_OWN_TEMPORARY = re.compile(r"\..+\.moodlens-(\d+)\.tmp")


def _temporary(target: Path) -> Path:
    return target.with_name(f".{target.name}.moodlens-{os.getpid()}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def _an_earlier_dataset(root: Path, entries: list[Path]) -> bool:
    """Whether a folder without a manifest is a dataset written before manifests: only the
    layout's names, a ``_state`` folder, and in its sub-folders only item files (hidden temporary
    files aside)."""
    names = {e.name for e in entries}
    if not names <= _LAYOUT or "_state" not in names:
        return False
    for sub in ("faces", "tracks", "_state"):
        folder = root / sub
        if folder.exists() and not folder.is_dir():
            return False
        for path in folder.iterdir() if folder.is_dir() else ():
            if not (_OWN_FILE.fullmatch(path.name) or path.name.startswith(".")):
                return False
    return True


def check_folder(root: Path, *, force: bool = False) -> None:
    """Refuse an output folder that holds files moodlens batch did not make (a folder with our
    manifest, an empty or new one, or a dataset from before manifests is fine), unless ``force``."""
    if root.exists() and not root.is_dir():
        raise OutputFolderError(f"--out {root} is a file, not a folder")
    if not root.exists():
        return
    manifest = root / MANIFEST
    if manifest.exists():
        try:
            made_by = json.loads(manifest.read_text(encoding="utf-8")).get("made_by")
        except (OSError, ValueError, AttributeError):
            made_by = None
        if made_by == "moodlens batch" or force:
            return
        raise OutputFolderError(f"{manifest} is not a moodlens batch manifest; give another --out")
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        raise OutputFolderError(f"--out {root}: cannot list the folder ({exc.strerror or exc})") from None
    if not entries or force or _an_earlier_dataset(root, entries):
        return
    shown = ", ".join(e.name for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
    raise OutputFolderError(
        f"--out {root} already holds files that moodlens batch did not make ({shown}); give a new or "
        "empty folder, or --force to write the dataset beside them"
    )


def _shaping(settings: AnalysisSettings) -> dict[str, Any]:
    import dataclasses

    shaping = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in ("profile", "profile_face", "threads")
    }
    shaping["profile"] = settings.profile_choice
    return shaping


#: What identifies a model file by its content (see :func:`model_digest`): recorded beside the
#: model's name, which it makes irrelevant when both runs have it.
CONTENT_KEYS = {"model": "model_sha256", "detector_model": "detector_model_sha256"}


def model_digest(path: Path) -> str:
    """A model's identity by what shapes its readings: the sha256 of its file and of the parts of
    its metadata that the classifier applies (input, crop, output kind, temperature, decision
    offset). Recalibrating a copy changes the readings as retraining does; recording new metrics
    or notes in its JSON (``evaluate --record``) does not. A model with no readable metadata is
    known by its file alone (it cannot be loaded anyway, and says why where it is)."""
    from moodlens.classification.metadata import load_metadata
    from moodlens.errors import ModelError

    digest = hashlib.sha256(path.read_bytes())
    try:
        meta = load_metadata(path)
    except ModelError:
        return digest.hexdigest()
    applied = meta.to_dict()
    applied = {
        "labels": applied["labels"],
        "input": applied["input"],
        "output": applied["output"],
        "crop": applied["crop"],
        "temperature": meta.temperature,
        "offset": list(meta.offset),
    }
    digest.update(json.dumps(applied, sort_keys=True).encode())
    return digest.hexdigest()


def shaping_settings(settings: AnalysisSettings) -> dict[str, Any]:
    """The settings that shape results, as JSON values (the profile by its ``--profile`` choice;
    threads only change the speed; the default model by its name, so ``--model crowd`` is the
    same run as no ``--model``), with each model file's content digest (:data:`CONTENT_KEYS`): a
    model replaced in place is another run, and the same model by another path is not."""
    from moodlens.classification.registry import DEFAULT_MODEL_NAME, model_path

    shaping = _shaping(settings)
    if shaping["model"] is None:
        shaping["model"] = DEFAULT_MODEL_NAME
    shaping["model_sha256"] = model_digest(model_path(settings.model))
    if settings.detector_model is not None and Path(settings.detector_model).is_file():
        shaping["detector_model_sha256"] = model_digest(Path(settings.detector_model))
    out: dict[str, Any] = json.loads(json.dumps(shaping, sort_keys=True, default=str))
    return out


def _said(key: str, value: Any) -> Any:
    return f"{value[:12]}..." if key.endswith("_sha256") and isinstance(value, str) else value


def same_profile_choice(a: Any, b: Any) -> bool:
    """Two ``--profile`` choices that name one profile: a profile is one name in any case
    ("kasumi" and "Kasumi"), and a dataset may have recorded the spelling a user typed."""
    if isinstance(a, str) and isinstance(b, str):
        return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()
    return bool(a == b)


def settings_differ(before: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """The settings two runs read items with differently. A digest recorded only by one of them
    (items written before digests were recorded) is not a difference; where both have a model's
    digest and it is the same, its name or path is not compared (``./m.onnx`` and ``m.onnx``, or
    a copy elsewhere, are one model)."""
    keys = set(before) | set(now)
    for name, content in CONTENT_KEYS.items():
        if content not in before or content not in now:
            keys.discard(content)
        elif before[content] == now[content]:
            keys.discard(name)
    if same_profile_choice(before.get("profile"), now.get("profile")):
        keys.discard("profile")
    return sorted(k for k in keys if before.get(k) != now.get(k))


def settings_fingerprint(settings: AnalysisSettings) -> str:
    """What a saved segment was analysed with; a segment saved with others is analysed again.
    Unchanged since segments were first saved (the model as given), so that a run interrupted by
    an earlier version resumes from its segments."""
    text = json.dumps(_shaping(settings), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _segment_schema() -> Any:
    pa, _ = _arrow()
    fields = []
    for name in FACE_COLUMNS:
        if name in ("frame_index", "track_id"):
            kind = pa.int64()
        elif name in ("label", "stable_label", "shown_label", "profile"):
            kind = pa.string()
        else:
            kind = pa.float64()  # as analysed, so a resumed join sees the very same boxes
        fields.append(pa.field(name, kind))
    return pa.schema([*fields, pa.field("_key", pa.int64()), pa.field("_warmup", pa.bool_())])


def _conform(table: Any, schema: Any) -> Any:
    """``table`` with the columns of ``schema``, in its order, the missing ones null."""
    pa, _ = _arrow()
    columns = [
        table.column(f.name).cast(f.type) if f.name in table.column_names else pa.nulls(len(table), f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)


def _atomic_parquet(table: Any, target: Path) -> None:
    _, pq = _arrow()
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    try:
        pq.write_table(table, temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _atomic_json(value: Any, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = _temporary(target)
    try:
        temporary.write_text(json.dumps(value, indent=1), encoding="utf-8")
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


class Dataset:
    """An output folder: what is done, and writing an item's results. ``force`` accepts a folder
    that holds files moodlens batch did not make (:func:`check_folder`)."""

    def __init__(self, root: Path, *, force: bool = False) -> None:
        from moodlens import __version__

        check_folder(root, force=force)
        self.root = root
        for sub in ("faces", "tracks", "_state"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        if not (root / MANIFEST).exists():
            manifest = {
                "made_by": "moodlens batch",
                "moodlens": __version__,
                "format": FORMAT,
                "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "files": "this file, status.parquet, and the files each _state/<item key>.json "
                "lists; moodlens batch touches no other file here",
            }
            _atomic_json(manifest, root / MANIFEST)
        # Leftovers of an interrupted write of ours (a process that is gone): never part of the
        # dataset. Another program's *.tmp is not ours to delete.
        for leftover in (*root.glob(".*.tmp"), *root.glob("*/.*.tmp"), *root.glob("_segments/*/.*.tmp")):
            found = _OWN_TEMPORARY.fullmatch(leftover.name)
            if found and not _alive(int(found.group(1))):
                leftover.unlink(missing_ok=True)
        # source -> item keys, read from the state files once and kept up to date: looking them up
        # per item would read every state file per item, quadratic in the archive's size.
        self._keys_by_source: dict[str, set[str]] | None = None

    def check_settings(self, states: dict[str, dict[str, Any]], settings: dict[str, Any]) -> None:
        """Refuse to mix settings in one dataset (:func:`shaping_settings`: the model, the detector
        and its options, the smoothing, the profile choice): the items done before would keep
        theirs (they are skipped), so the rows would be read in two ways without anyone asking.
        Items written before settings were recorded are checked by their profile choice only."""
        finished = [state for state in states.values() if state.get("status") in FINISHED]
        choice = settings.get("profile")
        used = {state.get("profile") for state in finished}
        others = sorted((u for u in used if not same_profile_choice(u, choice)), key=str)
        if others:

            def said(value: Any) -> str:
                return "no --profile" if value is None else f"--profile {value}"

            raise DatasetMismatchError(
                f"{self.root} holds items read with {' and '.join(said(u) for u in others)}; this run "
                f"has {said(choice)}. Items done before are not redone: give the same --profile, or "
                "another --out"
            )
        for state in finished:
            before = state.get("settings")
            if not isinstance(before, dict):
                continue
            differ = settings_differ(before, settings)
            if differ:
                then = ", ".join(f"{k}={_said(k, before.get(k))}" for k in differ)
                now = ", ".join(f"{k}={_said(k, settings.get(k))}" for k in differ)
                raise DatasetMismatchError(
                    f"{self.root} holds items read with {then} ({state.get('source')} among them); this "
                    f"run has {now}. Items done before are not redone: give the same options, or "
                    "another --out"
                )

    def upgrade(self, states: dict[str, dict[str, Any]]) -> int:
        """Bring the items written in an older format to the current columns (new ones null);
        returns how many. An item whose files cannot be read is forgotten, so it is redone."""
        pa, pq = _arrow()
        upgraded = 0
        for key, state in list(states.items()):
            if state.get("status") not in FINISHED or int(state.get("format", 1)) >= FORMAT:
                continue
            try:
                faces = self.root / "faces" / f"{key}.parquet"
                _atomic_parquet(_conform(pq.read_table(faces), face_schema()), faces)
                tracks = self.root / "tracks" / f"{key}.parquet"
                if tracks.exists():
                    _atomic_parquet(_conform(pq.read_table(tracks), track_schema()), tracks)
            except (OSError, pa.ArrowException):
                (self.root / "_state" / f"{key}.json").unlink(missing_ok=True)
                del states[key]
                continue
            state.update(format=FORMAT, profile=None)
            _atomic_json(state, self.root / "_state" / f"{key}.json")  # last, as for a new item
            upgraded += 1
        return upgraded

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
        profile: Profile | None = None,
        profile_choice: str | None = None,
        settings: dict[str, Any] | None = None,
        note: str = "",
        status: str = "done",
    ) -> int:
        """The item's faces (and, for a video, its people), then its state; returns the face count.

        ``profile_choice`` (``NAME[@N]``) is recorded in the state and, with what the profile held,
        in the faces file's metadata; ``note`` says why a photo kept the model's reading, or why a
        video is ``status`` ``truncated`` (its rows up to the cut are kept)."""
        pa, _ = _arrow()
        n = len(rows["frame_index"])
        columns = {"source": [item.source] * n, "item_key": [item.key] * n, "model": [model] * n, **rows}
        table = pa.Table.from_pydict(columns, schema=face_schema())
        if profile is not None:
            fit = {
                "choice": profile_choice,
                "name": profile.name,
                "neutral_samples": profile.neutral_samples,
                "corrections": profile.corrections,
            }
            table = table.replace_schema_metadata({"moodlens.profile": json.dumps(fit)})
        _atomic_parquet(table, self.root / "faces" / f"{item.key}.parquet")
        files = [f"faces/{item.key}.parquet"]
        if item.kind == "video":
            # Only the columns the summary reads: a dict of every column per row was a sixth of
            # the driver's time on long videos.
            needed = ["track_id", "timestamp_ms", "stable_label", *(f"s_{n}" for n in LABELS)]
            people = summaries_from_rows(
                dict(zip(needed, values, strict=True))
                for values in zip(*(rows[c] for c in needed), strict=True)
            )
            personal: dict[int, int] = {}  # track id -> frames read through the profile
            for track, name in zip(rows["track_id"], rows["profile"] if profile else (), strict=False):
                if track is not None and name is not None:
                    personal[int(track)] = personal.get(int(track), 0) + 1
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
                    "profile": profile.name if profile is not None and p.track_id in personal else None,
                    "profile_frames": personal.get(p.track_id, 0) if profile is not None else None,
                }
                for p in people
            ]
            table = pa.Table.from_pylist(records, schema=track_schema())
            _atomic_parquet(table, self.root / "tracks" / f"{item.key}.parquet")
            files.append(f"tracks/{item.key}.parquet")
        self._state(
            item,
            status,
            note,
            profile_choice,
            settings=settings,
            files=files,
            frames=frames,
            faces=n,
            seconds=seconds,
            media_ms=media_ms,
        )
        self.drop_segments(item.key)
        return n

    def remove_older_versions(self, item: Item) -> None:
        """Drop what an earlier version of the same file left (another key, the same source), so a
        file that changed between runs is in the dataset once."""
        keys = self._index().setdefault(item.source, set())
        for key in sorted(keys - {item.key}):
            for path in self._files_of(key):
                path.unlink(missing_ok=True)
            (self.root / "_state" / f"{key}.json").unlink(missing_ok=True)
            self.drop_segments(key)
            keys.discard(key)

    def _files_of(self, key: str) -> list[Path]:
        """The files an item's state says it made (a state from before that record: the layout's
        names for its key, the only files that state could have made)."""
        try:
            state = json.loads((self.root / "_state" / f"{key}.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            state = {}
        listed = state.get("files") if isinstance(state, dict) else None
        if not isinstance(listed, list):
            listed = [f"faces/{key}.parquet", f"tracks/{key}.parquet"]
        own = {f"faces/{key}.parquet", f"tracks/{key}.parquet"}
        return [self.root / name for name in listed if name in own]

    # --- segments of long videos, kept until the video is joined -------------------------------

    def _segment_path(self, key: str, segment: int) -> Path:
        return self.root / "_segments" / key / f"{segment}.parquet"

    def save_segment(self, result: UnitResult, fingerprint: str, model_sha256: str | None = None) -> None:
        """Keep a finished segment of a video in several segments, so that a run stopped before the
        video's last segment redoes only the segments not finished (``model_sha256``: the model's
        content digest, :func:`model_digest`)."""
        pa, _ = _arrow()
        unit = result.unit
        n, m = len(result.rows["frame_index"]), len(result.warmup["frame_index"])
        columns = {c: [*result.rows[c], *result.warmup[c]] for c in FACE_COLUMNS}
        columns["_key"] = [*result.keys, *result.warmup_keys]
        columns["_warmup"] = [False] * n + [True] * m
        about = {
            "fingerprint": fingerprint,
            "model_sha256": model_sha256,
            "segment": unit.segment,
            "start_frame": unit.start_frame,
            "end_frame": unit.end_frame,
            "warmup_frame": unit.warmup_frame,
            "frames": result.frames,
            "faces": result.faces,
            "seconds": result.seconds,
            "model": result.model,
            "media_ms": result.media_ms,
            "note": result.note,
            "missing_frames": result.missing_frames,
        }
        table = pa.Table.from_pydict(columns, schema=_segment_schema())
        table = table.replace_schema_metadata({"moodlens.segment": json.dumps(about)})
        _atomic_parquet(table, self._segment_path(unit.item.key, unit.segment))

    def load_segment(
        self, unit: Unit, fingerprint: str, model_sha256: str | None = None
    ) -> UnitResult | None:
        """The saved result of ``unit``, if one was saved for these frames and settings (and, where
        both are known, by a model of the same content: one replaced in place reads anew)."""
        pa, pq = _arrow()
        path = self._segment_path(unit.item.key, unit.segment)
        if not path.exists():
            return None
        try:
            table = pq.read_table(path)
            about = json.loads((table.schema.metadata or {}).get(b"moodlens.segment", b"{}"))
        except (OSError, ValueError, pa.ArrowException):
            return None
        where = (unit.segment, unit.start_frame, unit.end_frame, unit.warmup_frame)
        saved = tuple(about.get(k) for k in ("segment", "start_frame", "end_frame", "warmup_frame"))
        if about.get("fingerprint") != fingerprint or saved != where:
            return None
        if model_sha256 and about.get("model_sha256") and about["model_sha256"] != model_sha256:
            return None
        data = table.to_pydict()
        warm = data["_warmup"]
        result = UnitResult(
            unit,
            rows={c: [v for v, w in zip(data[c], warm, strict=True) if not w] for c in FACE_COLUMNS},
            warmup={c: [v for v, w in zip(data[c], warm, strict=True) if w] for c in FACE_COLUMNS},
            keys=[k for k, w in zip(data["_key"], warm, strict=True) if not w],
            warmup_keys=[k for k, w in zip(data["_key"], warm, strict=True) if w],
            frames=int(about["frames"]),
            faces=int(about["faces"]),
            seconds=float(about["seconds"]),
            model=str(about["model"]),
            media_ms=float(about["media_ms"]),
            note=about.get("note"),
            missing_frames=int(about.get("missing_frames") or 0),
        )
        return result

    def drop_segments(self, key: str) -> None:
        """Remove the saved segments of an item (only the files this module names)."""
        folder = self.root / "_segments" / key
        if not folder.is_dir():
            return
        for path in folder.iterdir():
            if re.fullmatch(r"\d+\.parquet", path.name):
                path.unlink(missing_ok=True)
        for empty in (folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:
                break  # something else is in it: not ours to remove

    def _index(self) -> dict[str, set[str]]:
        if self._keys_by_source is None:
            self._keys_by_source = {}
            for key, state in self.states().items():
                self._keys_by_source.setdefault(str(state.get("source")), set()).add(key)
        return self._keys_by_source

    def write_failure(
        self,
        item: Item,
        reason: str,
        *,
        seconds: float = 0.0,
        profile_choice: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> None:
        self._state(
            item,
            "failed",
            reason,
            profile_choice,
            settings=settings,
            frames=0,
            faces=0,
            seconds=seconds,
            media_ms=0.0,
        )

    def _state(
        self,
        item: Item,
        status: str,
        reason: str,
        profile_choice: str | None,
        *,
        settings: dict[str, Any] | None = None,
        files: list[str] | None = None,
        **figures: float,
    ) -> None:
        state = {
            "format": FORMAT,
            "source": item.source,
            "item_key": item.key,
            "kind": item.kind,
            "status": status,
            "reason": reason,
            "profile": profile_choice,
            "settings": settings,
            **figures,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files or [],
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
                *(
                    pa.field(c, pa.string())
                    for c in ("source", "item_key", "kind", "status", "reason", "profile")
                ),
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
