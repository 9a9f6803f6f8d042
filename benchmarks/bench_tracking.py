"""Tracking benchmark: do people keep one identity? CLEAR-MOT and IDF1 (py-motmetrics) on clips with
known identities built from the real media photos (benchmarks/tracking_clips.py).

Every tracker sees the same detections (the default detector on every frame) and, where it takes
them, the same images; only confirmed tracks count as people (a tentative face is not a hypothesis).
Printed for each tracker: IDF1, MOTA, identity switches, fragmentations, tracks per true person, and
tracks that span a shot cut. Compared: moodlens 0.2's tracker (the default), the same without shot-cut
detection, moodlens 0.1's tracker (the baseline), and ByteTrack from the ``trackers`` library (Roboflow,
2.6.1) when it is importable.

    python benchmarks/bench_tracking.py [--media DIR] [--clips walk_1,cross_2]

Needs the [dev] extra (motmetrics, pandas). ``trackers`` declares opencv-python (which would install a
second cv2 beside moodlens's headless one), so it is not a dependency. To include it, install it and
supervision without their declared dependencies, then the ones they import that the [dev] extra does
not bring (checked in a fresh venv with the [dev] extra, 2026-12-06; matplotlib and av, also declared
by supervision, are not imported on this path)::

    pip install --no-deps trackers==2.6.1 supervision==0.31.2
    pip install rich "pydeprecate>=0.9,<0.14" requests pyyaml defusedxml
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moodlens.detection import create_detector
from moodlens.pipeline.cuts import ShotCutDetector
from moodlens.pipeline.tracking import FaceTracker, TrackerSettings
from moodlens.results import Box, Detection
from tracking_clips import Clip, Frame, clips, render

Hypotheses = list[list[tuple[int, tuple[float, float, float, float]]]]
Runner = Callable[[list[Frame], list[list[Detection]]], Hypotheses]


def _moodlens(settings: TrackerSettings, cuts: bool) -> Runner:
    def run(frames: list[Frame], detections: list[list[Detection]]) -> Hypotheses:
        tracker, detector = FaceTracker(settings), ShotCutDetector()
        out: Hypotheses = []
        for frame, found in zip(frames, detections, strict=True):
            cut = detector.update(frame.image, frame.timestamp_ms) if cuts else False
            ids = tracker.update([d.box for d in found], frame.timestamp_ms, image=frame.image, cut=cut)
            out.append([(i, d.box.to_list()) for i, d in zip(ids, found, strict=True) if i is not None])  # type: ignore[misc]
        return out

    return run


def _bytetrack() -> Runner | None:
    try:
        import supervision as sv
        from trackers import ByteTrackTracker
    except ImportError:
        return None

    def run(frames: list[Frame], detections: list[list[Detection]]) -> Hypotheses:
        tracker = ByteTrackTracker(frame_rate=30.0)
        out: Hypotheses = []
        for found in detections:
            xyxy = np.array([d.box.to_list() for d in found], dtype=float).reshape(-1, 4)
            dets = sv.Detections(
                xyxy=xyxy,
                confidence=np.array([d.score for d in found], dtype=float),
                class_id=np.zeros(len(found), dtype=int),
            )
            tracked = tracker.update(dets)
            ids = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
            out.append(
                [(int(i) + 1, tuple(b)) for i, b in zip(ids, tracked.xyxy.tolist(), strict=True) if i >= 0]
            )
        return out

    return run


def _iou_distances(truth: list[tuple[float, ...]], hyps: list[tuple[float, ...]]) -> np.ndarray:
    """1 - IoU, NaN below IoU 0.5 (no match): the usual MOT gate."""
    out = np.full((len(truth), len(hyps)), np.nan)
    for i, a in enumerate(truth):
        for j, b in enumerate(hyps):
            iou = Box(*a).iou(Box(*b))
            if iou >= 0.5:
                out[i, j] = 1.0 - iou
    return out


def score(clip_frames: list[Frame], hypotheses: Hypotheses) -> tuple[object, dict[str, float]]:
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for frame, hyps in zip(clip_frames, hypotheses, strict=True):
        accumulator.update(
            [i for i, _ in frame.truth],
            [i for i, _ in hyps],
            _iou_distances([b for _, b in frame.truth], [b for _, b in hyps]),
        )
    events = accumulator.mot_events
    matched = events[events.Type.isin(["MATCH", "SWITCH", "TRANSFER", "ASCEND", "MIGRATE"])]
    shot_of = {k: f.shot for k, f in enumerate(clip_frames)}
    frames_index = matched.index.get_level_values(0)
    per_person = matched.groupby("OId").HId.nunique()
    shots_per_track = (
        matched.assign(shot=[shot_of[int(k)] for k in frames_index]).groupby("HId").shot.nunique()
    )
    extra = {
        "people": float(len({i for f in clip_frames for i, _ in f.truth})),
        "tracks_per_person_sum": float(per_person.sum()),
        "tracks_over_cuts": float((shots_per_track > 1).sum()),
    }
    return accumulator, extra


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--media",
        default=os.environ.get(
            "MOODLENS_MEDIA", str(Path(__file__).resolve().parents[2] / "shared" / "media")
        ),
    )
    parser.add_argument("--clips", help="comma-separated clip names (default: all)")
    args = parser.parse_args()
    import motmetrics as mm

    media = Path(args.media)
    if not (media / "MANIFEST.csv").is_file():
        print(f"no media at {media}: pass --media or set MOODLENS_MEDIA", file=sys.stderr)
        return 2
    chosen = [c for c in clips() if not args.clips or c.name in args.clips.split(",")]
    detector = create_detector()
    runners: dict[str, Runner | None] = {
        "moodlens 0.2 (default)": _moodlens(TrackerSettings(), cuts=True),
        "moodlens 0.2 without cut detection": _moodlens(TrackerSettings(), cuts=False),
        "moodlens 0.1 (baseline)": _moodlens(TrackerSettings.legacy(), cuts=False),
        "ByteTrack (trackers 2.6.1)": _bytetrack(),
    }
    rendered: list[tuple[Clip, list[Frame], list[list[Detection]]]] = []
    started = time.perf_counter()
    for clip in chosen:
        frames = list(render(clip, media, detector))
        rendered.append((clip, frames, [detector.detect(f.image) for f in frames]))
    total_frames = sum(len(f) for _, f, _ in rendered)
    people = sum(c.people for c, _, _ in rendered)
    cuts = sum(len(c.shots) - 1 for c, _, _ in rendered)
    print(
        f"{len(rendered)} clips, {total_frames} frames at 640x480, {people} identities, {cuts} shot cuts "
        f"(rendered and detected in {time.perf_counter() - started:.0f} s)\n"
    )
    print(
        "| tracker | IDF1 | MOTA | ID switches | fragmentations | tracks per person | tracks over a cut | ms per frame |"
    )
    print("|---|---|---|---|---|---|---|---|")
    per_clip: dict[str, list[tuple[str, float, float]]] = {}
    for name, runner in runners.items():
        if runner is None:
            print(f"| {name} | not installed (see the module docstring) | | | | | | |")
            continue
        accumulators, names = [], []
        tracks, persons, over_cuts, seconds = 0.0, 0.0, 0.0, 0.0
        for clip, frames, detections in rendered:
            t0 = time.perf_counter()
            hyps = runner(frames, detections)
            seconds += time.perf_counter() - t0
            accumulator, extra = score(frames, hyps)
            accumulators.append(accumulator)
            names.append(clip.name)
            tracks += extra["tracks_per_person_sum"]
            persons += extra["people"]
            over_cuts += extra["tracks_over_cuts"]
        metrics = mm.metrics.create()
        summary = metrics.compute_many(
            accumulators,
            metrics=["idf1", "mota", "num_switches", "num_fragmentations"],
            names=names,
            generate_overall=True,
        )
        overall = summary.loc["OVERALL"]
        for clip_name in names:
            per_clip.setdefault(clip_name, []).append(
                (name, summary.loc[clip_name, "idf1"], summary.loc[clip_name, "num_switches"])
            )
        print(
            f"| {name} | {overall.idf1:.3f} | {overall.mota:.3f} | {int(overall.num_switches)} | "
            f"{int(overall.num_fragmentations)} | {tracks / max(persons, 1):.2f} | {int(over_cuts)} | "
            f"{1000 * seconds / total_frames:.2f} |"
        )
    print("\nIDF1 (ID switches) per clip:\n")
    trackers = [n for n, r in runners.items() if r is not None]
    print("| clip | " + " | ".join(trackers) + " |")
    print("|---|" + "---|" * len(trackers))
    for clip_name, rows in per_clip.items():
        print(f"| {clip_name} | " + " | ".join(f"{idf1:.3f} ({int(sw)})" for _, idf1, sw in rows) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
