"""Writes the fixtures of the engine's Node tests (tests/js/fixtures/*.json) from the Python side:
what OpenCV and moodlens's own Python functions give on small deterministic inputs. The JavaScript
pieces must give the same. Run it again after changing the Python side:

    .venv/bin/python tests/js/make_fixtures.py

Images travel as zlib-compressed base64: inputs as RGBA (what a page's ImageData holds), OpenCV's
outputs as BGR.
"""

from __future__ import annotations

import base64
import json
import zlib
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from moodlens.classification.metadata import CropSpec, ModelMetadata
from moodlens.classification.onnx import OnnxClassifier
from moodlens.classification.preprocess import crop_faces, face_transform, similarity
from moodlens.detection import yunet
from moodlens.labels import LABELS, Expression
from moodlens.pipeline.cuts import content_change, thumbnail_hsv
from moodlens.pipeline.headline import HeadlineTracker
from moodlens.pipeline.smoothing import ExpressionSmoother
from moodlens.pipeline.tracking import FaceTracker, appearance_distance, looks_of
from moodlens.results import Box, Detection, Face, FrameResult

OUT = Path(__file__).parent / "fixtures"


def b64(array: np.ndarray) -> str:
    return base64.b64encode(zlib.compress(np.ascontiguousarray(array).tobytes(), 9)).decode()


def rgba(bgr: np.ndarray) -> dict[str, Any]:
    h, w = bgr.shape[:2]
    return {"width": w, "height": h, "rgba": b64(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGBA))}


def smooth_image(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.asarray(cv2.GaussianBlur(image, (5, 5), 1.5), dtype=np.uint8)


def scene(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Coloured blocks on a tiled ground: looks with distinct hues and saturations."""
    y, x = np.mgrid[0:h, 0:w]
    image = np.stack([(x // 20) * 13 % 256, (y // 20) * 17 % 256, np.full_like(x, 90)], axis=2).astype(
        np.uint8
    )
    for _ in range(12):
        x, y = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        cv2.rectangle(image, (x, y), (x + int(rng.integers(8, 60)), y + int(rng.integers(8, 60))), colour, -1)
    return image


def resize_fixture(rng: np.random.Generator) -> dict[str, Any]:
    image = smooth_image(rng, 54, 97)
    cases = []
    for dw, dh, mode in [
        (40, 23, "area"),  # non-integer shrink
        (48, 27, "area"),  # non-integer, close to 2x
        (32, 18, "area"),  # 3x in x, 3x in y
        (24, 24, "area"),  # shrink in x, grow in y
        (130, 70, "area"),  # grow (bilinear with area coefficients)
        (61, 33, "linear"),
        (200, 111, "linear"),
    ]:
        interp = cv2.INTER_AREA if mode == "area" else cv2.INTER_LINEAR
        out = cv2.resize(image, (dw, dh), interpolation=interp)
        cases.append({"width": dw, "height": dh, "mode": mode, "bgr": b64(out)})
    even = smooth_image(rng, 60, 96)  # the integer fast path: 2x2 cells
    cases_even = [
        {
            "width": 48,
            "height": 30,
            "mode": "area",
            "bgr": b64(cv2.resize(even, (48, 30), interpolation=cv2.INTER_AREA)),
        }
    ]
    factor = 0.37  # cv2.resize(..., fx=f, fy=f): the factor kept, the size rounded
    by_factor = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    return {
        "image": rgba(image),
        "cases": cases,
        "even": {"image": rgba(even), "cases": cases_even},
        "factor": {
            "factor": factor,
            "width": by_factor.shape[1],
            "height": by_factor.shape[0],
            "bgr": b64(by_factor),
        },
    }


def align_fixture(rng: np.random.Generator) -> dict[str, Any]:
    image = smooth_image(rng, 200, 260)
    spec = CropSpec()
    faces = []
    for side, angle in [(40.0, 0.0), (60.0, 0.3), (110.0, -0.2), (200.0, 0.1), (25.0, 0.5)]:
        cx, cy = float(rng.uniform(60, 200)), float(rng.uniform(50, 150))
        template = np.array([[0.314, 0.378], [0.674, 0.378], [0.494, 0.589], [0.348, 0.734], [0.640, 0.734]])
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        points = (template - 0.5) * side @ rot.T + [cx, cy] + rng.normal(0, side * 0.02, (5, 2))
        box = Box(cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2)
        faces.append(Detection(box, 0.9, points.astype(np.float32)))
    faces.append(Detection(Box(30.5, 40.25, 101.0, 120.75), 0.9, None))  # no landmarks: the box rule
    crops = crop_faces(image, faces, (48, 48), colour="gray", spec=spec)
    zoomed = CropSpec(scale=1.25, shift_y=0.1)
    return {
        "image": rgba(image),
        "faces": [
            {
                "box": [f.box.x1, f.box.y1, f.box.x2, f.box.y2],
                "landmarks": None if f.landmarks is None else f.landmarks.astype(float).tolist(),
                "matrix": face_transform(f, spec, (48, 48)).tolist(),
                "matrix_zoomed": face_transform(f, zoomed, (48, 48)).tolist(),
                "crop": b64(crops[i]),
            }
            for i, f in enumerate(faces)
        ],
        "similarity": {
            "src": (src := rng.uniform(0, 100, (5, 2))).tolist(),
            "dst": (dst := rng.uniform(0, 100, (5, 2))).tolist(),
            "matrix": similarity(src, dst).tolist(),
        },
        "warp": {
            "matrix": (m := [[0.7, -0.2, -20.0], [0.25, 0.65, -15.0]]),
            "bgr": b64(
                cv2.warpAffine(
                    image, np.array(m), (48, 48), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
                )
            ),
        },
    }


def detect_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """Synthetic YuNet outputs for a 96 x 128 (h x w) input: clusters of strong cells, so that NMS
    has overlapping candidates to remove, and weak cells below the threshold."""
    height, width = 96, 128
    outputs: dict[str, np.ndarray] = {}
    for stride in yunet.STRIDES:
        cells = (height // stride) * (width // stride)
        cls = rng.uniform(0, 0.3, (1, cells, 1)).astype(np.float32)
        obj = rng.uniform(0, 0.3, (1, cells, 1)).astype(np.float32)
        strong = rng.choice(cells, size=min(cells, 6), replace=False)
        cls[0, strong, 0] = rng.uniform(0.6, 1.05, len(strong))
        obj[0, strong, 0] = rng.uniform(0.6, 1.0, len(strong))
        bbox = np.concatenate(
            [rng.uniform(-0.5, 1.5, (1, cells, 2)), rng.uniform(0.5, 2.0, (1, cells, 2))], axis=2
        ).astype(np.float32)
        kps = rng.uniform(-1, 2, (1, cells, 10)).astype(np.float32)
        outputs.update(
            {f"cls_{stride}": cls, f"obj_{stride}": obj, f"bbox_{stride}": bbox, f"kps_{stride}": kps}
        )
    threshold = 0.5
    boxes, scores, marks = yunet.decode(outputs, height, width, threshold)
    kept = yunet.nms(boxes, scores)
    frame = smooth_image(rng, 50, 70)
    return {
        "height": height,
        "width": width,
        "threshold": threshold,
        "outputs": {k: v.reshape(-1).astype(float).tolist() for k, v in outputs.items()},
        "decoded": {
            "boxes": boxes.astype(float).tolist(),
            "scores": scores.astype(float).tolist(),
            "landmarks": marks.astype(float).tolist(),
        },
        "kept": kept,
        "blob": {
            "image": rgba(frame),
            "padded": list(yunet._padded(frame).shape),
            "sum": float(yunet._padded(frame).sum()),
            "corner": yunet._padded(frame)[0, :, 1, 2].astype(float).tolist(),
        },
    }


def tracker_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """Scripted boxes over time (two faces crossing, one lost and back, a one-frame false face,
    a cut), with and without the look; the Python tracker's ids each frame."""
    image = scene(rng, 360, 640)
    frames = []
    t = 0.0
    for i in range(70):
        boxes = []
        a = 40 + i * 6  # walks right
        boxes.append([a, 100, a + 60, 170])
        b = 520 - i * 5  # walks left, crosses a
        if not 30 <= i < 48:  # gone for 18 frames (~1.2 s), then back near its path
            boxes.append([b, 110, b + 58, 172])
        if i == 10:
            boxes.append([300, 250, 330, 285])  # a one-frame false face
        if i % 7 == 3:
            boxes.append([100 + i, 260, 150 + i, 320])  # an intermittent face
        cut = i == 60
        frames.append({"t": t, "boxes": [[float(v) for v in box] for box in boxes], "cut": cut})
        t += 66.7 if i % 5 else 120.0  # uneven frame times
    out: dict[str, Any] = {"image": rgba(image), "frames": frames}
    for name, with_image in (("ids_without_look", False), ("ids_with_look", True)):
        tracker = FaceTracker()
        ids = []
        for f in frames:
            got = tracker.update(
                [Box(*b) for b in f["boxes"]], f["t"], image=image if with_image else None, cut=f["cut"]
            )
            ids.append(got)
        out[name] = ids
    boxes = [Box(40, 40, 100, 110), Box(90, 60, 150, 130), Box(300, 100, 360, 170), Box(400, 30, 440, 80)]
    looks = looks_of(image, boxes)
    out["looks"] = {
        "boxes": [[b.x1, b.y1, b.x2, b.y2] for b in boxes],
        "looks": [
            None
            if look is None
            else {
                "face": look.face.reshape(-1).astype(float).tolist(),
                "body": None if look.body is None else look.body.reshape(-1).astype(float).tolist(),
            }
            for look in looks
        ],
        "distances": [[appearance_distance(a, b) for b in looks] for a in looks],
    }
    return out


def smoothing_fixture(rng: np.random.Generator) -> dict[str, Any]:
    smoother = ExpressionSmoother()
    steps = []
    t = 0.0
    for i in range(120):
        key = 1 if i % 3 else 2
        base = np.full(7, 0.05)
        base[(i // 25) % 7] = 0.7
        probs = rng.dirichlet(base * 20)
        smoothed, stable = smoother.update(key, probs, t)
        steps.append(
            {
                "key": key,
                "t": t,
                "probs": probs.tolist(),
                "smoothed": smoothed.astype(float).tolist(),
                "stable": int(stable),
            }
        )
        t += float(rng.uniform(20, 120))
        if i == 80:
            smoother.forget(2)
            steps.append({"forget": 2})
    return {"steps": steps}


def headline_fixture(rng: np.random.Generator) -> dict[str, Any]:
    tracker = HeadlineTracker()
    frames = []
    t = 0.0
    for i in range(150):
        faces = []
        for track, size in ((1, 100 if i < 90 else 60), (2, 70 if i < 90 else 110)):
            if track == 2 and i < 20:
                continue
            if track == 1 and 120 <= i < 135:
                continue
            label = int((i // 17 + track) % 7)
            p = float(rng.uniform(0.3, 0.8))
            probs = np.full(7, (1 - p) / 6)
            probs[label] = p
            x = 50 + 200 * track
            faces.append(
                Face(
                    Detection(Box(x, 50, x + size, 50 + size), 0.9),
                    probs,
                    track,
                    smoothed=probs,
                    stable=Expression(label),
                )
            )
        if i % 11 == 5:  # a tentative face (no id)
            probs = np.full(7, 1 / 7)
            faces.append(
                Face(Detection(Box(10, 10, 200, 200), 0.9), probs, None, smoothed=probs, stable=Expression(0))
            )
        cut = i == 100
        headline = tracker.update(FrameResult(tuple(faces), 640, 480, timestamp_ms=t, cut=cut))
        frames.append(
            {
                "t": t,
                "cut": cut,
                "faces": [
                    {
                        "box": [f.box.x1, f.box.y1, f.box.x2, f.box.y2],
                        "track_id": f.track_id,
                        "shown": int(f.shown_expression),
                        "shown_probabilities": f.shown_probabilities.astype(float).tolist(),
                    }
                    for f in faces
                ],
                "headline": None if headline is None else headline.to_dict(),
            }
        )
        t += float(rng.uniform(40, 90))
    return {"frames": frames}


def classify_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """The calibration of raw model rows, for each kind of model (OnnxClassifier.predict_prepared)."""

    class Session:
        def __init__(self, rows: np.ndarray) -> None:
            self.rows = rows

        def run(self, names: list[str], feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
            return [self.rows[: len(next(iter(feeds.values())))]]

    cases = []
    for output, temperature, offset in [
        ("probabilities", 0.5219, (0.37, 0.8, 0.58, 0.18, 0.32, 0.31, 0.16)),
        ("probabilities", 1.7, ()),
        ("probabilities", 1.0, ()),
        ("logits", 0.8, ()),
        ("logits", 1.3, (0.1, -0.2, 0.0, 0.3, -0.1, 0.05, 0.2)),
    ]:
        rows = rng.dirichlet(np.ones(7), 4).astype(np.float32)
        if output == "logits":
            rows = rng.normal(0, 2, (4, 7)).astype(np.float32)
        classifier = OnnxClassifier.__new__(OnnxClassifier)
        classifier.metadata = ModelMetadata(
            name="fixture",
            labels=LABELS,
            input_size=(48, 48),
            output=output,
            temperature=temperature,
            offset=offset,
        )
        classifier.batch_size = 64
        classifier.path = Path("fixture.onnx")
        classifier._session = Session(rows)  # type: ignore[assignment]
        probs = classifier.predict_prepared(np.zeros((4, 1, 48, 48), np.float32))
        cases.append(
            {
                "output": output,
                "temperature": temperature,
                "offset": list(offset) or None,
                "rows": rows.astype(float).tolist(),
                "probabilities": probs.astype(float).tolist(),
            }
        )
    return {"cases": cases}


def cuts_fixture(rng: np.random.Generator) -> dict[str, Any]:
    a = scene(rng, 225, 400)
    b = np.asarray(np.clip(np.roll(a, 3, axis=1).astype(int) + 6, 0, 255), dtype=np.uint8)  # same shot, moved
    c = np.asarray(255 - scene(rng, 225, 400), dtype=np.uint8)  # another shot
    wide = scene(rng, 170, 300)  # under 4 thumbnails wide: one area resize
    ta, tb, tc = thumbnail_hsv(a), thumbnail_hsv(b), thumbnail_hsv(c)
    return {
        "frames": [rgba(a), rgba(b), rgba(c), rgba(wide)],
        "thumbnails": [b64(t.astype(np.int16)) for t in (ta, tb, tc, thumbnail_hsv(wide))],
        "sizes": [list(t.shape[:2]) for t in (ta, tb, tc, thumbnail_hsv(wide))],
        "scores": [content_change(ta, tb), content_change(tb, tc)],
    }


def follow_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """StreamAnalyzer._follow on a textured frame and the same frame moved: faces followed (and
    the flat one, the tiny one and the one whose patch left the frame not), OpenCV's grey levels,
    and matchTemplate's best score and place."""
    from moodlens.pipeline.stream import StreamAnalyzer

    a = smooth_image(rng, 120, 160)
    a[75:100, 10:35] = 120  # a flat patch: not followed
    b = np.roll(a, (-3, 5), axis=(0, 1))
    boxes = [
        (50.4, 30.2, 80.7, 71.9),  # shrunk to 32 px high
        (100.0, 10.0, 113.5, 24.0),  # small: at its own size
        (12.0, 77.0, 32.0, 97.0),  # flat
        (5.0, 5.0, 7.5, 8.0),  # too small
        (140.0, 90.0, 159.0, 119.0),  # at the edge
    ]
    marks = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.6], [0.35, 0.8], [0.65, 0.8]], np.float32)
    previous = {}
    for key, (x1, y1, x2, y2) in enumerate(boxes):
        landmarks = marks * np.array([x2 - x1, y2 - y1], np.float32) + np.array([x1, y1], np.float32)
        previous[key + 10] = Detection(Box(x1, y1, x2, y2), 0.9, landmarks)
    stream = object.__new__(StreamAnalyzer)
    stream._previous_gray = np.asarray(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    stream._previous = previous
    followed = stream._follow(np.asarray(cv2.cvtColor(b, cv2.COLOR_BGR2GRAY), dtype=np.uint8))
    grey_a = np.asarray(cv2.cvtColor(a, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    region = cv2.resize(grey_a[20:75, 40:90], None, fx=0.5, fy=0.5, interpolation=cv2.INTER_AREA)
    patch = region[5:15, 6:18].copy()
    scores = cv2.matchTemplate(region, patch, cv2.TM_CCOEFF_NORMED)
    _, best, _, (bx, by) = cv2.minMaxLoc(scores)
    return {
        "previous": rgba(a),
        "frame": rgba(b),
        "grey": b64(grey_a),
        "boxes": [list(box) for box in boxes],
        "landmarks": [previous[k].landmarks.tolist() for k in sorted(previous)],
        "followed": [
            {"key": key, "box": [d.box.x1, d.box.y1, d.box.x2, d.box.y2], "landmarks": d.landmarks.tolist()}
            for key, d in followed
        ],
        "match": {
            "region": b64(region),
            "region_size": [region.shape[1], region.shape[0]],
            "patch": b64(patch),
            "patch_size": [patch.shape[1], patch.shape[0]],
            "score": float(best),
            "at": [int(bx), int(by)],
        },
    }


def tally_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """The live page's own stop summary (static/local.js, browser mode without recording) against
    moodlens.summary: per track, the shares of time of the shown labels and the time analysed."""
    from moodlens.summary import ExpressionSummary, PersonTimeline

    results = []
    timelines: dict[int, PersonTimeline] = {}
    t = 0.0
    for _ in range(120):
        t += float(rng.choice([33.0, 40.0, 66.7, 700.0], p=[0.5, 0.3, 0.15, 0.05]))
        faces = []
        for track_id in (1, 2, 3):
            if rng.random() < 0.25:
                continue  # not in this frame
            label = LABELS[int(rng.integers(0, 3))] if track_id != 2 else "neutral"
            faces.append({"track_id": track_id, "stable_label": label})
            probs = np.full(len(LABELS), 0.1)
            timelines.setdefault(track_id, PersonTimeline()).add(t, LABELS.index(label), probs / probs.sum())
        faces.append({"track_id": None, "stable_label": "happy"})  # tentative: not counted
        results.append({"t": t, "faces": faces})
    summaries = {}
    for track_id, timeline in timelines.items():
        tally = timeline.snapshot()
        assert tally is not None
        summary = ExpressionSummary.from_tally(track_id, tally)
        summaries[str(track_id)] = {"duration_ms": summary.duration_ms, "shares": summary.shares}
    return {"results": results, "summaries": summaries}


def personal_fixture(rng: np.random.Generator) -> dict[str, Any]:
    """Profiles (a baseline alone; with corrections; "not" corrections only; contradictory ones;
    none) as the server sends them (Profile.wire), and what Profile.apply makes of readings: random
    ones, the samples themselves, near-certain ones and zeros (the floor)."""
    from moodlens.personal import Profile, Sample

    def reading(top: int, strength: float) -> np.ndarray:
        p = rng.dirichlet(np.ones(len(LABELS)))
        p = (1 - strength) * p
        p[top] += strength
        return p

    rest = reading(4, 0.5)
    smile, shock, frown = reading(3, 0.6), reading(5, 0.5), reading(0, 0.4)
    profiles = {
        "baseline": [Sample("neutral", rest), Sample("neutral", reading(6, 0.3))],
        "corrections": [
            Sample("neutral", rest),
            Sample("correction", smile, label="surprise"),
            Sample("correction", shock, label="happy"),
            Sample("correction", frown, label="neutral"),
        ],
        "negatives": [
            Sample("correction", frown, not_label="angry"),
            Sample("correction", rest, not_label="sad"),
        ],
        "contradictory": [
            Sample("correction", smile, label="happy"),
            Sample("correction", smile, label="sad"),
        ],
        "empty": [],
    }
    inputs = [rng.dirichlet(np.ones(len(LABELS)) * a) for a in (0.3, 1.0, 3.0) for _ in range(6)]
    inputs += [rest, smile, shock, frown, np.eye(len(LABELS))[3], np.full(len(LABELS), 1 / len(LABELS))]
    cases = []
    for name, samples in profiles.items():
        profile = Profile.fit(name, samples)
        cases.append(
            {
                "numbers": profile.wire(),
                "inputs": [x.tolist() for x in inputs],
                "outputs": [profile.apply(x).astype(np.float64).tolist() for x in inputs],
            }
        )
    return {"cases": cases}


#: In this order, from one generator seeded with 31 (tests/test_engine_js.py regenerates them).
FIXTURES = [
    ("resize", resize_fixture),
    ("align", align_fixture),
    ("detect", detect_fixture),
    ("track", tracker_fixture),
    ("smooth", smoothing_fixture),
    ("headline", headline_fixture),
    ("classify", classify_fixture),
    ("cuts", cuts_fixture),
    ("follow", follow_fixture),
    ("tally", tally_fixture),
    ("personal", personal_fixture),
]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rng = np.random.default_rng(31)
    for name, make in FIXTURES:
        data = make(rng)
        path = OUT / f"{name}.json"
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{path}: {path.stat().st_size // 1024} kB")


if __name__ == "__main__":
    main()
