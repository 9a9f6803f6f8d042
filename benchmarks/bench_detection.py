"""Detectors on the real media: faces found, false faces, landmark agreement and ms per frame by scan size.

    python benchmarks/bench_detection.py [--repeat 7]

Compares the default ``yunet`` (YuNet-s ONNX on ONNX Runtime) with ``yunet-wheel`` (the compiled
libfacedetection, moodlens 0.1's default) at the same threshold and scan rule: per photo of the media
manifest, the faces each finds against the count a person made; on the no-face photos, any face is a
false one; on ``pedestrians_1080p.mp4``, faces over all frames; landmark offsets between the two as a
fraction of the face size; and the median/minimum ms per frame at 320 to 1920 pixels wide (one thread).
"""

from __future__ import annotations

import argparse
import statistics
import time

import cv2
import numpy as np

from common import MEDIA, machine, manifest_photos
from moodlens import create_detector
from moodlens.detection.base import DetectorSettings
from moodlens.images import read_image
from moodlens.pipeline.sources import VideoSource

NAMES = ("yunet", "yunet-wheel")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    detectors = {name: create_detector(name) for name in NAMES}
    rows = manifest_photos()
    print(f"# {machine()}; threshold 0.87, min face 20 px, scan <= 640 px (the defaults)\n")
    print("| photo | faces (person) | " + " | ".join(NAMES) + " |")
    print("|---|---|" + "---|" * len(NAMES))
    totals = dict.fromkeys(NAMES, 0)
    false = dict.fromkeys(NAMES, 0)
    offsets: list[float] = []
    for row in rows:
        image = read_image(MEDIA / row["file"])
        found = {name: d.detect(image) for name, d in detectors.items()}
        for name in NAMES:
            if int(row["faces"]) == 0:
                false[name] += len(found[name])
            else:
                totals[name] += min(len(found[name]), int(row["faces"]))
        for face in found["yunet-wheel"]:
            match = max(found["yunet"], key=lambda other: face.box.iou(other.box), default=None)
            if match is not None and face.box.iou(match.box) >= 0.5 and face.landmarks is not None:
                size = max(face.box.width, face.box.height)
                offsets.append(float(np.abs(np.asarray(match.landmarks) - face.landmarks).mean() / size))
        print(f"| {row['file']} | {row['faces']} | " + " | ".join(str(len(found[n])) for n in NAMES) + " |")
    listed = sum(int(r["faces"]) for r in rows)
    print(f"\nlisted faces found (of {listed}): " + ", ".join(f"{n} {totals[n]}" for n in NAMES))
    print("faces on the no-face photos: " + ", ".join(f"{n} {false[n]}" for n in NAMES))
    print(f"landmarks, ONNX vs wheel: mean offset {100 * statistics.mean(offsets):.1f}% of the face size")

    with VideoSource(MEDIA / "pedestrians_1080p.mp4") as source:
        frames = [f.image for f in source]
    counts = {n: sum(len(d.detect(f)) for f in frames) for n, d in detectors.items()}
    print(
        f"pedestrians_1080p.mp4, {len(frames)} frames: "
        + ", ".join(f"{n} {c} faces" for n, c in counts.items())
    )

    print("\nms per frame at each scan size (the whole frame scanned; median and minimum of the repeats):\n")
    widths = (320, 640, 960, 1280, 1920)
    print("| detector | " + " | ".join(f"{w} px" for w in widths) + " |")
    print("|---|" + "---|" * len(widths))
    for name in NAMES:
        detector = create_detector(name, max_side=4000)
        detector.settings = DetectorSettings(min_face=20, threshold=0.87, max_side=4000)  # type: ignore[attr-defined]
        cells = []
        for width in widths:
            image = cv2.resize(frames[0], (width, width * 9 // 16))
            detector.detect(image)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                detector.detect(image)
                times.append((time.perf_counter() - t0) * 1000)
            cells.append(f"{statistics.median(times):.1f} ({min(times):.1f})")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
