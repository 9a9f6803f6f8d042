"""Face alignment and cropping: cut each face out so that it looks like a FER2013 image.

The 5-point template below is where libfacedetection's YuNet puts the landmarks on FER2013
images (median over 1,439 training images, mirrored to be symmetric; see docs/model-contract.md),
so aligned crops share the training data's framing, scale and upright pose.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.classification.metadata import CropSpec
from moodlens.results import Detection

#: Landmarks (eye, eye, nose, mouth corner, mouth corner) in a unit square FER2013-like frame.
FER_TEMPLATE = np.array(
    [[0.314, 0.378], [0.674, 0.378], [0.494, 0.589], [0.348, 0.734], [0.640, 0.734]],
    dtype=np.float64,
)
#: Without landmarks: a YuNet box is about as tall as a FER2013 frame, and its centre sits
#: 2.3% of the frame above the frame's centre.
BOX_CENTRE_SHIFT = 0.023


def similarity(src: npt.NDArray[np.floating], dst: npt.NDArray[np.floating]) -> npt.NDArray[np.float64]:
    """Least-squares similarity transform (rotation, uniform scale, shift) taking ``src`` to
    ``dst`` (Umeyama 1991), as a 2x3 matrix."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1
    rot = u @ np.diag(sign) @ vt
    scale = float((sig * sign).sum() / var_s) if var_s > 0 else 1.0
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rot
    matrix[:, 2] = mu_d - scale * rot @ mu_s
    return matrix


def face_transform(detection: Detection, spec: CropSpec, size: tuple[int, int]) -> npt.NDArray[np.float64]:
    """The 2x3 matrix taking image pixels to crop pixels for one face (crop ``size`` = (h, w))."""
    h, w = size
    if spec.align and detection.landmarks is not None:
        template = FER_TEMPLATE * np.array([w, h])
        matrix = similarity(detection.landmarks, template)
    else:
        box = detection.box
        side = box.height
        cx, cy = box.center
        cy += BOX_CENTRE_SHIFT * side
        zoom = w / side
        matrix = np.array([[zoom, 0.0, w / 2 - zoom * cx], [0.0, zoom * h / w, h / 2 - zoom * h / w * cy]])
    if spec.scale != 1.0 or spec.shift_y != 0.0:
        # Zoom out around the crop centre by ``scale`` and move the window down by ``shift_y``.
        centre = np.array([w / 2, h / 2])
        adjust = np.eye(3)
        adjust[:2, :2] /= spec.scale
        adjust[:2, 2] = centre - centre / spec.scale - np.array([0.0, spec.shift_y * h / spec.scale])
        matrix = (adjust @ np.vstack([matrix, [0, 0, 1]]))[:2]
    return matrix


def _warp(
    image: npt.NDArray[np.uint8], matrix: npt.NDArray[np.float64], size: tuple[int, int]
) -> npt.NDArray[np.uint8]:
    h, w = size
    zoom = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if zoom < 0.5:
        # Shrinking a large face in one bilinear warp aliases; area-resize the region first.
        inverse = cv2.invertAffineTransform(matrix)
        corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ inverse.T
        x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 2
        x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
        x0, y0 = max(0, x0), max(0, y0)
        x1, y1 = min(image.shape[1], x1), min(image.shape[0], y1)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            factor = min(1.0, 2.0 * zoom)
            region = image[y0:y1, x0:x1]
            rw, rh = (
                max(1, round(region.shape[1] * factor)),
                max(1, round(region.shape[0] * factor)),
            )
            region = np.asarray(cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA), dtype=np.uint8)
            fx, fy = rw / (x1 - x0), rh / (y1 - y0)
            to_region = np.array([[1 / fx, 0, x0], [0, 1 / fy, y0], [0, 0, 1]])
            matrix = (np.vstack([matrix, [0, 0, 1]]) @ to_region)[:2]
            image = region
    warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return np.asarray(warped, dtype=np.uint8)


def crop_faces(
    image: npt.NDArray[np.uint8],
    detections: Sequence[Detection],
    size: tuple[int, int],
    *,
    colour: str = "gray",
    spec: CropSpec | None = None,
) -> npt.NDArray[np.uint8]:
    """Aligned crops of every detection: (N, h, w) for gray, (N, h, w, 3) BGR/RGB otherwise."""
    spec = spec or CropSpec()
    h, w = size
    channels = 1 if colour == "gray" else 3
    out = np.empty((len(detections), h, w, channels), dtype=np.uint8)
    for i, det in enumerate(detections):
        crop = _warp(image, face_transform(det, spec, size), size)
        if colour == "gray":
            out[i, :, :, 0] = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
        elif colour == "rgb":
            out[i] = crop[:, :, ::-1]
        else:
            out[i] = crop
    return out[..., 0] if channels == 1 else out
