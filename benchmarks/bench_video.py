"""Video throughput on the real clips and on synthetic ones, against fer's own video pipeline in the same run.

    python benchmarks/bench_video.py [--frames 300] [--quick] [--pairs 5]

Real clips (``short_hamilton_clip.mp4``, 640x360, and ``pedestrians_1080p.mp4``, 1920x1080, from the
media folder), run as ``moodlens video`` runs a file (decoding ahead on a background thread, detection
of the next frame overlapping the rest), as whole-pipeline frames per second:

- moodlens 0.2 defaults (YuNet ONNX, faces >= 20 px scanned at <= 640 px, every frame detected and
  classified, detection overlapped with the rest), and the camera settings (faces >= 40 px, 320 px);
- moodlens 0.1's per-frame default (the compiled YuNet wheel, one stage after the other): the speed
  baseline, and the reference for *faces found per frame* (the new defaults must find >= 98% of them);
- fer 25.10.3's ``Video.analyze`` on the same clip, bare (no outputs): the ratio to it;
- each with drawing and MP4 encoding too.

Paired runs (``--pairs``): our defaults and fer's bare pipeline in turn on the singer clip, the ratio
taken pair by pair and its median printed: on a noisy machine that is the ratio to quote.

Scaling: ms per frame (sequential, detect + classify + track) against the number of faces (0, 1, 5,
10, 20 at 640x480) and against the frame size (320 to 1920 wide, one face). Live mode: frames arriving
at 30 FPS, latency p50/p95 and drops. The fast settings' label agreement on the real clip.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from common import MEDIA, machine, require, run_peer
from moodlens import Analyzer, create_detector, default_classifier
from moodlens.images import read_image
from moodlens.pipeline.runner import run_stream
from moodlens.pipeline.sinks import VideoSink
from moodlens.pipeline.sources import LatestFrameReader, PrefetchReader, VideoFrame, VideoSource
from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings
from moodlens.render import default_annotator

SIZE = (640, 480)
#: The fast settings: detection 3 times a second, each face classified 10 times a second.
FAST_EVERY = 10
FAST_CLASSIFY_MS = 100.0


def _face_patch(name: str, height: int) -> np.ndarray:
    image = read_image(MEDIA / name)
    box = create_detector().detect(image)[0].box
    pad = 0.35 * box.height
    y1, y2 = int(max(0, box.y1 - pad)), int(min(image.shape[0], box.y2 + pad))
    x1, x2 = int(max(0, box.x1 - pad)), int(min(image.shape[1], box.x2 + pad))
    crop = image[y1:y2, x1:x2]
    return cv2.resize(crop, (round(height * crop.shape[1] / crop.shape[0]), height))


def make_clip(path: Path, faces: list[str], frames: int, height: int) -> Path:
    patches = [_face_patch(name, height) for name in faces]
    background = cv2.GaussianBlur(
        np.random.default_rng(0).integers(40, 120, (SIZE[1], SIZE[0], 3), dtype=np.uint8), (31, 31), 0
    )
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 30, SIZE)
    n = len(patches)
    for i in range(frames):
        frame = background.copy()
        for k, patch in enumerate(patches):
            ph, pw = patch.shape[:2]
            cx = (k + 0.5) * SIZE[0] / n + 25 * np.sin(i / 20 + k)
            cy = SIZE[1] / 2 + 20 * np.cos(i / 25 + k)
            x, y = int(np.clip(cx - pw / 2, 0, SIZE[0] - pw)), int(np.clip(cy - ph / 2, 0, SIZE[1] - ph))
            frame[y : y + ph, x : x + pw] = patch
        writer.write(frame)
    writer.release()
    return path


def analyzer(min_face: int, max_side: int, detector: str = "yunet") -> Analyzer:
    return Analyzer(
        create_detector(detector, min_face=min_face, max_side=max_side), default_classifier(threads=1)
    )


def throughput(
    clip: Path,
    analyzer: Analyzer,
    detect_every: int,
    draw: bool,
    out: Path,
    *,
    classify_every_ms: float = 0.0,
    parallel: bool = True,
) -> tuple[float, float, int]:
    """As ``moodlens video`` runs a file; returns (frames per second, faces per frame, frames)."""
    stream = StreamAnalyzer(
        analyzer, StreamSettings(detect_every=detect_every, classify_every_ms=classify_every_ms)
    )
    with VideoSource(clip) as source, PrefetchReader(source) as frames:
        size = (source.info.width, source.info.height)
        if draw:
            with VideoSink(out, fps=source.info.fps, size=size) as sink:
                stats = run_stream(
                    frames, stream, annotator=default_annotator(fps=True), video=sink, parallel=parallel
                )
        else:
            stats = run_stream(frames, stream, parallel=parallel)
    return stats.fps, stats.faces / max(1, stats.frames), stats.frames


def scaling(
    faces_list: list[int], widths: list[int], repeat: int
) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    """Median ms per frame (sequential detect + classify + track, the default scan, detecting every
    frame: the cost of a frame where the detector runs)."""
    patch = _face_patch("rose_leslie_neutral.jpg", 70)
    rng = np.random.default_rng(0)

    def frame_with(n: int, size: tuple[int, int], height: int = 70) -> np.ndarray:
        w, h = size
        frame = cv2.GaussianBlur(rng.integers(40, 120, (h, w, 3), dtype=np.uint8), (31, 31), 0)
        face = patch if height == 70 else cv2.resize(patch, (round(patch.shape[1] * height / 70), height))
        cols = max(1, min(n, w // (face.shape[1] + 10)))
        for k in range(n):
            r, c = divmod(k, cols)
            y, x = 10 + r * (face.shape[0] + 10), 10 + c * (face.shape[1] + 10)
            if y + face.shape[0] <= h and x + face.shape[1] <= w:
                frame[y : y + face.shape[0], x : x + face.shape[1]] = face
        return frame

    def ms_per_frame(frame: np.ndarray) -> float:
        stream = StreamAnalyzer(analyzer(20, 640), StreamSettings(detect_every=1))
        times = []
        for i in range(repeat + 3):
            t0 = time.perf_counter()
            stream.process(frame, timestamp_ms=i * 33.3, frame_index=i)
            if i >= 3:
                times.append((time.perf_counter() - t0) * 1000)
        return statistics.median(times)

    by_faces = [(n, ms_per_frame(frame_with(n, (640, 480)))) for n in faces_list]
    by_width = [(w, ms_per_frame(frame_with(1, (w, w * 9 // 16), height=max(70, w // 10)))) for w in widths]
    return by_faces, by_width


def paced(source: VideoSource, fps: float) -> Iterator[VideoFrame]:
    """A file played as a camera: frames become available at ``fps`` in real time."""
    period = 1.0 / fps
    start = time.monotonic()
    for k, frame in enumerate(source):
        delay = start + k * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield VideoFrame(frame.image, frame.index, (time.monotonic() - start) * 1000)


class _PacedSource:
    def __init__(self, clip: Path, fps: float) -> None:
        self.source = VideoSource(clip)
        self.fps = fps
        self.corrupt_frames = 0

    def __iter__(self) -> Iterator[VideoFrame]:
        return paced(self.source, self.fps)


def live_latency(clip: Path, analyzer: Analyzer) -> tuple[float, float, int, int, float]:
    stream = StreamAnalyzer(analyzer)
    source = _PacedSource(clip, 30.0)
    reader = LatestFrameReader(source)  # type: ignore[arg-type]
    stats = run_stream(reader, stream)
    reader.close()
    lat = sorted(stats.latency_ms)
    return statistics.median(lat), float(np.percentile(lat, 95)), stats.frames, reader.dropped, stats.fps


def shown_labels(clip: Path, analyzer: Analyzer, detect_every: int, classify_every_ms: float) -> list[dict]:
    """Per frame, the shown (smoothed, hysteresis) label of each face, keyed by its box."""
    settings = StreamSettings(detect_every=detect_every, classify_every_ms=classify_every_ms)
    stream = StreamAnalyzer(analyzer, settings)
    out = []
    with VideoSource(clip) as source:
        for frame in source:
            result = stream.process(frame.image, timestamp_ms=frame.timestamp_ms, frame_index=frame.index)
            out.append({face.box: face.shown_expression for face in result.faces})
    return out


def label_agreement(
    clip: Path, analyzer: Analyzer, every: int = FAST_EVERY, classify_ms: float = FAST_CLASSIFY_MS
) -> tuple[float, int]:
    """How often other settings show the same label as detecting and classifying every frame, on a
    real clip: faces matched by overlap (IoU >= 0.5) frame by frame; returns (agreement, matched)."""
    reference = shown_labels(clip, analyzer, 1, 0.0)
    fast = shown_labels(clip, analyzer, every, classify_ms)
    same = matched = 0
    for ref, got in zip(reference, fast, strict=True):
        for box, label in ref.items():
            best = max(got, key=box.iou, default=None)
            if best is not None and box.iou(best) >= 0.5:
                matched += 1
                same += int(got[best] == label)
    return same / max(1, matched), matched


def paired_ratios(clip: Path, analyzer: Analyzer, detect_every: int, pairs: int, folder: Path) -> None:
    """Ours then fer's, in turn, ``pairs`` times: the ratio taken pair by pair holds when the machine's
    speed drifts, and its median is the figure to quote on a noisy machine."""
    ratios = []
    print(f"\npaired runs on {clip.name} (our defaults, then fer's bare Video.analyze, in turn):")
    print("| pair | moodlens FPS | fer FPS | ratio |")
    print("|---|---|---|---|")
    for i in range(pairs):
        ours, _, _ = throughput(clip, analyzer, detect_every, False, folder / "o.mp4")
        fer = run_peer("video", str(clip), "--repeat", "1", "--bare-only")
        if not fer:
            return
        ratios.append(ours / fer["fps_bare"])
        print(f"| {i + 1} | {ours:.1f} | {fer['fps_bare']:.1f} | {ratios[-1]:.2f}x |")
    print(
        f"ratio to fer over {pairs} pairs: median {statistics.median(ratios):.2f}x "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300, help="frames of each synthetic clip")
    parser.add_argument("--quick", action="store_true", help="real clips only, no scaling tables")
    parser.add_argument(
        "--pairs",
        type=int,
        default=5,
        help="then alternate our defaults and fer's bare pipeline on the singer clip this many times "
        "and print the ratio pair by pair (0: skip)",
    )
    args = parser.parse_args()
    require(MEDIA, "test media")
    real = {
        "short_hamilton_clip.mp4": MEDIA / "short_hamilton_clip.mp4",
        "pedestrians_1080p.mp4": MEDIA / "pedestrians_1080p.mp4",
    }
    default_every = StreamSettings().detect_every
    settings = {
        f"moodlens 0.2 defaults (detect every {default_every})": (analyzer(20, 640), True, default_every),
        "moodlens 0.2 detecting every frame": (analyzer(20, 640), True, 1),
        "moodlens 0.2 camera settings (40 px, 320)": (analyzer(40, 320), True, default_every),
        "moodlens 0.1 per-frame default (YuNet wheel, sequential)": (
            analyzer(20, 640, "yunet-wheel"),
            False,
            1,
        ),
    }
    print(f"# {machine()}; whole pipeline, frames per second (decode ahead on a thread, as moodlens video)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows = []
        for clip_name, clip in real.items():
            fps_of_clip = VideoSource(clip).info.fps
            for label, (a, parallel, every) in settings.items():
                fps, faces, frames = throughput(clip, a, every, False, folder / "o.mp4", parallel=parallel)
                drawn, _, _ = throughput(clip, a, every, True, folder / "o.mp4", parallel=parallel)
                rows.append((clip_name, label, fps, drawn, faces, frames, fps_of_clip))
            fer = run_peer("video", str(clip), "--repeat", "1") if clip_name.startswith("short") else None
            if fer:
                rows.append(
                    (
                        clip_name,
                        "fer 25.10.3 Video.analyze",
                        fer["fps_bare"],
                        fer["fps_defaults"],
                        None,
                        fer["frames"],
                        fps_of_clip,
                    )
                )
        print(
            "\n| clip | pipeline | FPS | FPS + drawing + MP4 | x real time | faces per frame | vs 0.1's faces |"
        )
        print("|---|---|---|---|---|---|---|")
        for clip_name, label, fps, drawn, faces, _frames, clip_fps in rows:
            reference = next(r[4] for r in rows if r[0] == clip_name and r[1].startswith("moodlens 0.1"))
            share = "-" if faces is None or not reference else f"{faces / reference:.1%}"
            per_frame = "-" if faces is None else f"{faces:.2f}"
            print(
                f"| {clip_name} | {label} | {fps:.1f} | {drawn:.1f} | {fps / clip_fps:.1f}x | {per_frame} | {share} |"
            )
        fer_row = next((r for r in rows if r[1].startswith("fer")), None)
        if fer_row:
            ours = next(r for r in rows if r[0] == fer_row[0] and r[1].startswith("moodlens 0.2 defaults"))
            camera = next(r for r in rows if r[0] == fer_row[0] and r[1].startswith("moodlens 0.2 camera"))
            old = next(r for r in rows if r[0] == fer_row[0] and r[1].startswith("moodlens 0.1"))
            print(
                f"\nratio to fer's bare pipeline on {fer_row[0]} (same run): moodlens 0.2 defaults "
                f"{ours[2] / fer_row[2]:.1f}x, camera settings {camera[2] / fer_row[2]:.1f}x, "
                f"moodlens 0.1 {old[2] / fer_row[2]:.1f}x; with outputs (drawing + MP4 / fer's defaults): "
                f"{ours[3] / fer_row[3]:.1f}x"
            )
        if fer_row and args.pairs > 0:
            paired_ratios(
                real["short_hamilton_clip.mp4"], analyzer(20, 640), default_every, args.pairs, folder
            )
        for clip_name, clip in real.items():
            reference_faces = sum(len(frame) for frame in shown_labels(clip, analyzer(20, 640), 1, 0.0))
            share, matched = label_agreement(clip, analyzer(20, 640), default_every, 0.0)
            print(
                f"defaults (detect every {default_every}) against every frame, on {clip_name}: the same shown "
                f"label on {share:.1%} of {matched} matched faces ({matched / max(1, reference_faces):.1%} "
                "of the faces matched at IoU >= 0.5)"
            )
        if args.quick:
            return
        by_faces, by_width = scaling([0, 1, 5, 10, 20], [320, 640, 960, 1280, 1920], repeat=15)
        print(
            "\nms per frame, default scan, detecting every frame, sequential (detect + classify + track + smooth):"
        )
        print("| faces (640x480) | " + " | ".join(str(n) for n, _ in by_faces) + " |")
        print("|---|" + "---|" * len(by_faces))
        print("| ms per frame | " + " | ".join(f"{ms:.1f}" for _, ms in by_faces) + " |")
        print("\n| frame width (16:9, one face) | " + " | ".join(str(w) for w, _ in by_width) + " |")
        print("|---|" + "---|" * len(by_width))
        print("| ms per frame | " + " | ".join(f"{ms:.1f}" for _, ms in by_width) + " |")

        one = make_clip(folder / "one.mp4", ["rose_leslie_neutral.jpg"], args.frames, 220)
        five = make_clip(
            folder / "five.mp4",
            ["obama.jpg", "rose_leslie_neutral.jpg", "surprise_man.jpg", "angry_frown.jpg", "astronaut.png"],
            args.frames,
            110,
        )
        print(f"\nsynthetic 640x480 clips of {args.frames} frames (mp4v):")
        print("| settings | clip | detect every | classify every | FPS | + drawing + MP4 | faces/frame |")
        print("|---|---|---|---|---|---|---|")
        for label, (min_face, max_side) in {"defaults": (20, 640), "camera settings": (40, 320)}.items():
            a = analyzer(min_face, max_side)
            for clip_name, clip in (("1 face", one), ("5 faces", five)):
                for every, classify_ms in ((1, 0.0), (default_every, 0.0), (FAST_EVERY, FAST_CLASSIFY_MS)):
                    fps, faces, _ = throughput(
                        clip, a, every, False, folder / "o.mp4", classify_every_ms=classify_ms
                    )
                    drawn, _, _ = throughput(
                        clip, a, every, True, folder / "o.mp4", classify_every_ms=classify_ms
                    )
                    when = f"{classify_ms:.0f} ms" if classify_ms else "frame"
                    print(
                        f"| {label} | {clip_name} | {every} | {when} | {fps:.1f} | {drawn:.1f} | {faces:.2f} |"
                    )
        camera = analyzer(40, 320)
        p50, p95, frames, dropped, fps = live_latency(one, camera)
        print(
            f"\nlive mode (camera settings, frames arriving at 30 FPS): latency p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
            f"{frames} processed, {dropped} dropped; {fps:.1f} FPS"
        )
        share, matched = label_agreement(MEDIA / "short_hamilton_clip.mp4", camera)
        print(
            f"fast settings (detect every {FAST_EVERY}, classify every {FAST_CLASSIFY_MS:.0f} ms) against every frame, "
            f"on short_hamilton_clip.mp4: the same shown label on {share:.1%} of {matched} matched faces"
        )


if __name__ == "__main__":
    main()
