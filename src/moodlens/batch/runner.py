"""A batch run: plan the units, skip what is done, let an engine run the rest, write each item as
soon as all its units are back, and report.

Ctrl-C (``KeyboardInterrupt``) stops a run at once: the engine's workers are stopped, nothing in
flight is waited for, ``status.parquet`` is written, and the report says ``interrupted``. Finished
items are kept, and so are the finished segments of a video in several segments (in
``_segments/``), so running the same command again resumes where it stopped.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from moodlens.batch.analysis import AnalysisSettings, Unit, UnitResult
from moodlens.batch.dataset import FINISHED, Dataset, settings_fingerprint, shaping_settings
from moodlens.batch.engines import Engine
from moodlens.batch.inputs import Item
from moodlens.batch.join import join_segments


@dataclass(frozen=True)
class Segmenting:
    """Videos longer than ``segment_s`` are cut into segments of that length, each analysed from
    ``overlap_s`` before its start (the tracks are joined there)."""

    segment_s: float = 120.0
    overlap_s: float = 2.0

    def __post_init__(self) -> None:
        if self.segment_s <= 0 or self.overlap_s < 0 or self.overlap_s >= self.segment_s:
            raise ValueError("segment_s must be > 0 and overlap_s in [0, segment_s)")


@dataclass(frozen=True)
class Progress:
    """Where a run stands, after each unit: frames and items (items already done before excluded)."""

    frames_done: int
    frames_total: int
    items_done: int
    items_total: int
    label: str


@dataclass
class Report:
    items: int = 0
    done: int = 0
    #: Videos that end before the end their container announces (cut short): analysed up to the
    #: cut, kept with status ``truncated``.
    truncated: int = 0
    failed: int = 0
    skipped_before: int = 0
    skipped_inputs: int = 0
    frames: int = 0
    faces: int = 0
    seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    #: The truncated videos (source, why).
    truncations: list[tuple[str, str]] = field(default_factory=list)
    #: Items done with the model's reading although a profile was given (photo, why).
    notes: list[tuple[str, str]] = field(default_factory=list)
    #: Items of an older dataset format brought up to the current columns at the start.
    upgraded: int = 0
    #: The run was stopped (Ctrl-C) before every item was finished.
    interrupted: bool = False
    #: Finished segments of unfinished videos kept for the next run (when interrupted).
    segments_kept: int = 0
    #: Segments saved by an earlier, interrupted run and used instead of analysing them again.
    segments_reused: int = 0

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0

    @property
    def left(self) -> int:
        """Items neither finished nor failed, before or in this run."""
        return max(0, self.items - self.done - self.truncated - self.failed - self.skipped_before)


def _video_frames(item: Item, segmenting: Segmenting) -> tuple[int | None, float, bool]:
    """(frames, fps, whether it may be cut into segments by frame number) of a video file.

    The container's frame count is a claim (a 144 KB file can announce 2,500 hours): where it
    says more than one segment's worth, the frames are counted from the file's packets, and a
    file whose frame times do not follow its frame rate (variable rate, a jump in its
    timestamps) is not cut, since a frame number then says nothing about where a frame is."""
    from moodlens.pipeline.sources import VideoSource, probe_frames

    with VideoSource(item.source) as source:
        count, fps = source.info.frame_count, source.info.fps
    if count is None or count <= round(segmenting.segment_s * fps):
        return count, fps, False
    probe = probe_frames(item.source, fps)
    return max(1, probe.frames), fps, probe.regular


def plan(items: list[Item], segmenting: Segmenting) -> tuple[list[Unit], list[tuple[Item, str]]]:
    """The units of every item, and the items that cannot be planned (with the reason). Videos are
    cut by the frames they hold, never by what their container claims (:func:`_video_frames`)."""
    from moodlens.errors import MoodlensError

    units: list[Unit] = []
    problems: list[tuple[Item, str]] = []
    for item in items:
        if item.kind == "photo":
            units.append(Unit(item))
            continue
        try:
            count, fps, cuttable = _video_frames(item, segmenting)
        except MoodlensError as exc:
            problems.append((item, str(exc)))
            continue
        length = max(1, round(segmenting.segment_s * fps))
        overlap = round(segmenting.overlap_s * fps)
        if count is None or count <= length or not cuttable:
            units.append(Unit(item, frames_expected=count or 1))
            continue
        for k, start in enumerate(range(0, count, length)):
            end = min(count, start + length)
            units.append(
                Unit(
                    item,
                    k,
                    start,
                    end if end < count else None,
                    max(0, start - overlap),
                    frames_expected=end - start,
                )
            )
    return units, problems


def run_batch(
    items: list[Item],
    out: Path,
    engine: Engine,
    settings: AnalysisSettings,
    *,
    segmenting: Segmenting | None = None,
    retry_failed: bool = False,
    skipped_inputs: list[tuple[str, str]] | None = None,
    progress: Callable[[Progress], None] | None = None,
    force: bool = False,
) -> Report:
    """Analyse ``items`` into the dataset at ``out``. ``progress`` is called as units finish.

    Raises :class:`moodlens.batch.dataset.OutputFolderError` when ``out`` holds files moodlens batch
    did not make (unless ``force``), and :class:`moodlens.batch.dataset.DatasetMismatchError` before
    any item is written when the dataset's items were read with another profile choice than
    ``settings``'. Ctrl-C returns the report so far, ``interrupted``."""
    dataset = Dataset(out, force=force)
    report = Report(items=len(items), skipped_inputs=len(skipped_inputs or []))
    states = dataset.states()
    shaping = shaping_settings(settings)  # recorded in every item's state
    dataset.check_settings(states, shaping)
    collected: dict[str, list[UnitResult]] = defaultdict(list)
    expected: dict[str, int] = defaultdict(int)
    runs: Any = None
    started = time.perf_counter()
    try:
        report.upgraded = dataset.upgrade(states)
        todo = []
        for item in items:
            state = states.get(item.key)
            if state is not None and (state.get("status") in FINISHED or not retry_failed):
                report.skipped_before += 1
                continue
            todo.append(item)
        units, unplannable = plan(todo, segmenting or Segmenting())
        for item, reason in unplannable:
            dataset.write_failure(item, reason, profile_choice=settings.profile_choice, settings=shaping)
            report.failed += 1
            report.failures.append((item.source, reason))
        for unit in units:
            expected[unit.item.key] += 1
        total = sum(u.frames_expected for u in units)
        done_frames = 0
        items_done = len(unplannable)
        fingerprint = settings_fingerprint(settings)
        remaining = []
        for unit in units:
            saved = (
                dataset.load_segment(unit, fingerprint, shaping["model_sha256"])
                if expected[unit.item.key] > 1
                else None
            )
            if saved is None:
                remaining.append(unit)
                continue
            collected[unit.item.key].append(saved)
            report.segments_reused += 1
            done_frames += unit.frames_expected
        for key, results in list(collected.items()):
            if len(results) == expected[key]:  # every segment was saved: only the join was left
                _finish(dataset, results[0].unit.item, collected.pop(key), report, settings, shaping=shaping)
                items_done += 1
        runs = engine.run(remaining, settings)
        for result in runs:
            item = result.unit.item
            collected[item.key].append(result)
            done_frames += result.unit.frames_expected
            if len(collected[item.key]) == expected[item.key]:
                _finish(dataset, item, collected.pop(item.key), report, settings, shaping=shaping)
                items_done += 1
            elif not result.error:
                dataset.save_segment(result, fingerprint, shaping["model_sha256"])
            if progress is not None:
                progress(Progress(done_frames, total, items_done, len(todo), result.unit.label))
    except KeyboardInterrupt:
        report.interrupted = True
        report.segments_kept = sum(len([r for r in rs if not r.error]) for rs in collected.values())
    finally:
        close = getattr(runs, "close", None)
        if close is not None:
            close()  # a generator's finally stops the engine's workers now, whatever they were doing
        report.seconds = time.perf_counter() - started
        dataset.write_status(skipped_inputs or [])
    return report


def _finish(
    dataset: Dataset,
    item: Item,
    results: list[UnitResult],
    report: Report,
    settings: AnalysisSettings,
    *,
    shaping: dict[str, Any],
) -> None:
    errors = [r.error for r in results if r.error]
    seconds = sum(r.seconds for r in results)
    if errors:
        dataset.write_failure(
            item,
            errors[0],
            seconds=seconds,
            profile_choice=settings.profile_choice,
            settings=shaping,
        )
        report.failed += 1
        report.failures.append((item.source, errors[0]))
        return
    rows: dict[str, list[Any]] = join_segments(results) if item.kind == "video" else results[0].rows
    frames = sum(r.frames for r in results)
    media_ms = max(r.media_ms for r in results)
    note = next((r.note for r in results if r.note), "")
    missing = max(r.missing_frames for r in results)
    if missing:
        note = (
            f"the video ends {missing} frame(s) before the end its container announces: the file is "
            "probably cut short (everything up to the cut was analysed)"
        )
    faces = dataset.write_item(
        item,
        rows,
        model=results[0].model,
        frames=frames,
        seconds=seconds,
        media_ms=media_ms,
        profile=settings.profile,
        profile_choice=settings.profile_choice,
        settings=shaping,
        note=note,
        status="truncated" if missing else "done",
    )
    dataset.remove_older_versions(item)
    if missing:
        report.truncated += 1
        report.truncations.append((item.source, note))
    else:
        if note:
            report.notes.append((item.source, note))
        report.done += 1
    report.frames += frames
    report.faces += faces
