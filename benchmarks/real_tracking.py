"""Real-footage tracking clips: the media videos, their hand labels, and clips built from their frames.

The labelled clips are the two videos of the media folder (``pedestrians_1080p.mp4``,
``short_hamilton_clip.mp4``), with one identity per face the default detector finds, labelled by eye
(``benchmarks/label_faces.py``, files in ``benchmarks/labels/``). Two more clips are built from their
frames with FFmpeg (imageio-ffmpeg's binary), losslessly, so that every frame of a built clip is
bit-for-bit a frame of its source (checked when it is built; reused while its sha256 holds), and its
labels are the source's labels moved by the frame mapping:

- ``hamilton_cutaway``: shot A (the singer clip's third shot, first half), a cut to shot B (its fourth
  shot), a cut back to the rest of shot A: the same people come back after a cutaway.
- ``pedestrians_there_and_back``: the street clip played forward then backward (frames 0..104, then
  103..0): people leave and come back without a cut.

Built clips and per-frame detections are cached in ``$MOODLENS_BENCH_CACHE`` (default: the system's
temporary folder), keyed by the video's sha256 and the detector; nothing here is committed.

Labels keep a person's id across cuts (the same singer before and after a cutaway is one person).
Limitation: only faces the detector finds are labelled (at its threshold, or at the pipeline's low
"rescue" score next to those); a face it never finds is in no ground truth, and trackers are not
scored on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common import MEDIA
from moodlens.detection.base import FaceDetector
from moodlens.results import Box, Detection

LABELS = Path(__file__).resolve().parent / "labels"
CACHE = Path(os.environ.get("MOODLENS_BENCH_CACHE", Path(tempfile.gettempdir()) / "moodlens-bench-cache"))
LABEL_FORMAT = "moodlens-face-identities/1"

#: The labelled source videos (file names in the media folder, label files in benchmarks/labels).
SOURCES = ("pedestrians_1080p", "short_hamilton_clip")


@dataclass(frozen=True)
class Recipe:
    """A clip built from a source's frames: ``segments`` are inclusive (first, last) source frame
    ranges, played backward when first > last."""

    name: str
    source: str
    segments: tuple[tuple[int, int], ...]
    about: str

    def frame_map(self) -> list[int]:
        out: list[int] = []
        for first, last in self.segments:
            step = 1 if last >= first else -1
            out.extend(range(first, last + step, step))
        return out


RECIPES = (
    Recipe(
        "hamilton_cutaway",
        "short_hamilton_clip",
        ((82, 145), (211, 274), (146, 210)),
        "shot A (the singer clip's 3rd shot, frames 82-145), shot B (its 4th, 211-274), "
        "back to shot A (146-210)",
    ),
    Recipe(
        "pedestrians_there_and_back",
        "pedestrians_1080p",
        ((0, 104), (103, 0)),
        "the street clip forward (0-104) then backward (103-0): people leave and come back, no cut",
    ),
)

CLIPS = (*SOURCES, *(r.name for r in RECIPES))


# --- files ----------------------------------------------------------------------------------------


def media_dir() -> Path | None:
    """The media folder ($MOODLENS_MEDIA or ../shared/media beside the checkout), if it has the videos."""
    return MEDIA if all((MEDIA / f"{s}.mp4").is_file() for s in SOURCES) else None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def frame_digest(image: npt.NDArray[np.uint8]) -> str:
    """A checksum of a decoded frame's pixels (and shape)."""
    digest = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16)
    digest.update(repr(image.shape).encode())
    return digest.hexdigest()


def decoded(path: Path) -> Iterator[tuple[int, float, npt.NDArray[np.uint8]]]:
    """(index, timestamp_ms, BGR image) of every frame, decoded as the video pipeline decodes."""
    from moodlens.pipeline.sources import VideoSource

    with VideoSource(path) as source:
        for frame in source:
            yield frame.index, frame.timestamp_ms, frame.image


# --- the video pipeline's detector, and detections cached per video --------------------------------


def video_command_args(video: Path | str = "clip.mp4", *options: str) -> Any:
    """``moodlens video VIDEO [OPTIONS]``'s options, the others at their defaults (detector,
    thresholds, stream settings), read from the command's own parser so that the benchmark follows it."""
    import argparse

    from moodlens.cli import video as video_command

    parser = argparse.ArgumentParser()
    video_command.register(parser.add_subparsers())
    return parser.parse_args(["video", str(video), *options])


def video_detector() -> FaceDetector:
    """The detector ``moodlens video`` builds at its defaults."""
    from moodlens.detection import create_detector

    args = video_command_args()
    return create_detector(
        args.detector,
        min_face=args.min_face,
        threshold=args.threshold,
        max_side=args.max_side,
        model=args.detector_model,
    )


def detector_spec(detector: FaceDetector) -> dict[str, Any]:
    """Name, settings and model checksum: what the labels and the detection cache are keyed by."""
    spec: dict[str, Any] = {"name": detector.name}
    settings = getattr(detector, "settings", None)
    if settings is not None:
        spec["settings"] = {k: getattr(settings, k) for k in ("min_face", "threshold", "max_side")}
    model = getattr(detector, "model_path", None)
    if model is not None:
        spec["model_sha256"] = sha256_of(Path(model))
    return spec


def _spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def _encode(det: Detection) -> list[float]:
    marks = [] if det.landmarks is None else [float(v) for v in det.landmarks.reshape(-1)]
    return [det.box.x1, det.box.y1, det.box.x2, det.box.y2, float(det.score), *marks]


def _decode(values: Sequence[float]) -> Detection:
    marks = np.asarray(values[5:], dtype=np.float32) if len(values) > 5 else None
    return Detection(Box(*values[:4]), values[4], marks)


@dataclass
class VideoDetections:
    """The detector's faces on every frame of one video, with each frame's pixel checksum."""

    sha256: str
    detector: dict[str, Any]
    digests: list[str]
    timestamps_ms: list[float]
    faces: list[list[Detection]]
    width: int
    height: int

    def to_json(self) -> dict[str, Any]:
        return {
            "video_sha256": self.sha256,
            "detector": self.detector,
            "width": self.width,
            "height": self.height,
            "frames": [
                {"digest": d, "timestamp_ms": t, "faces": [_encode(f) for f in faces]}
                for d, t, faces in zip(self.digests, self.timestamps_ms, self.faces, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VideoDetections:
        frames = data["frames"]
        return cls(
            data["video_sha256"],
            data["detector"],
            [f["digest"] for f in frames],
            [f["timestamp_ms"] for f in frames],
            [[_decode(v) for v in f["faces"]] for f in frames],
            data["width"],
            data["height"],
        )


def detect_video(
    path: Path, detector: FaceDetector, *, sha256: str | None = None, cache: Path | None = CACHE
) -> VideoDetections:
    """Run ``detector`` on every frame of ``path`` (or read the result cached for this video's
    sha256 and this detector)."""
    sha = sha256 or sha256_of(path)
    spec = detector_spec(detector)
    cached = None if cache is None else cache / "detections" / f"{sha[:16]}-{_spec_key(spec)}.json"
    if cached is not None and cached.is_file():
        found = VideoDetections.from_json(json.loads(cached.read_text()))
        if found.sha256 == sha and found.detector == spec:
            return found
    digests, stamps, faces, size = [], [], [], (0, 0)
    for _, timestamp_ms, image in decoded(path):
        digests.append(frame_digest(image))
        stamps.append(timestamp_ms)
        faces.append(detector.detect(image))
        size = (image.shape[1], image.shape[0])
    found = VideoDetections(sha, spec, digests, stamps, faces, *size)
    if cached is not None:
        _write_json(cached, found.to_json())
    return found


class CachedDetector:
    """A detector that answers from detections already computed for these exact frames (looked up
    by pixel checksum), and runs ``detector`` on any other frame. Safe to call from two threads
    (the video pipeline detects on both)."""

    def __init__(self, detector: FaceDetector, known: Sequence[VideoDetections] = ()) -> None:
        self.detector = detector
        self.name = detector.name
        self.settings = getattr(detector, "settings", None)
        self.by_digest: dict[str, list[Detection]] = {}
        for video in known:
            self.by_digest.update(zip(video.digests, video.faces, strict=True))
        self.hits = 0
        self.misses = 0
        self._lock = threading.Lock()
        self._raw: dict[tuple[str, float], list[Detection]] = {}
        if hasattr(detector, "raw"):
            # The pipeline looks again at a low score around a person the detector missed.
            self.raw = self._raw_detect

    def _raw_detect(self, image: npt.NDArray[np.uint8], threshold: float) -> list[Detection]:
        key = (frame_digest(image), threshold)
        with self._lock:
            found = self._raw.get(key)
            if found is None:
                found = self._raw[key] = self.detector.raw(image, threshold)  # type: ignore[attr-defined]
        return list(found)

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        key = frame_digest(image)
        with self._lock:
            found = self.by_digest.get(key)
            if found is None:
                self.misses += 1
                found = self.by_digest[key] = self.detector.detect(image)
            else:
                self.hits += 1
        return list(found)


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(data, separators=(",", ":")))
    partial.replace(path)


# --- labels ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledFace:
    """A face and who it is; ``low``: found only at a low score (see benchmarks/label_faces.py)."""

    person: int
    box: Box
    low: bool = False


@dataclass
class Labels:
    """Who each detected face is, frame by frame. ``shots`` holds the first frame of each shot;
    ``ignored`` the detections judged not to be a face (they are in no ground truth), ``unsure``
    the faces whose person cannot be told (a box over two heads: not scored). A person may have
    two boxes in a frame: two detections of one head (face and hair, profile and cheek)."""

    clip: str
    sha256: str
    fps: float
    width: int
    height: int
    shots: list[int]
    faces: list[list[LabelledFace]]
    ignored: list[list[Box]]
    unsure: list[list[Box]]
    meta: dict[str, Any]

    def __post_init__(self) -> None:
        if not len(self.faces) == len(self.ignored) == len(self.unsure):
            raise ValueError(f"{self.clip}: faces and ignored cover different frame counts")
        if not self.shots or self.shots[0] != 0 or sorted(set(self.shots)) != self.shots:
            raise ValueError(f"{self.clip}: shots must start at 0 and increase, got {self.shots}")
        if self.shots[-1] >= max(len(self.faces), 1):
            raise ValueError(f"{self.clip}: a shot starts after the last frame")

    @property
    def frames(self) -> int:
        return len(self.faces)

    def shot_of(self, frame: int) -> int:
        return sum(1 for start in self.shots if start <= frame) - 1

    @property
    def people(self) -> list[int]:
        """The people with a face the detector found at its threshold in some frame."""
        return sorted({f.person for faces in self.faces for f in faces if not f.low})

    @property
    def boxes(self) -> int:
        """Labelled faces: (person, frame) pairs."""
        return sum(len({f.person for f in faces}) for faces in self.faces)

    @property
    def low_only(self) -> int:
        """Labelled faces found only at a low score."""
        return sum(
            len({f.person for f in faces} - {f.person for f in faces if not f.low}) for faces in self.faces
        )

    @classmethod
    def load(cls, path: Path) -> Labels:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != LABEL_FORMAT:
            raise ValueError(f"{path}: not a {LABEL_FORMAT} file (format {data.get('format')!r})")
        video = data["video"]
        frames = data["frames"]
        if len(frames) != video["frames"] or [f["frame"] for f in frames] != list(range(len(frames))):
            raise ValueError(f"{path}: expected frames 0..{video['frames'] - 1}, one entry each")
        return cls(
            clip=Path(video["name"]).stem,
            sha256=video["sha256"],
            fps=float(video["fps"]),
            width=int(video["width"]),
            height=int(video["height"]),
            shots=[int(s) for s in data["shots"]],
            faces=[[LabelledFace(int(v[0]), Box(*v[1]), "low" in v[2:]) for v in f["faces"]] for f in frames],
            ignored=[[Box(*b) for b in f.get("ignored", [])] for f in frames],
            unsure=[[Box(*b) for b in f.get("unsure", [])] for f in frames],
            meta={k: v for k, v in data.items() if k not in ("frames", "shots", "video", "format")},
        )

    def mapped(self, recipe: Recipe) -> Labels:
        """The labels of a clip built from this one's frames: each built frame takes its source
        frame's faces; a shot starts where the source frames jump or cross one of its own cuts."""
        order = recipe.frame_map()
        if not order or min(order) < 0 or max(order) >= self.frames:
            raise ValueError(f"{recipe.name}: source frames outside 0..{self.frames - 1}")
        shots = [0] + [
            k
            for k in range(1, len(order))
            if abs(order[k] - order[k - 1]) != 1 or self.shot_of(order[k]) != self.shot_of(order[k - 1])
        ]
        return Labels(
            clip=recipe.name,
            sha256="",
            fps=self.fps,
            width=self.width,
            height=self.height,
            shots=shots,
            faces=[self.faces[k] for k in order],
            ignored=[self.ignored[k] for k in order],
            unsure=[self.unsure[k] for k in order],
            meta={"built_from": self.clip, "frame_map": recipe.about},
        )


def load_labels(clip: str) -> Labels:
    return Labels.load(LABELS / f"{clip}.json")


# --- clips built with FFmpeg ----------------------------------------------------------------------


def ffmpeg_exe() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise SystemExit(
            "the built clips need FFmpeg from imageio-ffmpeg: pip install imageio-ffmpeg"
        ) from None
    return str(imageio_ffmpeg.get_ffmpeg_exe())


def _filter(recipe: Recipe, rate: Fraction) -> str:
    parts, names = [], []
    for k, (first, last) in enumerate(recipe.segments):
        lo, hi = min(first, last), max(first, last)
        backward = ",reverse" if last < first else ""
        parts.append(f"[0:v]trim=start_frame={lo}:end_frame={hi + 1},setpts=PTS-STARTPTS{backward}[s{k}]")
        names.append(f"[s{k}]")
    tail = f"concat=n={len(names)}:v=1:a=0,setpts=N*{rate.denominator}/{rate.numerator}/TB[v]"
    return ";".join([*parts, "".join(names) + tail])


def _rate(fps: float) -> Fraction:
    """The source's frame rate as FFmpeg writes it (29.97 -> 30000/1001)."""
    for exact in (Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)):
        if abs(float(exact) - fps) < 0.01:
            return exact
    return Fraction(fps).limit_denominator(1000)


@dataclass
class BuiltClip:
    recipe: Recipe
    path: Path
    sha256: str
    labels: Labels


def build_clip(
    recipe: Recipe, media: Path, source_labels: Labels, source: VideoDetections, *, cache: Path = CACHE
) -> BuiltClip:
    """Build ``recipe`` (once per source video and recipe; cached) and check it: as many frames as
    the mapping, and each frame's pixels equal to its source frame's (lossless H.264, 4:2:0 as the
    source). Returns it with its labels."""
    order = recipe.frame_map()
    key = hashlib.sha256(repr((recipe.segments, source.sha256)).encode()).hexdigest()[:12]
    folder = cache / "clips"
    path = folder / f"{recipe.name}-{key}.mp4"
    manifest = path.with_suffix(".json")
    if path.is_file() and manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved.get("sha256") == sha256_of(path):
            return BuiltClip(recipe, path, saved["sha256"], _built_labels(recipe, source_labels, saved))
    folder.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.stem}.{os.getpid()}.mp4")
    command = [
        ffmpeg_exe(),
        *("-hide_banner", "-loglevel", "error", "-y", "-i", str(media / f"{recipe.source}.mp4"), "-an"),
        *("-filter_complex", _filter(recipe, _rate(source_labels.fps)), "-map", "[v]"),
        # Lossless (qp 0) and 4:2:0 like the source: decoded frames equal the source's, pixel for pixel.
        *("-c:v", "libx264", "-qp", "0", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-threads", "1"),
        str(partial),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed building {recipe.name}: {done.stderr.strip()[-500:]}")
    digests = [frame_digest(image) for _, _, image in decoded(partial)]
    if len(digests) != len(order):
        raise RuntimeError(f"{recipe.name}: built {len(digests)} frames, expected {len(order)}")
    wrong = [k for k, (d, m) in enumerate(zip(digests, order, strict=True)) if d != source.digests[m]]
    if wrong:
        raise RuntimeError(
            f"{recipe.name}: {len(wrong)} frames differ from their source frames (first: {wrong[:5]})"
        )
    partial.replace(path)
    saved = {
        "recipe": recipe.name,
        "segments": recipe.segments,
        "frames": len(order),
        "sha256": sha256_of(path),
    }
    _write_json(manifest, saved)
    return BuiltClip(recipe, path, saved["sha256"], _built_labels(recipe, source_labels, saved))


def _built_labels(recipe: Recipe, source_labels: Labels, saved: dict[str, Any]) -> Labels:
    labels = source_labels.mapped(recipe)
    labels.sha256 = saved["sha256"]
    if labels.frames != saved["frames"]:
        raise RuntimeError(f"{recipe.name}: {saved['frames']} frames built, {labels.frames} labelled")
    return labels


@dataclass
class Clip:
    """One benchmark clip: its video, labels and the detections of its frames."""

    name: str
    path: Path
    labels: Labels
    detections: VideoDetections


def load_clips(
    media: Path, detector: FaceDetector, names: Sequence[str] = CLIPS, *, cache: Path = CACHE
) -> list[Clip]:
    """The labelled clips (sources checked against their labels' sha256) and the built ones."""
    sources: dict[str, Clip] = {}
    for name in SOURCES:
        path = media / f"{name}.mp4"
        labels = load_labels(name)
        sha = sha256_of(path)
        if sha != labels.sha256:
            raise RuntimeError(
                f"{path}: sha256 {sha[:12]}... is not the labelled video's ({labels.sha256[:12]}...)"
            )
        found = detect_video(path, detector, sha256=sha, cache=cache)
        if len(found.faces) != labels.frames:
            raise RuntimeError(f"{path}: {len(found.faces)} frames decoded, {labels.frames} labelled")
        sources[name] = Clip(name, path, labels, found)
    out = []
    for name in names:
        if name in sources:
            out.append(sources[name])
            continue
        recipe = next((r for r in RECIPES if r.name == name), None)
        if recipe is None:
            raise ValueError(f"unknown clip {name!r}; choose from: {', '.join(CLIPS)}")
        origin = sources[recipe.source]
        built = build_clip(recipe, media, origin.labels, origin.detections, cache=cache)
        order = recipe.frame_map()
        # The built frames are the source's own pixels (checked), so are their detections.
        found = VideoDetections(
            built.sha256,
            origin.detections.detector,
            [origin.detections.digests[m] for m in order],
            [k * 1000.0 / origin.labels.fps for k in range(len(order))],
            [origin.detections.faces[m] for m in order],
            origin.detections.width,
            origin.detections.height,
        )
        out.append(Clip(name, built.path, built.labels, found))
    return out
