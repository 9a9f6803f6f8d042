"""Label who is who in a video, by eye: the ground truth of benchmarks/bench_real_tracking.py.

Two steps:

    python benchmarks/label_faces.py sheets VIDEO [--out DIR]
    python benchmarks/label_faces.py write VIDEO MAPPING [--by WHO] [--out benchmarks/labels/NAME.json]

``sheets`` finds the faces to label and writes contact sheets of them to DIR (default:
/tmp/moodlens-labels/NAME, never the repository):

- the faces: the video pipeline's detector (``moodlens video``'s defaults) on every frame, and the
  same network at a low score (LOW_SCORE, the frame at its own scale) for faces the pipeline can
  still report: it looks for a confirmed person the detector missed at such a score around where
  they were (``StreamSettings.rescue_threshold``). A low-score face is kept for labelling only
  where it continues, or lies next to, faces the detector found (the pipeline can only report it
  there); the others, mostly background and false faces, are not labelled;
- *tracklets*: the faces chained conservatively: a face continues a tracklet only when it overlaps
  the tracklet's last box (or that box moved on at its last speed) by IoU >= 0.5 within 2 frames
  and nothing else competes for either (no second face or tracklet over IoU 0.2); a proposed cut
  ends every tracklet;
- ``tracklets_NN.png``: one row per tracklet, crops with context (hair, collar) and frame numbers
  (a ``*`` marks a low-score face), first and last frame always shown; ``frames_NN.png``: every
  few frames whole with each tracklet's number; ``cuts.png``: the frames either side of each cut
  the pipeline's cut detector proposes; ``mapping.txt``: a mapping to fill in.

The mapping, filled in by a person looking at the sheets::

    cuts: 20 82 211          # first frame of every shot after the first, by eye ("cuts: none")
    person 1: old man, grey coat    # optional notes, kept in the labels
    T1 = 1                   # tracklet 1 is person 1
    T2 = ignore              # not a face (a false detection): in no ground truth
    T3 = unsure              # a face, but whose cannot be told (two heads in one box): not scored
    T7 = 2
    T7 from 50 = 3           # tracklet 7 is person 3 from frame 50 on (a split)

``write`` recomputes the tracklets (same faces, same rule) and writes the label file: per frame,
each labelled face's person id and box (flagged ``low`` when only the low-score pass found it), and
the ignored and unsure boxes; with the video's sha256, frame rate and count, the detector's name, settings and
model checksum, who labelled it and how, and the mapping itself.

Limitation: only faces the detector finds (at its threshold, or at LOW_SCORE next to those) are
labelled; a face it never finds is in no ground truth, so trackers are not scored on it.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from moodlens.detection.base import FaceDetector
from moodlens.results import Box
from real_tracking import (
    CACHE,
    LABEL_FORMAT,
    LABELS,
    VideoDetections,
    _write_json,
    decoded,
    detect_video,
    detector_spec,
    sha256_of,
    video_detector,
)

#: A face continues a tracklet at IoU >= LINK_IOU with its last box (or that box moved on at the
#: tracklet's last speed), seen at most MAX_GAP frames before; any second candidate over
#: AMBIGUOUS_IOU (either way) ends the tracklet instead.
LINK_IOU = 0.5
AMBIGUOUS_IOU = 0.2
MAX_GAP = 2
#: The low-score pass: the pipeline's rescue threshold (StreamSettings.rescue_threshold).
LOW_SCORE = 0.3
#: A low-score tracklet is labelled when one of its faces overlaps a labelled tracklet's face by
#: this much within NEAR_FRAMES frames (and so on, from tracklet to tracklet).
NEAR_IOU = 0.3
NEAR_FRAMES = 3
BY = "a moodlens developer, by eye from contact sheets"


@dataclass
class Tracklet:
    number: int
    frames: list[int] = field(default_factory=list)
    boxes: list[Box] = field(default_factory=list)
    low: list[bool] = field(default_factory=list)

    @property
    def first(self) -> int:
        return self.frames[0]

    @property
    def last(self) -> int:
        return self.frames[-1]

    def expected(self, frame: int) -> Box:
        """The last box, moved on at the speed between the last two (for fast walkers)."""
        box = self.boxes[-1]
        if len(self.frames) < 2:
            return box
        prev, gap = self.boxes[-2], self.frames[-1] - self.frames[-2]
        (px, py), (lx, ly) = prev.center, box.center
        k = (frame - self.last) / gap
        return Box(
            box.x1 + k * (lx - px), box.y1 + k * (ly - py), box.x2 + k * (lx - px), box.y2 + k * (ly - py)
        )

    def overlap(self, box: Box, frame: int) -> float:
        return max(self.boxes[-1].iou(box), self.expected(frame).iou(box))


#: Per frame: each face to label and whether only the low-score pass found it.
Faces = list[list[tuple[Box, bool]]]


def chain(faces: Sequence[Sequence[tuple[Box, bool]]], cuts: Sequence[int] = ()) -> list[Tracklet]:
    """Conservative tracklets over per-frame faces: a face continues a tracklet only when each is
    the other's one candidate (overlap over AMBIGUOUS_IOU) and they overlap by LINK_IOU; a tracklet
    with a candidate it does not take ends there, and a cut ends every tracklet."""
    tracklets: list[Tracklet] = []
    active: list[Tracklet] = []
    cut_at = set(cuts)
    for frame, found in enumerate(faces):
        if frame in cut_at:
            active = []
        active = [t for t in active if frame - t.last <= MAX_GAP]
        iou = np.array([[t.overlap(box, frame) for box, _ in found] for t in active]).reshape(
            len(active), len(found)
        )
        near = iou > AMBIGUOUS_IOU
        links: dict[int, Tracklet] = {}
        for a, tracklet in enumerate(active):
            (ds,) = np.nonzero(near[a])
            if len(ds) == 1 and near[:, ds[0]].sum() == 1 and iou[a, ds[0]] >= LINK_IOU:
                links[int(ds[0])] = tracklet
        # Kept waiting: the tracklets that saw nothing near them (a missed face); the others
        # continued, or end here.
        kept = [t for a, t in enumerate(active) if not near[a].any()]
        for d, (box, low) in enumerate(found):
            linked = links.get(d)
            if linked is None:
                tracklet = Tracklet(len(tracklets) + 1)
                tracklets.append(tracklet)
            else:
                tracklet = linked
            tracklet.frames.append(frame)
            tracklet.boxes.append(box)
            tracklet.low.append(low)
            kept.append(tracklet)
        active = kept
    return tracklets


def _near(a: Tracklet, b: Tracklet, shot: dict[int, int]) -> bool:
    boxes = dict(zip(b.frames, b.boxes, strict=True))
    return any(
        box.iou(boxes[g]) >= NEAR_IOU
        for f, box in zip(a.frames, a.boxes, strict=True)
        for g in range(f - NEAR_FRAMES, f + NEAR_FRAMES + 1)
        if g in boxes and shot.get(g) == shot.get(f)
    )


def to_label(tracklets: list[Tracklet], cuts: Sequence[int] = ()) -> list[Tracklet]:
    """The tracklets with a face the detector found, and the low-score ones next to those in the
    same shot (and so on), numbered 1, 2, ... in order of first frame."""
    last = max((t.last for t in tracklets), default=0)
    shot = {f: sum(1 for c in cuts if c <= f) for f in range(last + 1)}
    kept = [t for t in tracklets if not all(t.low)]
    rest = [t for t in tracklets if all(t.low)]
    grown = True
    while grown:
        grown = False
        for t in list(rest):
            if any(_near(t, k, shot) for k in kept):
                kept.append(t)
                rest.remove(t)
                grown = True
    kept.sort(key=lambda t: (t.first, t.number))
    return [Tracklet(n, t.frames, t.boxes, t.low) for n, t in enumerate(kept, 1)]


def low_score_faces(
    path: Path, detector: FaceDetector, found: VideoDetections, *, cache: Path | None = CACHE
) -> list[list[Box]]:
    """Faces the detector's network finds at LOW_SCORE on the whole frame at its own scale, at
    least the detector's smallest face size, and apart from the faces it found at its threshold
    (overlapping none by more than IoU 0.1, as the pipeline's rescue requires)."""
    spec = {**detector_spec(detector), "pass": "raw", "threshold": LOW_SCORE, "scale": 1.0}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    cached = None if cache is None else cache / "detections" / f"{found.sha256[:16]}-low-{key}.json"
    frames: list[list[Box]] | None = None
    if cached is not None and cached.is_file():
        data = json.loads(cached.read_text())
        if data.get("spec") == spec:
            frames = [[Box(*b) for b in frame] for frame in data["frames"]]
    if frames is None:
        raw = getattr(detector, "raw", None)
        if raw is None:
            raise SystemExit(f"the {detector.name} detector has no low-score output")
        frames = [
            [d.box for d in raw(np.ascontiguousarray(image), LOW_SCORE)] for _, _, image in decoded(path)
        ]
        if cached is not None:
            _write_json(cached, {"spec": spec, "frames": [[b.to_list() for b in f] for f in frames]})
    smallest = getattr(getattr(detector, "settings", None), "min_face", 1)
    return [
        [b for b in low if max(b.width, b.height) >= smallest and not any(b.iou(h.box) > 0.1 for h in high)]
        for low, high in zip(frames, found.faces, strict=True)
    ]


def proposed_cuts(path: Path) -> list[int]:
    """Frames where the video pipeline's cut detector starts a new shot."""
    from moodlens.pipeline.cuts import ShotCutDetector

    detector = ShotCutDetector()
    return [index for index, stamp, image in decoded(path) if detector.update(image, stamp)]


# --- the mapping ------------------------------------------------------------------------------------

_LINE = re.compile(r"^T(\d+)(?:\s+from\s+(\d+))?\s*=\s*(\d+|ignore|unsure)$")
IGNORE, UNSURE = -1, -2


@dataclass
class Mapping:
    cuts: list[int]
    notes: dict[int, str]
    #: tracklet -> [(from frame, person, or IGNORE or UNSURE)], sorted by frame
    assign: dict[int, list[tuple[int, int]]]
    lines: list[str]

    def person(self, tracklet: int, frame: int) -> int:
        out = IGNORE
        for start, person in self.assign[tracklet]:
            if frame >= start:
                out = person
        return out


def parse_mapping(text: str) -> Mapping:
    cuts: list[int] | None = None
    notes: dict[int, str] = {}
    assign: dict[int, list[tuple[int, int]]] = {}
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        lines.append(raw.rstrip())
        if line.startswith("cuts:"):
            value = line[5:].strip()
            cuts = [] if value == "none" else [int(v) for v in value.replace(",", " ").split()]
            continue
        note = re.match(r"^person\s+(\d+)\s*:\s*(.*)$", line)
        if note:
            notes[int(note.group(1))] = note.group(2).strip()
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(
                f"mapping line {number}: cannot read {raw.strip()!r} (e.g. 'T7 = 2', 'T7 from 50 = 3')"
            )
        tracklet, start, who = int(match.group(1)), match.group(2), match.group(3)
        person = {"ignore": IGNORE, "unsure": UNSURE}.get(who) or int(who)
        entries = assign.setdefault(tracklet, [])
        entries.append((-1 if start is None else int(start), person))
        entries.sort(key=lambda e: e[0])
    if cuts is None:
        raise ValueError(
            "the mapping needs a 'cuts:' line (the first frame of each shot after the first, or none)"
        )
    for tracklet, entries in assign.items():
        if entries[0][0] != -1:
            raise ValueError(
                f"T{tracklet} has only 'from' lines: say who it is from its start ('T{tracklet} = N')"
            )
        if len({e[0] for e in entries}) != len(entries):
            raise ValueError(f"T{tracklet} is assigned twice from the same frame")
    return Mapping(sorted(cuts), notes, assign, lines)


def labels_from(
    video: Path, detections: VideoDetections, tracklets: list[Tracklet], mapping: Mapping, by: str
) -> dict[str, Any]:
    numbers = {t.number for t in tracklets}
    missing = sorted(numbers - set(mapping.assign))
    if missing:
        raise ValueError(f"tracklets without a person: {', '.join(f'T{n}' for n in missing)}")
    unknown = sorted(set(mapping.assign) - numbers)
    if unknown:
        raise ValueError(
            f"the mapping names tracklets that do not exist: {', '.join(f'T{n}' for n in unknown)}"
        )
    count = len(detections.faces)
    faces: list[list[tuple[int, Box, bool]]] = [[] for _ in range(count)]
    ignored: list[list[Box]] = [[] for _ in range(count)]
    unsure: list[list[Box]] = [[] for _ in range(count)]
    for tracklet in tracklets:
        for frame, box, low in zip(tracklet.frames, tracklet.boxes, tracklet.low, strict=True):
            person = mapping.person(tracklet.number, frame)
            if person == IGNORE:
                ignored[frame].append(box)
            elif person == UNSURE:
                unsure[frame].append(box)
            else:
                # Two boxes of one person in a frame are two detections of one head (the face and
                # the hair above it, a profile and the cheek): the scoring takes the one matched.
                faces[frame].append((person, box, low))
    fps = 1000.0 / float(np.median(np.diff(detections.timestamps_ms))) if count > 1 else 0.0
    return {
        "format": LABEL_FORMAT,
        "video": {
            "name": video.name,
            "sha256": detections.sha256,
            "fps": round(fps, 3),
            "frames": count,
            "width": detections.width,
            "height": detections.height,
        },
        "detector": detections.detector,
        "labelled_by": by,
        "method": (
            "benchmarks/label_faces.py: the detector's faces on every frame, and those its network finds "
            f"at a score >= {LOW_SCORE} (the pipeline's rescue threshold; flagged 'low') where they continue "
            "or lie next to those, chained into conservative tracklets (IoU >= "
            f"{LINK_IOU} with the last box or where it was heading, within {MAX_GAP} frames; ended at any "
            f"rival over IoU {AMBIGUOUS_IOU} and at proposed cuts); each tracklet looked at on contact "
            "sheets and given a person by face, hair and clothes ('ignore': not a face; 'unsure': a face "
            "whose person cannot be told, not scored). Faces the "
            "detector does not find are not labelled. A person keeps their id across shot cuts."
        ),
        "date": datetime.date.today().isoformat(),
        "people": {str(p): mapping.notes.get(p, "") for p in sorted({p for f in faces for p, _, _ in f})},
        "mapping": mapping.lines,
        "shots": [0, *[c for c in mapping.cuts if c > 0]],
        "frames": [
            {
                "frame": k,
                "faces": [
                    [p, b.to_list(), *(["low"] if low else [])]
                    for p, b, low in sorted(faces[k], key=lambda x: x[0])
                ],
                **({"ignored": [b.to_list() for b in ignored[k]]} if ignored[k] else {}),
                **({"unsure": [b.to_list() for b in unsure[k]]} if unsure[k] else {}),
            }
            for k in range(count)
        ],
    }


# --- contact sheets ---------------------------------------------------------------------------------

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_CROP_H = 150


def _context(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    """The face with hair and collar around it, its box drawn, at a fixed height."""
    h, w = image.shape[:2]
    x1, x2 = int(box.x1 - 0.6 * box.width), int(box.x2 + 0.6 * box.width)
    y1, y2 = int(box.y1 - 0.5 * box.height), int(box.y2 + 1.3 * box.height)
    canvas = np.zeros((y2 - y1, x2 - x1, 3), np.uint8)
    sx1, sy1, sx2, sy2 = max(0, x1), max(0, y1), min(w, x2), min(h, y2)
    canvas[sy1 - y1 : sy2 - y1, sx1 - x1 : sx2 - x1] = image[sy1:sy2, sx1:sx2]
    cv2.rectangle(
        canvas,
        (int(box.x1 - x1), int(box.y1 - y1)),
        (int(box.x2 - x1), int(box.y2 - y1)),
        (0, 255, 0),
        max(1, int(box.height / 40)),
    )
    scale = _CROP_H / canvas.shape[0]
    return np.asarray(cv2.resize(canvas, (max(1, int(canvas.shape[1] * scale)), _CROP_H)), np.uint8)


def _sample(frames: list[int], most: int) -> list[int]:
    if len(frames) <= most:
        return list(range(len(frames)))
    return sorted({round(k * (len(frames) - 1) / (most - 1)) for k in range(most)})


def write_sheets(
    path: Path, tracklets: list[Tracklet], cuts: list[int], out: Path, *, per_row: int = 9
) -> None:
    wanted: dict[int, list[tuple[Tracklet, int]]] = {}
    for t in tracklets:
        for k in _sample(t.frames, per_row):
            wanted.setdefault(t.frames[k], []).append((t, k))
    crops: dict[tuple[int, int], npt.NDArray[np.uint8]] = {}
    overview: list[tuple[int, npt.NDArray[np.uint8]]] = []
    around_cuts: dict[int, npt.NDArray[np.uint8]] = {}
    every = 5 if len(tracklets) > 60 else 10
    by_frame: dict[int, list[tuple[int, Box]]] = {}
    for t in tracklets:
        for f, b in zip(t.frames, t.boxes, strict=True):
            by_frame.setdefault(f, []).append((t.number, b))
    for index, _, image in decoded(path):
        for t, k in wanted.get(index, []):
            crops[(t.number, k)] = _context(image, t.boxes[k])
        if index % every == 0 or index in cuts or index + 1 in cuts:
            small = _annotated(image, by_frame.get(index, []), index)
            if index % every == 0:
                overview.append((index, small))
            if index in cuts or index + 1 in cuts:
                around_cuts[index] = small
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in tracklets:
        cells = []
        for k in _sample(t.frames, per_row):
            crop = crops[(t.number, k)]
            cell = np.full((_CROP_H + 22, crop.shape[1] + 4, 3), 255, np.uint8)
            cell[:_CROP_H, 2 : 2 + crop.shape[1]] = crop
            text, colour = (f"{t.frames[k]}*", (0, 0, 220)) if t.low[k] else (str(t.frames[k]), (0, 0, 0))
            cv2.putText(cell, text, (4, _CROP_H + 17), _FONT, 0.5, colour, 1, cv2.LINE_AA)
            cells.append(cell)
        head = np.full((_CROP_H + 22, 120, 3), 255, np.uint8)
        cv2.putText(head, f"T{t.number}", (4, 40), _FONT, 1.0, (0, 0, 200), 2, cv2.LINE_AA)
        cv2.putText(head, f"{t.first}-{t.last}", (4, 80), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(head, f"{len(t.frames)} faces", (4, 110), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        if any(t.low):
            cv2.putText(head, f"{sum(t.low)} low*", (4, 140), _FONT, 0.55, (0, 0, 220), 1, cv2.LINE_AA)
        rows.append(np.hstack([head, *cells]))
    for n, start in enumerate(range(0, len(rows), 8)):
        chunk = rows[start : start + 8]
        width = max(r.shape[1] for r in chunk)
        sheet = np.vstack(
            [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=200) for r in chunk]
        )
        cv2.imwrite(str(out / f"tracklets_{n:02d}.png"), sheet)
    for n, start in enumerate(range(0, len(overview), 6)):
        cv2.imwrite(str(out / f"frames_{n:02d}.png"), _grid([im for _, im in overview[start : start + 6]], 2))
    if around_cuts:
        cv2.imwrite(str(out / "cuts.png"), _grid([around_cuts[k] for k in sorted(around_cuts)], 2))


def _annotated(
    image: npt.NDArray[np.uint8], boxes: list[tuple[int, Box]], index: int
) -> npt.NDArray[np.uint8]:
    scale = 640 / image.shape[1]
    small = np.asarray(cv2.resize(image, (640, round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA))
    for number, box in boxes:
        b = box.scaled(scale)
        cv2.rectangle(small, (int(b.x1), int(b.y1)), (int(b.x2), int(b.y2)), (0, 255, 0), 1)
        cv2.putText(small, f"T{number}", (int(b.x1), max(10, int(b.y1) - 3)), _FONT, 0.4, (0, 255, 255), 1)
    cv2.putText(small, f"frame {index}", (6, 22), _FONT, 0.7, (0, 0, 255), 2, cv2.LINE_AA)
    return np.asarray(small, np.uint8)


def _grid(images: list[npt.NDArray[np.uint8]], columns: int) -> npt.NDArray[np.uint8]:
    h, w = images[0].shape[:2]
    rows = -(-len(images) // columns)
    grid = np.full((rows * (h + 4), columns * (w + 4), 3), 255, np.uint8)
    for k, im in enumerate(images):
        r, c = divmod(k, columns)
        grid[r * (h + 4) : r * (h + 4) + h, c * (w + 4) : c * (w + 4) + w] = im
    return grid


# --- command line -----------------------------------------------------------------------------------


def faces_to_label(video: Path) -> tuple[VideoDetections, Faces]:
    """Per frame: the detector's faces, then the low-score ones (flagged True)."""
    detector = video_detector()
    found = detect_video(video, detector)
    low = low_score_faces(video, detector, found)
    return found, [
        [(d.box, False) for d in f] + [(b, True) for b in extra]
        for f, extra in zip(found.faces, low, strict=True)
    ]


def tracklets_of(video: Path, cuts: Sequence[int]) -> tuple[VideoDetections, list[Tracklet]]:
    found, faces = faces_to_label(video)
    return found, to_label(chain(faces, cuts), cuts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="step", required=True)
    sheets = sub.add_parser(
        "sheets", help="detect, chain tracklets, write contact sheets and a mapping to fill in"
    )
    sheets.add_argument("video", type=Path)
    sheets.add_argument("--out", type=Path, help="folder for the sheets (default: /tmp/moodlens-labels/NAME)")
    write = sub.add_parser("write", help="write the label file from a filled-in mapping")
    write.add_argument("video", type=Path)
    write.add_argument("mapping", type=Path)
    write.add_argument("--by", default=BY, help=f"who labelled, and how (default: {BY!r})")
    write.add_argument("--out", type=Path, help="label file (default: benchmarks/labels/NAME.json)")
    args = parser.parse_args(argv)
    video: Path = args.video
    # Tracklets end at the cuts the pipeline proposes, so that the numbering is the same in both
    # steps; the shots written to the labels are the mapping's (by eye).
    cuts = proposed_cuts(video)
    detections, tracklets = tracklets_of(video, cuts)
    if args.step == "sheets":
        out = args.out or Path("/tmp/moodlens-labels") / video.stem
        write_sheets(video, tracklets, cuts, out)
        lines = [
            f"# {video.name}: {len(tracklets)} tracklets, {sum(len(t.frames) for t in tracklets)} faces "
            f"({sum(sum(t.low) for t in tracklets)} found at a low score only)",
            f"cuts: {' '.join(map(str, cuts)) or 'none'}    # proposed by the cut detector: check cuts.png",
            *(
                f"T{t.number} = ?    # frames {t.first}-{t.last}, {len(t.frames)} faces"
                + (f", {sum(t.low)} low" if any(t.low) else "")
                for t in tracklets
            ),
        ]
        (out / "mapping.txt").write_text("\n".join(lines) + "\n")
        (out / "tracklets.json").write_text(
            json.dumps(
                [
                    {
                        "tracklet": t.number,
                        "frames": t.frames,
                        "boxes": [b.to_list() for b in t.boxes],
                        "low": t.low,
                    }
                    for t in tracklets
                ]
            )
        )
        print(f"{len(tracklets)} tracklets; sheets and mapping.txt in {out}")
        return 0
    mapping = parse_mapping(args.mapping.read_text(encoding="utf-8"))
    if detections.sha256 != sha256_of(video):
        raise SystemExit(f"{video}: changed while labelling")
    labels = labels_from(video, detections, tracklets, mapping, args.by)
    out = args.out or LABELS / f"{video.stem}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(_dump(labels) + "\n", encoding="utf-8")
    people = labels["people"]
    faces = sum(len({p for p, *_ in f["faces"]}) for f in labels["frames"])
    boxes = sum(len(f["faces"]) for f in labels["frames"])
    print(
        f"{out}: {len(people)} people, {faces} labelled faces ({boxes} boxes), {len(labels['shots'])} shots"
    )
    return 0


def _dump(labels: dict[str, Any]) -> str:
    """JSON with one line per frame (readable diffs)."""
    head = {k: v for k, v in labels.items() if k != "frames"}
    text = json.dumps(head, indent=1)[:-2]
    frames = ",\n  ".join(json.dumps(f, separators=(",", ":")) for f in labels["frames"])
    return f'{text},\n "frames": [\n  {frames}\n ]\n}}'


if __name__ == "__main__":
    sys.exit(main())
