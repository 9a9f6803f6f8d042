"""Turning what a user hands us (a path, bytes, an array) into a BGR uint8 image, safely.

Only formats whose size can be read from the header are decoded (JPEG, PNG, GIF, BMP, WebP, TIFF,
PNM), and the pixel count is checked *before* decoding, so a decompression bomb or a 30000x30000
image is refused without allocating gigabytes. A PNG's chunk lengths are checked against the file
(a chunk claiming 4 GB in a 100 KB file makes decoders allocate 4 GB). Only regular files are read
(a FIFO would block forever, ``/dev/zero`` would never end).
"""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path
from typing import Literal, TypeAlias

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.errors import ImageError

ImageInput: TypeAlias = str | os.PathLike[str] | bytes | bytearray | memoryview | npt.NDArray[np.generic]
Colour = Literal["bgr", "rgb"]

#: 100 megapixels: larger than any phone photo, small enough to decode on a laptop.
DEFAULT_MAX_PIXELS = 100_000_000
_MAX_FILE_BYTES = 512 * 1024 * 1024


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            # Jump to the next marker byte (a C-speed search; a byte loop took seconds on 10 MB).
            i = data.find(b"\xff", i)
            if i < 0:
                return None
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) do not.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + length
    return None


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """Width and height (tags 256, 257) of a TIFF's first image; None if unreadable."""
    order = "<" if data[:2] == b"II" else ">"
    try:
        (offset,) = struct.unpack(order + "I", data[4:8])
        if offset + 2 > len(data):
            return None
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        size: dict[int, int] = {}
        for k in range(min(count, 512)):
            entry = data[offset + 2 + 12 * k : offset + 14 + 12 * k]
            if len(entry) < 12:
                break
            tag, kind = struct.unpack(order + "HH", entry[:4])
            if tag in (256, 257):
                # SHORT (3) or LONG (4), stored in the value field.
                value = struct.unpack(
                    order + ("H" if kind == 3 else "I"), entry[8:10] if kind == 3 else entry[8:12]
                )[0]
                size[tag] = int(value)
        if 256 in size and 257 in size:
            return size[256], size[257]
    except struct.error:
        return None
    return None


def _pnm_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PBM/PGM/PPM header (``P1``..``P6``), comments skipped."""
    tokens: list[bytes] = []
    for line in data[:4096].splitlines()[1:]:
        tokens += line.split(b"#", 1)[0].split()
        if len(tokens) >= 2:
            try:
                return int(tokens[0]), int(tokens[1])
            except ValueError:
                return None
    first = data[:4096].split(b"#", 1)[0].split()
    if len(first) >= 3 and first[1].isdigit() and first[2].isdigit():
        return int(first[1]), int(first[2])
    return None


def png_chunks_fit(data: bytes) -> bool:
    """True when every PNG chunk's declared length fits in the file (up to the first IEND)."""
    i = 8
    while i + 8 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        if length > len(data) - i - 12:
            return False
        if data[i + 4 : i + 8] == b"IEND":
            return True
        i += 12 + length
    return True  # a file cut inside a chunk header: the truncation check reports it


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, JPEG, GIF, BMP, WebP, TIFF or PNM header; None if not recognised."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    if data[:2] == b"\xff\xd8":
        return _jpeg_size(data)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        return int(w), int(h)
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        chunk = data[12:16]
        if chunk == b"VP8X":
            w = 1 + int.from_bytes(data[24:27], "little")
            h = 1 + int.from_bytes(data[27:30], "little")
            return w, h
        if chunk == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
        if chunk == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
    if data[:4] in (b"II*\x00", b"MM\x00*") and len(data) >= 8:
        return _tiff_size(data)
    if len(data) >= 3 and data[:1] == b"P" and data[1:2] in b"123456" and data[2:3] in b" \t\r\n#":
        return _pnm_size(data)
    return None


def _looks_truncated(data: bytes) -> bool:
    if data[:2] == b"\xff\xd8":
        # A complete JPEG has its end-of-image marker after the last start-of-scan.
        last_scan = data.rfind(b"\xff\xda")
        return last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return b"IEND" not in data[-64:]
    return False


def _to_bgr8(image: np.ndarray, name: str) -> npt.NDArray[np.uint8]:
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = (np.clip(np.nan_to_num(image), 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ImageError(f"{name}: unsupported pixel type {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3 and image.shape[2] == 2:
        # Gray + alpha: make it gray + alpha in BGRA form and composite like any RGBA image.
        image = np.dstack([image[:, :, 0], image[:, :, 0], image[:, :, 0], image[:, :, 1]])
    if image.ndim == 2:
        return np.asarray(cv2.cvtColor(image, cv2.COLOR_GRAY2BGR), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 4:
        # Composite over white: transparent areas are usually background, not black.
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        rgb = image[:, :, :3].astype(np.float32)
        return np.asarray(rgb * alpha + 255.0 * (1.0 - alpha) + 0.5, dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return np.ascontiguousarray(image, dtype=np.uint8)
    raise ImageError(f"{name}: unsupported image shape {image.shape}")


def decode_image(
    data: bytes, *, name: str = "<bytes>", max_pixels: int = DEFAULT_MAX_PIXELS
) -> npt.NDArray[np.uint8]:
    """Decode encoded image bytes to BGR uint8, with checks that name ``name`` in every error."""
    if len(data) == 0:
        raise ImageError(f"{name}: the file is empty (0 bytes)")
    if len(data) > _MAX_FILE_BYTES:
        raise ImageError(f"{name}: the file is {len(data) / 2**20:.0f} MiB, over the 512 MiB limit")
    size = header_size(data)
    if size is None:
        raise ImageError(
            f"{name}: cannot decode the image (not a supported image format: JPEG, PNG, GIF, BMP, WebP, "
            "TIFF or PNM, with a readable size in its header)"
        )
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"{name}: the header gives an invalid size {w}x{h}")
    if w * h > max_pixels:
        raise ImageError(
            f"{name}: the image is {w}x{h} ({w * h / 1e6:.0f} MP), over the "
            f"{max_pixels / 1e6:.0f} MP limit (a decompression bomb or an oversized image); "
            "resize it first or raise the limit (--max-pixels)"
        )
    if _looks_truncated(data):
        raise ImageError(f"{name}: the image is truncated or corrupt (its end marker is missing)")
    if data[:8] == b"\x89PNG\r\n\x1a\n" and not png_chunks_fit(data):
        raise ImageError(f"{name}: the image is corrupt (a PNG chunk claims more bytes than the file has)")
    buffer = np.frombuffer(data, dtype=np.uint8)
    # JPEG: IMREAD_COLOR applies the EXIF orientation. Others: keep alpha and 16 bits to convert well.
    flags = cv2.IMREAD_COLOR if data[:2] == b"\xff\xd8" else cv2.IMREAD_UNCHANGED
    try:
        image = cv2.imdecode(buffer, flags)
    except cv2.error as exc:
        raise ImageError(f"{name}: cannot decode the image ({exc.msg.strip() or 'OpenCV error'})") from None
    if image is None:
        raise ImageError(f"{name}: cannot decode the image (corrupt or truncated)")
    if image.shape[0] * image.shape[1] > max_pixels:
        raise ImageError(f"{name}: the image is {image.shape[1]}x{image.shape[0]}, over the pixel limit")
    return _to_bgr8(image, name)


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> npt.NDArray[np.uint8]:
    """Read an image file as BGR uint8, raising :class:`ImageError` with the path and reason."""
    source = Path(path)
    name = str(source)
    try:
        info = source.stat()
        if stat.S_ISDIR(info.st_mode):
            raise ImageError(f"{name}: is a folder, not an image")
        if not stat.S_ISREG(info.st_mode):
            # A FIFO blocks forever, a device such as /dev/zero never ends: regular files only.
            raise ImageError(f"{name}: not a regular file (a pipe, socket or device), not an image")
        if info.st_size > _MAX_FILE_BYTES:
            raise ImageError(f"{name}: the file is {info.st_size / 2**20:.0f} MiB, over the 512 MiB limit")
        with source.open("rb") as handle:
            data = handle.read(_MAX_FILE_BYTES + 1)
        if len(data) > _MAX_FILE_BYTES:
            raise ImageError(f"{name}: the file grew past the 512 MiB limit while it was read")
    except FileNotFoundError:
        raise ImageError(f"{name}: no such file") from None
    except PermissionError:
        raise ImageError(f"{name}: permission denied") from None
    except IsADirectoryError:
        raise ImageError(f"{name}: is a folder, not an image") from None
    except OSError as exc:
        raise ImageError(f"{name}: cannot read the file ({exc.strerror or exc})") from None
    except ValueError as exc:  # e.g. an embedded NUL byte in the path
        raise ImageError(f"{name!r}: not a usable path ({exc})") from None
    return decode_image(data, name=name, max_pixels=max_pixels)


def as_bgr(
    image: npt.NDArray[np.generic], *, colour: Colour = "bgr", name: str = "<array>"
) -> npt.NDArray[np.uint8]:
    """A numpy image (gray, BGR/RGB, BGRA/RGBA; uint8, uint16 or float 0..1) as BGR uint8."""
    if not isinstance(image, np.ndarray):
        raise ImageError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim not in (2, 3) or image.size == 0:
        raise ImageError(f"{name}: expected an (H,W), (H,W,1), (H,W,3) or (H,W,4) array, got {image.shape}")
    if colour not in ("bgr", "rgb"):
        raise ValueError(f"colour must be 'bgr' or 'rgb', got {colour!r}")
    if colour == "rgb" and image.ndim == 3 and image.shape[2] in (3, 4):
        image = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    return _to_bgr8(image, name)


def load_image(
    source: ImageInput, *, colour: Colour = "bgr", max_pixels: int = DEFAULT_MAX_PIXELS
) -> npt.NDArray[np.uint8]:
    """Any accepted input -> BGR uint8. ``colour`` says how to read a 3/4-channel array."""
    if isinstance(source, np.ndarray):
        return as_bgr(source, colour=colour)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return decode_image(bytes(source), max_pixels=max_pixels)
    if isinstance(source, (str, os.PathLike)):
        return read_image(source, max_pixels=max_pixels)
    raise ImageError(f"cannot read an image from a {type(source).__name__}; pass a path, bytes or an array")
