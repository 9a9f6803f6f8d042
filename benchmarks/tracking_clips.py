"""Clips with known identities for the tracking benchmark, built from the real photos in the media folder.

Each clip is 640x480 at 30 FPS: real faces (cut from the media photos) moving on known paths over a
textured background, crossing, hidden behind a passing pillar, leaving and coming back, and hard cuts
between shots, with 1 to 7 people. For every frame the clip knows each visible face's identity and box.

Identity is defined *within a shot*: moodlens does not recognise people across a cut (that would take
face recognition, a biometric identification it deliberately does not do), so a person in a new shot is
a new identity, even one seen in an earlier shot. A track that continues across a cut is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

WIDTH, HEIGHT, FPS = 640, 480, 30
PHOTOS = (
    "obama.jpg",
    "rose_leslie_neutral.jpg",
    "alex_lacamoire_rgba.png",
    "surprise_man.jpg",
    "sad_child.jpg",
    "angry_frown.jpg",
    "disgust_woman.jpg",
    "fear_man.jpg",
)


@dataclass(frozen=True)
class Actor:
    """One person in one shot: which photo, and where its patch is at time t (seconds in the shot)."""

    identity: int
    photo: int
    size: int
    path: Callable[[float], tuple[float, float]]
    visible: Callable[[float], bool] = lambda t: True


@dataclass(frozen=True)
class Shot:
    seconds: float
    actors: tuple[Actor, ...]
    pillar: Callable[[float], float] | None = None  # x of an opaque pillar over time (hides faces)


@dataclass
class Frame:
    image: npt.NDArray[np.uint8]
    index: int
    timestamp_ms: float
    shot: int
    truth: list[tuple[int, tuple[float, float, float, float]]] = field(default_factory=list)


@dataclass(frozen=True)
class Clip:
    name: str
    shots: tuple[Shot, ...]

    @property
    def people(self) -> int:
        return len({a.identity for s in self.shots for a in s.actors})


def _patches(
    media: Path, detector: object
) -> list[tuple[npt.NDArray[np.uint8], tuple[float, float, float, float]]]:
    """Each photo's face with some margin, at 200 px wide, and the detector's box inside it (relative)."""
    from moodlens.images import read_image

    out = []
    for name in PHOTOS:
        image = read_image(media / name)
        face = detector.detect(image)[0].box  # type: ignore[attr-defined]
        pad = 0.35 * face.height
        x1, y1 = int(max(0, face.x1 - pad)), int(max(0, face.y1 - pad))
        x2, y2 = int(min(image.shape[1], face.x2 + pad)), int(min(image.shape[0], face.y2 + pad))
        crop = cv2.resize(image[y1:y2, x1:x2], (200, round(200 * (y2 - y1) / (x2 - x1))))
        scale = 200 / (x2 - x1)
        inner = (
            (face.x1 - x1) * scale,
            (face.y1 - y1) * scale,
            (face.x2 - x1) * scale,
            (face.y2 - y1) * scale,
        )
        out.append((crop, (inner[0] / 200, inner[1] / 200, inner[2] / 200, inner[3] / 200)))
    return out


def render(clip: Clip, media: Path, detector: object, *, seed: int = 0) -> Iterator[Frame]:
    """The clip's frames with their true identities and boxes."""
    patches = _patches(media, detector)
    rng = np.random.default_rng(seed)
    index = 0
    start_ms = 0.0
    for shot_index, shot in enumerate(clip.shots):
        tone = rng.integers(50, 170, 3)
        background = cv2.GaussianBlur(
            np.clip(rng.normal(0, 25, (HEIGHT, WIDTH, 3)) + tone, 0, 255).astype(np.uint8), (41, 41), 0
        )
        for k in range(round(shot.seconds * FPS)):
            t = k / FPS
            image = background.copy()
            placed: list[tuple[int, tuple[float, float, float, float], tuple[int, int, int, int]]] = []
            for actor in shot.actors:
                if not actor.visible(t):
                    continue
                patch, inner = patches[actor.photo]
                w = actor.size
                h = round(w * patch.shape[0] / patch.shape[1])
                scaled = cv2.resize(patch, (w, h), interpolation=cv2.INTER_AREA)
                x, y = actor.path(t)
                x0, y0 = round(x), round(y)
                sx1, sy1 = max(0, x0), max(0, y0)
                sx2, sy2 = min(WIDTH, x0 + w), min(HEIGHT, y0 + h)
                if sx2 <= sx1 or sy2 <= sy1:
                    continue
                image[sy1:sy2, sx1:sx2] = scaled[sy1 - y0 : sy2 - y0, sx1 - x0 : sx2 - x0]
                box = (x0 + inner[0] * w, y0 + inner[1] * w, x0 + inner[2] * w, y0 + inner[3] * w)
                placed.append((actor.identity, box, (sx1, sy1, sx2, sy2)))
            truth = []
            for k_face, (identity, box, _) in enumerate(placed):
                # Visible: most of the face inside the frame and not covered by a patch drawn over it.
                mask = np.zeros((HEIGHT, WIDTH), bool)
                bx1, by1, bx2, by2 = (round(v) for v in box)
                mask[max(0, by1) : max(0, by2), max(0, bx1) : max(0, bx2)] = True
                full = max(1.0, (box[2] - box[0]) * (box[3] - box[1]))
                for _, _, (px1, py1, px2, py2) in placed[k_face + 1 :]:
                    mask[py1:py2, px1:px2] = False
                if mask.sum() >= 0.6 * full:
                    truth.append((identity, box))
            if shot.pillar is not None:
                px = shot.pillar(t)
                x1, x2 = int(max(0, px)), int(min(WIDTH, px + 170))
                if x2 > x1:
                    image[:, x1:x2] = (35, 35, 45)
                    # Faces behind the pillar (their centre inside it) are hidden.
                    truth = [(i, b) for i, b in truth if not x1 - 10 <= (b[0] + b[2]) / 2 <= x2 + 10]
            yield Frame(image, index, start_ms + k * 1000.0 / FPS, shot_index, truth)
            index += 1
        start_ms += round(shot.seconds * FPS) * 1000.0 / FPS


def _line(
    x0: float, y0: float, x1: float, y1: float, seconds: float
) -> Callable[[float], tuple[float, float]]:
    return lambda t: (x0 + (x1 - x0) * min(1.0, t / seconds), y0 + (y1 - y0) * min(1.0, t / seconds))


def _wobble(x: float, y: float, amplitude: float, phase: float) -> Callable[[float], tuple[float, float]]:
    return lambda t: (
        x + amplitude * math.sin(1.3 * t + phase),
        y + 0.5 * amplitude * math.sin(0.9 * t + 2 * phase),
    )


def clips() -> list[Clip]:
    """The benchmark set: 7 clips, 1 to 7 people, 3 shot cuts."""
    return [
        Clip("walk_1", (Shot(6, (Actor(1, 0, 180, _line(-40, 120, 500, 160, 6)),)),)),
        Clip(
            "cross_2",
            (
                Shot(
                    6,
                    (
                        Actor(1, 1, 170, _line(460, 130, 0, 140, 6)),
                        Actor(2, 0, 200, _line(0, 110, 460, 120, 6)),  # in front (drawn last)
                    ),
                ),
            ),
        ),
        Clip(
            "occluded_2",
            (
                Shot(
                    7,
                    (Actor(1, 2, 170, _wobble(120, 130, 20, 0)), Actor(2, 3, 170, _wobble(400, 140, 25, 1))),
                    pillar=lambda t: -200 + 160 * t,  # sweeps across, hiding each face ~1 s
                ),
            ),
        ),
        Clip(
            "leave_return_2",
            (
                Shot(
                    7,
                    (
                        Actor(
                            1,
                            4,
                            170,
                            lambda t: (200 + 260 * t, 120) if t < 2 else (-150 + 180 * (t - 4.5), 140),
                            visible=lambda t: t < 2 or t > 4.5,  # gone ~2.5 s: out right, back from the left
                        ),
                        Actor(2, 5, 160, _wobble(430, 250, 15, 2)),
                    ),
                ),
            ),
        ),
        Clip(
            "cuts_3_shots",
            (
                Shot(2, (Actor(1, 6, 200, _wobble(220, 110, 10, 0)),)),
                Shot(2, (Actor(2, 7, 200, _wobble(225, 115, 10, 1)),)),  # another person, same place
                Shot(
                    2.5,
                    (Actor(3, 6, 190, _wobble(215, 120, 10, 2)), Actor(4, 1, 150, _wobble(460, 200, 10, 3))),
                ),
            ),
        ),
        Clip(
            "group_7",
            (
                Shot(
                    5,
                    tuple(
                        Actor(i + 1, i, 95, _wobble(20 + 150 * (i % 4), 40 + 200 * (i // 4), 8, i))
                        for i in range(7)
                    ),
                ),
            ),
        ),
        Clip(
            "crossing_4",
            (
                Shot(
                    7,
                    (
                        Actor(1, 0, 150, _line(-20, 60, 480, 260, 7)),
                        Actor(2, 1, 140, _line(480, 60, -20, 260, 7)),
                        Actor(3, 2, 140, _line(250, 300, 250, 0, 7)),
                        Actor(4, 7, 130, _wobble(40, 300, 30, 1)),
                    ),
                ),
            ),
        ),
    ]
