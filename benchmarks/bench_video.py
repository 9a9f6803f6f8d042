"""Real-time throughput on 640x480 streams, against fer's own video pipeline in the same run.

    python benchmarks/bench_video.py [--frames 300] [--fer-frames 150]

Builds two 640x480 test clips from the test photos (one face drifting across the frame; five
faces), then measures, as whole-pipeline frames per second:

- decode + detect + classify + track (+ smoothing), for the default video settings and for the
  camera settings (faces >= 40 px, scanned at 320 px), with detection every 3 frames, and with
  the fast settings (detection every 10 frames, each face classified every 100 ms of video);
  files are decoded ahead on a background thread, as ``moodlens video`` does;
- the same with drawing and MP4 encoding;
- live mode: frames arriving at 30 FPS through the latest-frame reader, latency from capture to
  result (p50/p95) and frames dropped;
- fer 25.10.3's ``Video.analyze`` on the one-face clip (Haar + mini-XCEPTION), as the baseline:
  bare (all outputs off) against our bare pipeline, and with its default outputs against ours
  with drawing and MP4 encoding.
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
from moodlens.detection import DetectorSettings
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


def analyzer(min_face: int, max_side: int) -> Analyzer:
    from moodlens.detection.libfacedetection import LibFaceDetector

    detector = LibFaceDetector(DetectorSettings(min_face=min_face, max_side=max_side, threshold=0.87))
    return Analyzer(detector, default_classifier(threads=1))


def throughput(
    clip: Path,
    analyzer: Analyzer,
    detect_every: int,
    draw: bool,
    out: Path,
    *,
    classify_every_ms: float = 0.0,
) -> tuple[float, float]:
    """As ``moodlens video`` runs a file: decoding ahead on a background thread."""
    stream = StreamAnalyzer(
        analyzer, StreamSettings(detect_every=detect_every, classify_every_ms=classify_every_ms)
    )
    with VideoSource(clip) as source, PrefetchReader(source) as frames:
        if draw:
            with VideoSink(out, fps=source.info.fps, size=SIZE) as sink:
                stats = run_stream(frames, stream, annotator=default_annotator(fps=True), video=sink)
        else:
            stats = run_stream(frames, stream)
    return stats.fps, stats.faces / max(1, stats.frames)


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


def label_agreement(clip: Path, analyzer: Analyzer) -> tuple[float, int]:
    """How often the fast settings show the same label as classifying every frame, on a real clip:
    faces matched by overlap (IoU >= 0.5) frame by frame; returns (agreement, matched faces)."""
    reference = shown_labels(clip, analyzer, 1, 0.0)
    fast = shown_labels(clip, analyzer, FAST_EVERY, FAST_CLASSIFY_MS)
    same = matched = 0
    for ref, got in zip(reference, fast, strict=True):
        for box, label in ref.items():
            best = max(got, key=box.iou, default=None)
            if best is not None and box.iou(best) >= 0.5:
                matched += 1
                same += int(got[best] == label)
    return same / max(1, matched), matched


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--fer-frames", type=int, default=150)
    args = parser.parse_args()
    require(MEDIA, "test media")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        one = make_clip(folder / "one.mp4", ["rose_leslie_neutral.jpg"], args.frames, 220)
        five = make_clip(
            folder / "five.mp4",
            ["obama.jpg", "rose_leslie_neutral.jpg", "surprise_man.jpg", "angry_frown.jpg", "astronaut.png"],
            args.frames,
            110,
        )
        fer_clip = make_clip(folder / "fer.mp4", ["rose_leslie_neutral.jpg"], args.fer_frames, 220)
        configs = {
            "video defaults (min face 20 px, scan 640)": (20, 640),
            "camera defaults (min face 40 px, scan 320)": (40, 320),
        }
        rows = []
        for label, (min_face, max_side) in configs.items():
            a = analyzer(min_face, max_side)
            for clip_name, clip in (("1 face", one), ("5 faces", five)):
                for every, classify_ms in ((1, 0.0), (3, 0.0), (FAST_EVERY, FAST_CLASSIFY_MS)):
                    fps, faces = throughput(
                        clip, a, every, False, folder / "o.mp4", classify_every_ms=classify_ms
                    )
                    drawn, _ = throughput(
                        clip, a, every, True, folder / "o.mp4", classify_every_ms=classify_ms
                    )
                    rows.append((label, clip_name, every, classify_ms, fps, drawn, faces))
        camera = analyzer(40, 320)
        live = live_latency(one, camera)
        agreement = label_agreement(MEDIA / "short_hamilton_clip.mp4", camera)
        fer = run_peer("video", str(fer_clip))

    print(f"# 640x480 clips of {args.frames} frames (mp4v); {machine()}; frames per second, whole pipeline")
    print(
        "| settings | clip | detect every | classify every | decode+detect+classify+track "
        "| + drawing + MP4 encoding | faces/frame |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, clip_name, every, classify_ms, fps, drawn, faces in rows:
        when = f"{classify_ms:.0f} ms" if classify_ms else "frame"
        print(f"| {label} | {clip_name} | {every} | {when} | {fps:.1f} | {drawn:.1f} | {faces:.2f} |")
    share, matched = agreement
    print(
        f"\nfast settings against classifying every frame, on short_hamilton_clip.mp4 (camera defaults): "
        f"the same shown label on {share:.1%} of {matched} matched faces"
    )
    p50, p95, frames, dropped, fps = live
    print(
        f"\nlive mode (camera defaults, frames arriving at 30 FPS): latency p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"{frames} processed, {dropped} dropped; {fps:.1f} FPS"
    )
    if fer:

        def fps_of(settings: str, every: int, drawn: bool = False) -> float:
            row = next(r for r in rows if r[0].startswith(settings) and r[1] == "1 face" and r[2] == every)
            return row[5] if drawn else row[4]

        bare, full = fer["fps_bare"], fer["fps_defaults"]
        print(
            f"fer Video.analyze on the same one-face clip ({fer['frames']} frames): {bare:.1f} FPS bare "
            f"(no outputs), {full:.1f} FPS with its defaults (annotated frames as JPEG, annotated video, zip)"
        )
        print(
            "ratio moodlens / fer bare: "
            f"camera defaults {fps_of('camera', 1) / bare:.1f}x (detect every 3: {fps_of('camera', 3) / bare:.1f}x), "
            f"video defaults {fps_of('video', 1) / bare:.1f}x; fast settings (camera defaults, detect every "
            f"{FAST_EVERY}, classify every {FAST_CLASSIFY_MS:.0f} ms) {fps_of('camera', FAST_EVERY) / bare:.1f}x"
        )
        print(
            "ratio moodlens + drawing + MP4 / fer with its default outputs: "
            f"camera defaults {fps_of('camera', 1, True) / full:.1f}x "
            f"(detect every 3: {fps_of('camera', 3, True) / full:.1f}x), "
            f"video defaults {fps_of('video', 1, True) / full:.1f}x, "
            f"fast settings {fps_of('camera', FAST_EVERY, True) / full:.1f}x"
        )


if __name__ == "__main__":
    main()
