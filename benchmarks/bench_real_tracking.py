"""Real-footage tracking benchmark: do the people of real videos keep one identity through the video
pipeline? Scored by py-motmetrics against identities labelled by eye (benchmarks/labels/, made with
benchmarks/label_faces.py) on the two media videos and two clips built from their frames
(benchmarks/real_tracking.py: a cutaway, and the street clip forward then backward).

Each tracker runs as ``moodlens video CLIP`` runs it: the command's own detector and stream
settings (built by its parser and ``build_stream``: detection schedule, following, shot cuts, the
low-score look for a missed person), frames decoded by the pipeline's ``VideoSource``, its
``run_stream`` loop. Only the classifier is a fake (expressions play no part in tracking), and the
detector answers from detections computed once per video (the same detector on the same pixels,
looked up by frame checksum), so every tracker sees the same detections. Only confirmed faces (with
a track id) are hypotheses.

Metrics, per clip (a hypothesis matches a labelled face at IoU >= 0.5):

- IDF1, MOTA, ID switches, fragmentations: py-motmetrics, identity *within a shot* (a person seen
  in two shots is two identities there: the tracker ends every track at a cut, by design);
- IDF1 across cuts: the same with the labels' own identities, which hold across cuts;
- merges: predicted tracks matched to more than one labelled person (counting matches only);
- tracks per person: distinct predicted ids matched to one person (within a shot), averaged over
  the people matched at least once; "people with an id": how many people (within a shot) were;
- false ids: predicted ids never matched to a labelled person (a non-face, or a face off its box).

What is scored of the labels: a face the detector found at its threshold must be found (else a
miss); a face only found at a low score (the labels' ``low``) counts when a tracker reports it, its
identity checked, and is not missed when it does not; of two boxes of one head in a frame, the one a
hypothesis matches is scored; a hypothesis on an ``unsure`` face (whose person cannot be told) is
not scored.

Entries: "old" is the tracker of commit 37caca0, before the real-footage work on it: its code (a
``git archive`` of its src/, run in a subprocess) with its defaults, passed explicitly
(``OLD_TRACKER``); "new" is the checkout's ``TrackerSettings()``. To compare another tracker (the
people linker, say), add an ``Entry``.

    python benchmarks/bench_real_tracking.py [--clips a,b] [--entries old,new] [--json FILE|-] [--details]

Needs the [dev] extra (motmetrics, pandas), imageio-ffmpeg (the built clips), git (the "old"
entry) and the media folder ($MOODLENS_MEDIA or ../shared/media). Built clips, detections and the
old source are cached in $MOODLENS_BENCH_CACHE (default: the system's temporary folder).
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moodlens.pipeline.stream import StreamSettings
from moodlens.pipeline.tracking import TrackerSettings
from moodlens.results import Box, FrameResult
from real_tracking import (
    CACHE,
    CLIPS,
    CachedDetector,
    Clip,
    LabelledFace,
    Labels,
    load_clips,
    media_dir,
    video_command_args,
    video_detector,
)

#: The commit whose tracker is "old": the last one before the real-footage work on the tracker.
OLD_REVISION = "37caca0"
#: TrackerSettings() at that commit, explicit (the "old" entry passes it, whatever the defaults become).
OLD_TRACKER = TrackerSettings(
    iou_threshold=0.25,
    max_age_ms=1000.0,
    confirm_hits=3,
    confirm_ms=100.0,
    tentative_miss_ms=300.0,
    reid_ms=5000.0,
    reid_distance=0.3,
    reid_wait_ms=500.0,
    appearance_weight=0.5,
    velocity_smoothing=0.6,
)


@dataclass(frozen=True)
class Entry:
    """A tracker to compare, run as ``moodlens video`` runs it."""

    name: str
    about: str
    #: The video command's stream settings -> the ones this entry runs with.
    configure: Callable[[StreamSettings], StreamSettings] = lambda s: s
    #: Extra ``moodlens video`` options, e.g. ``("--link-people",)``.
    options: tuple[str, ...] = ()
    #: After the run: track id -> the id it is scored as (e.g. the person a linker put it in:
    #: ``lambda stream: {t: p.person_id for p, _ in stream.people() for t in p.track_ids}``).
    relabel: Callable[[Any], dict[int, int]] | None = None
    #: Run the moodlens code of this git revision (its src/, from ``git archive``) in a
    #: subprocess instead of the checkout's: the old tracker's code, not only its settings.
    revision: str | None = None


ENTRIES = (
    Entry(
        "old",
        f"the tracker of commit {OLD_REVISION}: its code (git archive) and its defaults",
        lambda s: replace(s, tracker=OLD_TRACKER),
        revision=OLD_REVISION,
    ),
    Entry("new", "TrackerSettings() of the checkout", lambda s: replace(s, tracker=TrackerSettings())),
    Entry(
        "linked",
        "the checkout with --link-people: each track scored as the person the linker put it in",
        lambda s: replace(s, tracker=TrackerSettings()),
        options=("--link-people",),
        relabel=lambda stream: {t: p.person_id for p, _ in stream.people() for t in p.track_ids},
    ),
)

#: Per frame: (track id, box) of every confirmed face.
Hypotheses = list[list[tuple[int, Box]]]


class _Collect:
    """A result sink that keeps the confirmed faces of every frame."""

    def __init__(self) -> None:
        self.frames: Hypotheses = []

    def write(self, result: FrameResult) -> None:
        self.frames.append([(f.track_id, f.box) for f in result.faces if f.track_id is not None])


def run_pipeline(clip: Clip, entry: Entry, detector: CachedDetector) -> Hypotheses:
    """``moodlens video CLIP`` at its defaults and ``entry``'s settings, as the command runs it:
    its stream built by the command's own ``build_stream``, its loop ``run_stream``."""
    from moodlens.classification.fake import FakeClassifier
    from moodlens.cli.common import build_stream
    from moodlens.pipeline import Analyzer
    from moodlens.pipeline.runner import run_stream
    from moodlens.pipeline.sources import PrefetchReader, VideoSource
    from moodlens.pipeline.stream import StreamAnalyzer

    args = video_command_args(clip.path, *entry.options)
    analyzer = Analyzer(detector, FakeClassifier(), max_faces=args.max_faces, max_pixels=args.max_pixels)
    built = build_stream(args, analyzer)
    extra = {"linker": built.linker} if getattr(built, "linker", None) is not None else {}
    stream = StreamAnalyzer(analyzer, entry.configure(built.settings), profile=built.profile, **extra)
    collect = _Collect()
    with VideoSource(clip.path) as source, PrefetchReader(source) as frames:
        run_stream(frames, stream, sinks=[collect])
    if len(collect.frames) != clip.labels.frames:
        raise RuntimeError(
            f"{clip.name}: {len(collect.frames)} frames processed, {clip.labels.frames} labelled"
        )
    if entry.relabel is None:
        return collect.frames
    ids = entry.relabel(stream)
    return [[(ids.get(i, i), b) for i, b in frame] for frame in collect.frames]


def revision_src(revision: str, cache: Path = CACHE) -> Path:
    """The ``src`` folder of a git revision of this repository, extracted once into the cache."""
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--verify", f"{revision}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"revision {revision} not found: the entry needs the repository's git history")
    commit = done.stdout.strip()
    folder = cache / "revisions" / commit[:12]
    if not (folder / "src" / "moodlens" / "__init__.py").is_file():
        archive = subprocess.run(
            ["git", "-C", str(root), "archive", "--format=tar", commit, "src"],
            capture_output=True,
            check=True,
        )
        partial = folder.with_name(f".{folder.name}.{os.getpid()}")
        with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
            tar.extractall(partial, filter="data")
        partial.replace(folder)
    return folder / "src"


def run_elsewhere(entry: Entry, media: Path, names: Sequence[str], cache: Path) -> dict[str, Hypotheses]:
    """Run ``entry`` in a subprocess on the moodlens code of ``entry.revision``."""
    assert entry.revision is not None
    src = revision_src(entry.revision, cache)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src), os.environ.get("PYTHONPATH", "")]))
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "hypotheses.json"
        command = [sys.executable, __file__, "--worker", entry.name, "--media", str(media)]
        command += ["--cache", str(cache), "--clips", ",".join(names), "--json", str(out)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{entry.name} ({entry.revision}) failed:\n{done.stderr.strip()[-2000:]}")
        data = json.loads(out.read_text())
    if not data["moodlens"].startswith(str(src)):
        raise RuntimeError(f"{entry.name}: ran moodlens from {data['moodlens']}, not from {src}")
    return {
        name: [[(int(v[0]), Box(*v[1:])) for v in frame] for frame in frames]
        for name, frames in data["clips"].items()
    }


def _worker(name: str, media: Path, names: Sequence[str], cache: Path, out: Path) -> int:
    """The subprocess side of :func:`run_elsewhere`: the entry's hypotheses on every clip, as JSON."""
    import moodlens

    entry = next(e for e in ENTRIES if e.name == name)
    detector = video_detector()
    clips = load_clips(media, detector, names, cache=cache)
    cached = CachedDetector(detector, [c.detections for c in clips])
    hyps = {c.name: run_pipeline(c, replace(entry, revision=None), cached) for c in clips}
    data = {
        "moodlens": str(Path(moodlens.__file__).resolve()),
        "clips": {n: [[[i, *b.to_list()] for i, b in frame] for frame in h] for n, h in hyps.items()},
    }
    out.write_text(json.dumps(data))
    return 0


# --- scoring ------------------------------------------------------------------------------------------

_MATCHED = ("MATCH", "SWITCH", "TRANSFER", "ASCEND", "MIGRATE")


def _distances(truth: Sequence[Box], hyps: Sequence[Box]) -> np.ndarray:
    """1 - IoU, NaN below IoU 0.5 (no match): the usual MOT gate."""
    out = np.full((len(truth), len(hyps)), np.nan)
    for i, a in enumerate(truth):
        for j, b in enumerate(hyps):
            iou = a.iou(b)
            if iou >= 0.5:
                out[i, j] = 1.0 - iou
    return out


def _identity(person: int, shot: int, within_shot: bool) -> int:
    return person * 1000 + shot if within_shot else person


def scored_truth(faces: Sequence[LabelledFace], found: Sequence[tuple[int, Box]]) -> list[LabelledFace]:
    """The labelled faces of a frame that are scored: one box per person (of two boxes of one head,
    the one a hypothesis overlaps most); a person found there only at a low score is scored only
    when a hypothesis matches them (a tracker may report such a face, and need not)."""
    by_person: dict[int, list[LabelledFace]] = {}
    for face in faces:
        by_person.setdefault(face.person, []).append(face)
    out = []
    for boxes in by_person.values():
        overlap = [max((f.box.iou(b) for _, b in found), default=0.0) for f in boxes]
        best = int(np.argmax(overlap))
        if overlap[best] >= 0.5:
            out.append(boxes[best])
        else:
            out.extend([f for f in boxes if not f.low][:1])
    return out


def _unsure(box: Box, truth: Sequence[LabelledFace], unsure: Sequence[Box]) -> bool:
    """A hypothesis on a face whose person cannot be told (and on no labelled face) is not scored."""
    best = max((u.iou(box) for u in unsure), default=0.0)
    return best >= 0.5 and best > max((f.box.iou(box) for f in truth), default=0.0)


def scored_frames(labels: Labels, hyps: Hypotheses) -> list[tuple[list[LabelledFace], list[tuple[int, Box]]]]:
    """Per frame: the labelled faces and the hypotheses that are scored."""
    out = []
    for frame, (faces, reported) in enumerate(zip(labels.faces, hyps, strict=True)):
        truth = scored_truth(faces, reported)
        out.append((truth, [(i, b) for i, b in reported if not _unsure(b, truth, labels.unsure[frame])]))
    return out


def _accumulate(labels: Labels, hyps: Hypotheses, within_shot: bool) -> Any:
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for frame, (truth, found) in enumerate(scored_frames(labels, hyps)):
        shot = labels.shot_of(frame)
        accumulator.update(
            [_identity(f.person, shot, within_shot) for f in truth],
            [i for i, _ in found],
            _distances([f.box for f in truth], [b for _, b in found]),
        )
    return accumulator


def _spans(frames: Sequence[int]) -> str:
    """Frame numbers as ranges: 3-23, 96-104."""
    out, start, last = [], None, None
    for f in sorted(frames):
        if start is None:
            start = last = f
        elif f == last + 1:  # type: ignore[operator]
            last = f
        else:
            out.append(f"{start}-{last}" if last != start else f"{start}")
            start = last = f
    if start is not None:
        out.append(f"{start}-{last}" if last != start else f"{start}")
    return ", ".join(out)


def score(labels: Labels, hyps: Hypotheses) -> dict[str, Any]:
    """The benchmark's metrics for one tracker on one clip (see the module's docstring)."""
    import motmetrics as mm

    names = ["idf1", "mota", "num_switches", "num_fragmentations", "num_false_positives", "num_misses"]
    metrics = mm.metrics.create()
    out: dict[str, Any] = {}
    for within_shot in (True, False):
        accumulator = _accumulate(labels, hyps, within_shot)
        summary = metrics.compute(accumulator, metrics=names, name="clip").loc["clip"]
        events = accumulator.mot_events
        matched = events[events.Type.isin(_MATCHED)]
        pairs = {
            (int(o), int(h), int(f))
            for (f, _), o, h in zip(matched.index, matched.OId, matched.HId, strict=True)
        }
        per_identity: dict[int, set[int]] = {}
        for o, h, _ in pairs:
            per_identity.setdefault(o, set()).add(h)
        # The people: those found at the detector's threshold somewhere (within a shot: in that shot).
        identities = {
            _identity(f.person, labels.shot_of(k), within_shot)
            for k, faces in enumerate(labels.faces)
            for f in faces
            if not f.low
        }
        counts = [len(ids) for ids in per_identity.values()]
        figures = {
            "idf1": float(summary.idf1),
            "mota": float(summary.mota),
            "id_switches": int(summary.num_switches),
            "fragmentations": int(summary.num_fragmentations),
            "false_positives": int(summary.num_false_positives),
            "misses": int(summary.num_misses),
            "tracks_per_person": float(np.mean(counts)) if counts else 0.0,
            "people": len(identities),
            "people_with_an_id": len(identities & set(per_identity)),
        }
        if within_shot:
            out.update(figures)
            persons: dict[int, dict[int, list[int]]] = {}  # track -> person -> frames
            for o, h, f in pairs:
                persons.setdefault(h, {}).setdefault(o // 1000, []).append(f)
            all_ids = {i for _, found in scored_frames(labels, hyps) for i, _ in found}
            out["merges"] = sum(1 for p in persons.values() if len(p) > 1)
            out["false_ids"] = len(all_ids - set(persons))
            out["merged_tracks"] = {
                str(h): {str(p): _spans(fs) for p, fs in sorted(by.items())}
                for h, by in sorted(persons.items())
                if len(by) > 1
            }
            tracks: dict[int, dict[int, list[int]]] = {}
            for o, h, f in pairs:
                tracks.setdefault(o // 1000, {}).setdefault(h, []).append(f)
            out["tracks_of_person"] = {
                str(p): {str(h): _spans(fs) for h, fs in sorted(by.items())}
                for p, by in sorted(tracks.items())
            }
        else:
            out["across_cuts"] = figures
    return out


# --- the run -----------------------------------------------------------------------------------------


def evaluate(
    media: Path,
    names: Sequence[str] = CLIPS,
    entries: Sequence[Entry] = ENTRIES,
    *,
    cache: Path = CACHE,
) -> dict[str, Any]:
    """Every entry on every clip: the report ``--json`` writes."""
    detector = video_detector()
    started = time.perf_counter()
    clips = load_clips(media, detector, names, cache=cache)
    prepared_s = time.perf_counter() - started
    cached = CachedDetector(detector, [c.detections for c in clips])
    elsewhere = {
        e.name: run_elsewhere(e, media, [c.name for c in clips], cache)
        for e in entries
        if e.revision is not None
    }
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "detector": clips[0].detections.detector if clips else {},
        "entries": {e.name: e.about for e in entries},
        "trackers": {e.name: dataclasses.asdict(e.configure(StreamSettings()).tracker) for e in entries},
        "revisions": {e.name: e.revision for e in entries if e.revision is not None},
        "prepare_s": round(prepared_s, 1),
        "clips": {},
    }
    for clip in clips:
        labels = clip.labels
        row: dict[str, Any] = {
            "video": clip.path.name,
            "frames": labels.frames,
            "shots": labels.shots,
            "people": len(labels.people),
            "labelled_boxes": labels.boxes,
            "results": {},
        }
        for entry in entries:
            t0 = time.perf_counter()
            if entry.revision is None:
                hyps = run_pipeline(clip, entry, cached)
            else:
                hyps = elsewhere[entry.name][clip.name]
            row["results"][entry.name] = {
                **score(labels, hyps),
                "seconds": round(time.perf_counter() - t0, 2),
            }
        report["clips"][clip.name] = row
    report["detections_cached"] = cached.hits
    report["detections_run"] = cached.misses
    return report


def print_report(report: dict[str, Any], *, details: bool = False) -> None:
    for name, clip in report["clips"].items():
        print(
            f"\n{name} ({clip['video']}): {clip['frames']} frames, {len(clip['shots'])} shot(s), "
            f"{clip['people']} people, {clip['labelled_boxes']} labelled faces\n"
        )
        print(
            "| tracker | IDF1 | IDF1 across cuts | MOTA | ID switches | fragmentations | merges "
            "| tracks per person | people with an id | false ids |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for entry, r in clip["results"].items():
            print(
                f"| {entry} | {r['idf1']:.3f} | {r['across_cuts']['idf1']:.3f} | {r['mota']:.3f} | "
                f"{r['id_switches']} | {r['fragmentations']} | {r['merges']} | {r['tracks_per_person']:.2f} | "
                f"{r['people_with_an_id']}/{r['people']} | {r['false_ids']} |"
            )
        if details:
            for entry, r in clip["results"].items():
                print(f"\n{entry}: predicted ids of each labelled person (frames matched)")
                for person, ids in r["tracks_of_person"].items():
                    print(f"  person {person}: " + "; ".join(f"id {h} at {s}" for h, s in ids.items()))
                for track, people in r["merged_tracks"].items():
                    print(
                        f"  MERGE id {track}: " + "; ".join(f"person {p} at {s}" for p, s in people.items())
                    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--media", type=Path, help="the media folder (default: $MOODLENS_MEDIA or ../shared/media)"
    )
    parser.add_argument("--clips", help=f"comma-separated clip names (default: all of {', '.join(CLIPS)})")
    parser.add_argument(
        "--json", metavar="FILE", help="also write the report as JSON ('-': to stdout, alone)"
    )
    parser.add_argument("--details", action="store_true", help="each person's predicted ids, and every merge")
    parser.add_argument(
        "--cache", type=Path, default=CACHE, help=f"built clips and detections (default: {CACHE})"
    )
    parser.add_argument(
        "--entries", help=f"comma-separated trackers (default: {', '.join(e.name for e in ENTRIES)})"
    )
    parser.add_argument(
        "--confirm-sweep",
        action="store_true",
        help="measure the confirmation rule: the current tracker with other confirm_hits/confirm_ms",
    )
    parser.add_argument("--worker", metavar="ENTRY", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    media: Path | None = args.media or media_dir()
    names = args.clips.split(",") if args.clips else list(CLIPS)
    chosen = [e for e in ENTRIES if not args.entries or e.name in args.entries.split(",")]
    unknown = set(args.entries.split(",")) - {e.name for e in ENTRIES} if args.entries else set()
    if unknown:
        parser.error(f"unknown entries {sorted(unknown)}; choose from: {', '.join(e.name for e in ENTRIES)}")
    if media is None or not media.is_dir():
        print(
            "no media: pass --media or set MOODLENS_MEDIA (the folder with the two videos)", file=sys.stderr
        )
        return 2
    if args.worker:
        return _worker(args.worker, media, names, args.cache, Path(args.json))
    if args.confirm_sweep:
        return confirm_sweep(media, names, args.cache)
    report = evaluate(media, names, chosen, cache=args.cache)
    if args.json == "-":
        print(json.dumps(report, indent=1))
        return 0
    print(
        f"{report['machine']}, {report['date']}; detector {report['detector'].get('name')} "
        f"{report['detector'].get('settings')}; detections cached {report['detections_cached']}, "
        f"run {report['detections_run']}"
    )
    print_report(report, details=args.details)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    return 0


#: The confirmation rules the sweep compares: (confirm_hits, confirm_ms).
CONFIRM_RULES = ((1, 0.0), (2, 0.0), (2, 70.0), (3, 0.0), (3, 100.0))


def confirm_sweep(media: Path, names: Sequence[str], cache: Path) -> int:
    """How soon faces become people, and at what cost: per rule, summed over the clips, the
    labelled faces missed (no id yet, mostly the confirmation delay), false positives, false ids
    (a person the labels do not know) and merges; with IDF1 per clip."""

    def rule(hits: int, ms: float) -> Callable[[StreamSettings], StreamSettings]:
        tracker = replace(TrackerSettings(), confirm_hits=hits, confirm_ms=ms)
        return lambda s: replace(s, tracker=tracker)

    entries = [Entry(f"{hits} sightings over {ms:g} ms", "", rule(hits, ms)) for hits, ms in CONFIRM_RULES]
    report = evaluate(media, names, entries, cache=cache)
    clips = list(report["clips"])
    print(f"{report['machine']}, {report['date']}; the checkout's tracker, confirmation rule varied")
    print()
    print(
        "| rule | missed faces | false positives | false ids | merges | "
        + " | ".join(f"IDF1 {c}" for c in clips)
        + " |"
    )
    print("|---" * (5 + len(clips)) + "|")
    for entry in entries:
        results = [report["clips"][c]["results"][entry.name] for c in clips]
        sums = [sum(int(r[k]) for r in results) for k in ("misses", "false_positives", "false_ids", "merges")]
        idf1 = " | ".join(f"{r['idf1']:.3f}" for r in results)
        print(f"| {entry.name} | " + " | ".join(map(str, sums)) + f" | {idf1} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
