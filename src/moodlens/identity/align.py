"""Face chips for the embedder: dlib's ``get_face_chip_details(shape, 150, 0.25)`` from 5 landmarks.

The embedding network was trained (by dlib) on 150x150 chips cut by ``get_face_chip_details``
with padding 0.25: a similarity transform (rotation, uniform scale, shift) that puts the face's
landmarks, in the least-squares sense, on dlib's *mean face shape* scaled into the chip. dlib fits
51 of the 68 iBUG points; YuNet gives 5 points, so the template here is the same mean face at the
5 places YuNet marks: each eye's centre (the mean of its 6 eye-contour points), the nose tip
(point 30) and the two mouth corners (points 48 and 54). The numbers are dlib's
``mean_face_shape_x`` / ``mean_face_shape_y`` (``dlib/image_transforms/interpolation.h``,
davisking/dlib), and each point ``m`` lands at ``(m + padding) / (1 + 2 * padding) * 150``.

Like ``find_similarity_transform`` there, the fit is Umeyama's closed-form least squares over all
5 points (rather than ``cv2.estimateAffinePartial2D``, whose default RANSAC may drop landmarks),
and like ``extract_image_chip`` a chip much smaller than its face is cut from a downsampled copy
(area averaging) so it does not alias. A detection without landmarks is cut from its box
(:func:`box_transform`).

Chips exist in memory only for the duration of one ``embed`` call.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.results import Detection

CHIP_SIZE = 150
CHIP_PADDING = 0.25

# dlib's mean face: average positions of the 68-point iBUG landmarks 17..67, in a unit frame.
# fmt: off
_MEAN_FACE_X = (
    0.000213256, 0.0752622, 0.18113, 0.29077, 0.393397, 0.586856, 0.689483, 0.799124,
    0.904991, 0.98004, 0.490127, 0.490127, 0.490127, 0.490127, 0.36688, 0.426036,
    0.490127, 0.554217, 0.613373, 0.121737, 0.187122, 0.265825, 0.334606, 0.260918,
    0.182743, 0.645647, 0.714428, 0.793132, 0.858516, 0.79751, 0.719335, 0.254149,
    0.340985, 0.428858, 0.490127, 0.551395, 0.639268, 0.726104, 0.642159, 0.556721,
    0.490127, 0.423532, 0.338094, 0.290379, 0.428096, 0.490127, 0.552157, 0.689874,
    0.553364, 0.490127, 0.42689,
)
_MEAN_FACE_Y = (
    0.106454, 0.038915, 0.0187482, 0.0344891, 0.0773906, 0.0773906, 0.0344891,
    0.0187482, 0.038915, 0.106454, 0.203352, 0.307009, 0.409805, 0.515625, 0.587326,
    0.609345, 0.628106, 0.609345, 0.587326, 0.216423, 0.178758, 0.179852, 0.231733,
    0.245099, 0.244077, 0.231733, 0.179852, 0.178758, 0.216423, 0.244077, 0.245099,
    0.780233, 0.745405, 0.727388, 0.742578, 0.727388, 0.745405, 0.780233, 0.864805,
    0.902192, 0.909281, 0.902192, 0.864805, 0.784792, 0.778746, 0.785343, 0.778746,
    0.784792, 0.824182, 0.831803, 0.824182,
)
# fmt: on
#: iBUG indices making each of YuNet's 5 landmarks, in ``results.LANDMARK_NAMES`` order: the eye
#: on the image's left (the person's right eye, 36-41), the other eye (42-47), the nose tip (30),
#: the mouth corner on the image's left (48), the other mouth corner (54).
_IBUG_POINTS = (range(36, 42), range(42, 48), (30,), (48,), (54,))


def mean_face_template(size: int = CHIP_SIZE, padding: float = CHIP_PADDING) -> npt.NDArray[np.float64]:
    """Where the 5 landmarks go in a ``size`` x ``size`` chip: (5, 2) pixel coordinates."""
    points = []
    for indices in _IBUG_POINTS:
        x = np.mean([_MEAN_FACE_X[i - 17] for i in indices])
        y = np.mean([_MEAN_FACE_Y[i - 17] for i in indices])
        points.append(((x + padding) / (1 + 2 * padding) * size, (y + padding) / (1 + 2 * padding) * size))
    return np.asarray(points, dtype=np.float64)


TEMPLATE = mean_face_template()

#: Without landmarks: the chip is a square centred at (box centre + offset x box size), of side
#: ``_BOX_SIDE`` x the box's width: the median, over the 57 YuNet detections of the shared test
#: photos, of the landmark-based chip in box units (geometry only; see docs/identity.md).
_BOX_CENTRE_OFFSET = (0.0, 0.055)
_BOX_SIDE = 1.27


def similarity_transform(src: npt.ArrayLike, dst: npt.ArrayLike) -> npt.NDArray[np.float64] | None:
    """The least-squares similarity ``dst ~ s R src + t`` (Umeyama 1991) as a 2x3 matrix; None
    when the points are degenerate (all the same, or not finite)."""
    a = np.asarray(src, dtype=np.float64)
    b = np.asarray(dst, dtype=np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return None
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    da, db = a - mu_a, b - mu_b
    var_a = float((da**2).sum()) / len(a)
    if var_a <= 0:
        return None
    cov = db.T @ da / len(a)
    u, d, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((d * sign).sum()) / var_a
    if not np.isfinite(scale) or scale <= 1e-6:
        return None
    shift = mu_b - scale * rotation @ mu_a
    return np.hstack([scale * rotation, shift[:, None]])


def box_transform(detection: Detection, size: int = CHIP_SIZE) -> npt.NDArray[np.float64]:
    """Chip -> image transform from the box alone (no rotation): the fallback without landmarks."""
    box = detection.box
    cx = (box.x1 + box.x2) / 2 + _BOX_CENTRE_OFFSET[0] * box.width
    cy = (box.y1 + box.y2) / 2 + _BOX_CENTRE_OFFSET[1] * box.height
    scale = _BOX_SIDE * box.width / size
    half = (size - 1) / 2
    return np.asarray([[scale, 0.0, cx - scale * half], [0.0, scale, cy - scale * half]])


def chip_transform(detection: Detection, size: int = CHIP_SIZE) -> npt.NDArray[np.float64]:
    """The 2x3 chip -> image transform of one detection: from its landmarks, else its box."""
    if detection.landmarks is not None:
        template = TEMPLATE if size == CHIP_SIZE else mean_face_template(size)
        matrix = similarity_transform(template, detection.landmarks)
        if matrix is not None:
            return matrix
    return box_transform(detection, size)


def extract_chip(
    image: npt.NDArray[np.uint8], chip_to_image: npt.NDArray[np.float64], size: int = CHIP_SIZE
) -> npt.NDArray[np.uint8]:
    """Cut a ``size`` x ``size`` chip (bilinear; zeros outside the image), downsampling the face's
    region first when the chip is less than half its size (dlib does the same, by a pyramid)."""
    m = np.vstack([chip_to_image, [0.0, 0.0, 1.0]])
    scale = float(np.hypot(m[0, 0], m[1, 0]))  # image pixels per chip pixel
    if scale > 2.0:
        corners = m @ np.asarray([[0, 0, 1], [size - 1, 0, 1], [0, size - 1, 1], [size - 1, size - 1, 1]]).T
        height, width = image.shape[:2]
        x0 = max(0, int(np.floor(corners[0].min())) - 1)
        y0 = max(0, int(np.floor(corners[1].min())) - 1)
        x1 = min(width, int(np.ceil(corners[0].max())) + 2)
        y1 = min(height, int(np.ceil(corners[1].max())) + 2)
        if x1 <= x0 or y1 <= y0:  # the chip lies wholly outside the image
            return np.zeros((size, size, 3), dtype=np.uint8)
        region = image[y0:y1, x0:x1]
        new_w = max(1, round(region.shape[1] / scale))
        new_h = max(1, round(region.shape[0] / scale))
        image = np.asarray(cv2.resize(region, (new_w, new_h), interpolation=cv2.INTER_AREA), np.uint8)
        fx, fy = new_w / region.shape[1], new_h / region.shape[0]
        # pixel centres: x_small = (x - x0 + 0.5) * fx - 0.5
        to_small = np.asarray(
            [[fx, 0.0, (0.5 - x0) * fx - 0.5], [0.0, fy, (0.5 - y0) * fy - 0.5], [0.0, 0.0, 1.0]]
        )
        m = to_small @ m
    chip = cv2.warpAffine(
        image,
        m[:2],
        (size, size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.asarray(chip, dtype=np.uint8)


def face_chips(
    image: npt.NDArray[np.uint8], detections: Sequence[Detection], size: int = CHIP_SIZE
) -> npt.NDArray[np.uint8]:
    """The aligned chips of ``detections`` in ``image`` (uint8 BGR, HxWx3): (n, size, size, 3) BGR."""
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(
            f"expected a uint8 BGR image (H, W, 3), got {getattr(image, 'dtype', type(image))} {shape}"
        )
    chips = np.zeros((len(detections), size, size, 3), dtype=np.uint8)
    for i, det in enumerate(detections):
        chips[i] = extract_chip(image, chip_transform(det, size), size)
    return chips
