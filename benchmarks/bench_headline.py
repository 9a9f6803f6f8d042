"""How steady is the live headline? Changes per minute, state durations and changes to "uncertain",
for the previous rule and the current one, on the same analysed frames.

    python benchmarks/bench_headline.py [--seconds 60] [--fps 15] [--sweep]

The real pipeline as ``moodlens serve`` runs it for the live page: the shipped models, the camera
settings (faces >= 40 px, frames scanned at <= 480 px), the default stream settings, each frame
JPEG-encoded at quality 80 as the page sends it, at the page's rate (15 FPS at most), over
``short_hamilton_clip.mp4`` (9.2 s, 640x360, three hard cuts) played in a loop for ``--seconds`` of
media time, as Chromium's fake camera plays it in the browser test. The frames are analysed once and
every headline rule reads the same results.

A *state* is what the headline says: nobody, or "#id: label" (``uncertain`` included). A change is
a *person* change when the followed person differs (or nobody is followed, on either side: a cut, a
face that left), else a *same-person* change (the label or uncertain changed). The targets: fewer
than 20 same-person changes a minute, and no state shorter than 0.5 s unless a person change ended
it. ``--sweep`` prints the same figures for a grid of dwell times and uncertain margins, with the
share of time the headline says what the instantaneous reading says (the cost of holding).

``--shares`` measures what the near-tie margin of ``moodlens.summary`` (``NEAR_TIE``) rests on: the
clip once, as ``moodlens video`` runs it, with detection every frame and every 2nd frame (the
default) and with the fast settings (every 10th, classifying every 100 ms); for each person, how far
apart the shares of time of one expression come out between these equally valid runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MEDIA, machine, require
from moodlens import Analyzer, create_detector, default_classifier
from moodlens.pipeline.headline import HeadlineSettings, HeadlineTracker
from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings
from moodlens.results import FrameResult

#: The previous rule: the reading as it comes (no dwell, one threshold).
PREVIOUS = HeadlineSettings(dwell_ms=0.0, uncertain_margin=0.0)


def looped_frames(clip: Path, seconds: float, fps: float) -> Iterator[tuple[float, np.ndarray]]:
    """(media time in ms, frame) at ``fps``, the clip played in a loop for ``seconds``."""
    capture = cv2.VideoCapture(str(clip))
    clip_fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    if not frames:
        sys.exit(f"no frame could be read from {clip}")
    step = 1000.0 / fps
    t = 0.0
    while t < seconds * 1000:
        index = int(t / 1000 * clip_fps) % len(frames)
        yield t, frames[index]
        t += step


def analyse(clip: Path, seconds: float, fps: float) -> tuple[list[FrameResult], float]:
    """The live pipeline's results, and its wall time."""
    analyzer = Analyzer(create_detector("yunet", min_face=40, max_side=480), default_classifier(threads=1))
    stream = StreamAnalyzer(analyzer)
    results = []
    started = time.perf_counter()
    for i, (t, frame) in enumerate(looped_frames(clip, seconds, fps)):
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])
        assert ok
        image = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
        results.append(stream.process(image, timestamp_ms=t, frame_index=i))
    return results, time.perf_counter() - started


@dataclass
class Figures:
    minutes: float
    changes: int
    person_changes: int
    same_person_changes: int
    to_uncertain: int
    median_state_s: float
    #: The median of the states that name someone (not the blank between two people).
    median_named_s: float
    shortest_same_person_s: float
    #: States shorter than 0.5 s that a same-person change ended.
    short_states: int
    agreement: float

    @property
    def per_minute(self) -> float:
        return self.changes / self.minutes

    @property
    def same_person_per_minute(self) -> float:
        return self.same_person_changes / self.minutes


def measure(results: list[FrameResult], settings: HeadlineSettings, end_ms: float) -> Figures:
    tracker, reading = HeadlineTracker(settings), HeadlineTracker(PREVIOUS)
    states: list[tuple[float, tuple[int, str] | None]] = []  # (start, state)
    agree = 0
    for result in results:
        headline = tracker.update(result)
        now = reading.update(result)
        state = None if headline is None else (headline.track_id, headline.label)
        agree += state == (None if now is None else (now.track_id, now.label))
        if not states or states[-1][1] != state:
            states.append((result.timestamp_ms or 0.0, state))
    person = same = to_uncertain = short = 0
    durations, named, same_durations = [], [], []
    for i, (start, state) in enumerate(states):
        end = states[i + 1][0] if i + 1 < len(states) else end_ms
        durations.append(end - start)
        if state is not None:
            named.append(end - start)
        if i + 1 == len(states):
            break
        following = states[i + 1][1]
        if state is None or following is None or state[0] != following[0]:
            person += 1
            continue
        same += 1
        same_durations.append(end - start)
        short += end - start < 500
        to_uncertain += following[1] == "uncertain"
    return Figures(
        minutes=end_ms / 60_000,
        changes=len(states) - 1,
        person_changes=person,
        same_person_changes=same,
        to_uncertain=to_uncertain,
        median_state_s=statistics.median(durations) / 1000,
        median_named_s=statistics.median(named) / 1000 if named else float("nan"),
        shortest_same_person_s=min(same_durations, default=float("nan")) / 1000,
        short_states=short,
        agreement=agree / max(1, len(results)),
    )


def row(name: str, f: Figures) -> str:
    return (
        f"| {name} | {f.per_minute:.0f} | {f.same_person_per_minute:.1f} | {f.person_changes / f.minutes:.0f} "
        f"| {f.to_uncertain / f.minutes:.1f} | {f.median_state_s:.2f} | {f.median_named_s:.2f} | {f.shortest_same_person_s:.2f} "
        f"| {f.short_states} | {f.agreement:.1%} |"
    )


HEADER = (
    "| rule | changes/min | same-person/min | person/min | to uncertain/min | median state s "
    "| median named state s | shortest same-person s | same-person states < 0.5 s | agrees with reading |\n"
    "|---|---|---|---|---|---|---|---|---|---|"
)


def shares(clip: Path) -> None:
    """The largest difference of one share of time, per person, between runs with other settings."""
    analyzer = Analyzer(create_detector("yunet", min_face=20, max_side=640), default_classifier(threads=1))
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    runs = {
        "every frame": StreamSettings(detect_every=1),
        "every 2nd (default)": StreamSettings(detect_every=2),
        "fast (every 10th, 100 ms)": StreamSettings(detect_every=10, classify_every_ms=100.0),
    }
    found = {}
    for name, settings in runs.items():
        stream = StreamAnalyzer(analyzer, settings)
        centres: dict[int, list[tuple[float, float]]] = {}
        for i, frame in enumerate(frames):
            result = stream.process(frame, timestamp_ms=i * 1000 / fps, frame_index=i)
            for face in result.faces:
                if face.track_id is not None:
                    box = face.box
                    centres.setdefault(face.track_id, []).append(
                        ((box.x1 + box.x2) / 2, (box.y1 + box.y2) / 2)
                    )
        found[name] = [
            (s, np.mean(centres[s.track_id], axis=0)) for s in stream.summaries() if s.duration_ms >= 1000
        ]
    reference = found["every frame"]
    print(f"\n{clip.name}, people on screen >= 1 s, shares of time against detection on every frame:")
    print("| person (first seen) | s | settings | largest share difference | top two: summary |")
    print("|---|---|---|---|---|")
    worst = 0.0
    for person, centre in reference:
        for name, people in found.items():
            # The same person: first seen within 500 ms, at the nearest mean position.
            near = [(s, c) for s, c in people if abs(s.first_ms - person.first_ms) <= 500]
            if not near:
                continue
            other, _ = min(near, key=lambda sc: float(np.hypot(*(sc[1] - centre))))
            gap = max(abs(person.shares[n] - other.shares[n]) for n in person.shares)
            worst = max(worst, gap)
            said = "" if name == "every frame" else f"{gap:.1%}"
            top = ", ".join(
                f"{n} {other.shares[n]:.0%}" for n in sorted(other.shares, key=lambda n: -other.shares[n])[:2]
            )
            print(
                f"| #{person.track_id} ({person.first_ms / 1000:.2f} s) | {person.duration_ms / 1000:.1f} | {name} | {said} | {top}: {other.dominant_text} |"
            )
    print(f"largest difference of one share between equally valid runs: {worst:.1%}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clip", type=Path, default=MEDIA / "short_hamilton_clip.mp4")
    parser.add_argument("--seconds", type=float, default=60.0, help="media time to play (default 60)")
    parser.add_argument("--fps", type=float, default=15.0, help="frames analysed per second (default 15)")
    parser.add_argument("--sweep", action="store_true", help="also a grid of dwell times and margins")
    parser.add_argument("--shares", action="store_true", help="also how far shares move between settings")
    args = parser.parse_args()
    require(args.clip, "the clip")
    if args.shares:
        shares(args.clip)
    results, wall = analyse(args.clip, args.seconds, args.fps)
    end_ms = args.seconds * 1000
    cuts = sum(r.cut for r in results)
    print(
        f"{args.clip.name} looped, {args.seconds:g} s at {args.fps:g} FPS: {len(results)} frames, "
        f"{cuts} cuts, analysed in {wall:.1f} s ({machine()})"
    )
    print(HEADER)
    print(row("previous (dwell 0, margin 0)", measure(results, PREVIOUS, end_ms)))
    default = HeadlineSettings()
    print(
        row(
            f"**current (dwell {default.dwell_ms:g} ms, margin {default.uncertain_margin:g})**",
            measure(results, default, end_ms),
        )
    )
    if args.sweep:
        print()
        print(HEADER)
        for dwell in (0.0, 250.0, 500.0, 750.0, 1000.0, 1500.0):
            for margin in (0.0, 0.03, 0.05, 0.1):
                settings = HeadlineSettings(dwell_ms=dwell, uncertain_margin=margin)
                print(row(f"dwell {dwell:g}, margin {margin:g}", measure(results, settings, end_ms)))


if __name__ == "__main__":
    main()
