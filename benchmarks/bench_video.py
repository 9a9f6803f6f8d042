"""Real-time throughput on 640x480 streams, against fer's own video pipeline in the same run.

    python benchmarks/bench_video.py [--frames 300] [--fer-frames 150]

Builds two 640x480 test clips from the test photos (one face drifting across the frame; five
faces), then measures, as whole-pipeline frames per second:

- decode + detect + classify + track (+ smoothing), for the default video settings and for the
  camera settings (faces >= 40 px, scanned at 320 px), and with detection every 3 frames;
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
from moodlens.pipeline.sources import LatestFrameReader, VideoFrame, VideoSource
from moodlens.pipeline.stream import StreamAnalyzer, StreamSettings
from moodlens.render import default_annotator

SIZE = (640, 480)


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
    clip: Path, analyzer: Analyzer, detect_every: int, draw: bool, out: Path
) -> tuple[float, float]:
    stream = StreamAnalyzer(analyzer, StreamSettings(detect_every=detect_every))
    with VideoSource(clip) as source:
        if draw:
            with VideoSink(out, fps=source.info.fps, size=SIZE) as sink:
                stats = run_stream(source, stream, annotator=default_annotator(fps=True), video=sink)
        else:
            stats = run_stream(source, stream)
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
                for every in (1, 3):
                    fps, faces = throughput(clip, a, every, False, folder / "o.mp4")
                    drawn, _ = throughput(clip, a, every, True, folder / "o.mp4")
                    rows.append((label, clip_name, every, fps, drawn, faces))
        camera = analyzer(40, 320)
        live = live_latency(one, camera)
        fer = run_peer("video", str(fer_clip))

    print(f"# 640x480 clips of {args.frames} frames (mp4v); {machine()}; frames per second, whole pipeline")
    print(
        "| settings | clip | detect every | decode+detect+classify+track | + drawing + MP4 encoding | faces/frame |"
    )
    print("|---|---|---|---|---|---|")
    for label, clip_name, every, fps, drawn, faces in rows:
        print(f"| {label} | {clip_name} | {every} | {fps:.1f} | {drawn:.1f} | {faces:.2f} |")
    p50, p95, frames, dropped, fps = live
    print(
        f"\nlive mode (camera defaults, frames arriving at 30 FPS): latency p50 {p50:.1f} ms, p95 {p95:.1f} ms; "
        f"{frames} processed, {dropped} dropped; {fps:.1f} FPS"
    )
    if fer:

        def fps_of(settings: str, every: int, drawn: bool = False) -> float:
            row = next(r for r in rows if r[0].startswith(settings) and r[1] == "1 face" and r[2] == every)
            return row[4] if drawn else row[3]

        bare, full = fer["fps_bare"], fer["fps_defaults"]
        print(
            f"fer Video.analyze on the same one-face clip ({fer['frames']} frames): {bare:.1f} FPS bare "
            f"(no outputs), {full:.1f} FPS with its defaults (annotated frames as JPEG, annotated video, zip)"
        )
        print(
            "ratio moodlens / fer bare: "
            f"camera defaults {fps_of('camera', 1) / bare:.1f}x (detect every 3: {fps_of('camera', 3) / bare:.1f}x), "
            f"video defaults {fps_of('video', 1) / bare:.1f}x"
        )
        print(
            "ratio moodlens + drawing + MP4 / fer with its default outputs: "
            f"camera defaults {fps_of('camera', 1, True) / full:.1f}x "
            f"(detect every 3: {fps_of('camera', 3, True) / full:.1f}x), "
            f"video defaults {fps_of('video', 1, True) / full:.1f}x"
        )


if __name__ == "__main__":
    main()
