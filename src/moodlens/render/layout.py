"""Where to put each face's probability panel so that it never covers a face.

The same rule serves every drawing: the CLI's annotated photos and videos (``render.annotators``)
and the browser overlay (``service/static/layout.js`` implements it line for line):

1. each face, largest first, tries four places in order: right of the face, left of it, below it,
   above it (each aligned with the face's top or left edge);
2. a place is taken when it lies inside the frame and overlaps no face box (every face's, with a
   small margin), no face's label (drawn above its box) and no panel placed before;
3. a face with no free place gets no panel: it is drawn in the compact form (its label only).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from moodlens.results import Box

#: Gap between a face and its panel, and the margin kept around every face, in pixels.
GAP = 4


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float

    def overlaps(self, other: Rect) -> bool:
        return (
            self.x < other.x + other.w
            and other.x < self.x + self.w
            and self.y < other.y + other.h
            and other.y < self.y + self.h
        )

    @classmethod
    def around(cls, box: Box, margin: float = 0.0) -> Rect:
        return cls(box.x1 - margin, box.y1 - margin, box.width + 2 * margin, box.height + 2 * margin)


def candidates(box: Box, width: float, height: float) -> list[Rect]:
    """The four places tried for a panel of ``width`` x ``height`` beside ``box``, in order."""
    return [
        Rect(box.x2 + GAP, box.y1, width, height),  # right
        Rect(box.x1 - GAP - width, box.y1, width, height),  # left
        Rect(box.x1, box.y2 + GAP, width, height),  # below
        Rect(box.x1, box.y1 - GAP - height, width, height),  # above
    ]


def label_rect(box: Box, label: tuple[float, float]) -> Rect:
    """Where a face's label sits: above its box, left-aligned (``label`` is (w, h))."""
    width, height = label
    return Rect(box.x1, box.y1 - height - 2, width, height + 2)


def place_panels(
    boxes: Sequence[Box],
    panel: tuple[float, float],
    frame: tuple[float, float],
    *,
    label: tuple[float, float] = (0.0, 0.0),
) -> list[Rect | None]:
    """A panel place for each box (None: no room, draw the compact form). ``panel`` is (w, h),
    ``frame`` is (width, height), ``label`` the (w, h) of the label drawn above each face."""
    frame_w, frame_h = frame
    faces = [Rect.around(b, GAP) for b in boxes]
    if label[0] > 0 and label[1] > 0:
        faces += [label_rect(b, label) for b in boxes]
    taken: list[Rect] = []
    out: list[Rect | None] = [None] * len(boxes)
    for index in sorted(range(len(boxes)), key=lambda i: -boxes[i].area):
        for place in candidates(boxes[index], *panel):
            inside = (
                place.x >= 0
                and place.y >= 0
                and place.x + place.w <= frame_w
                and place.y + place.h <= frame_h
            )
            if (
                inside
                and not any(place.overlaps(r) for r in faces)
                and not any(place.overlaps(r) for r in taken)
            ):
                out[index] = place
                taken.append(place)
                break
    return out
