import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.errors import ImageError
from moodlens.images import as_bgr, decode_image, header_size, load_image, read_image


def _jpeg(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", image)
    assert ok
    return buf.tobytes()


def _png(image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", image)
    assert ok
    return buf.tobytes()


def _png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge size: a decompression bomb's signature."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    idat = zlib.compress(b"\x00" * 1000)
    chunk = b"IDAT" + idat
    data += struct.pack(">I", len(idat)) + chunk + struct.pack(">I", zlib.crc32(chunk))
    return data + struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match=r"nope\.jpg: no such file"):
        read_image(tmp_path / "nope.jpg")


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(ImageError, match=r"empty\.jpg: the file is empty"):
        read_image(path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a picture\n" * 20)
    with pytest.raises(
        ImageError, match=r"notes\.jpg: cannot decode the image \(not a supported image format"
    ):
        read_image(path)


def test_folder_is_not_an_image(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="is a folder"):
        read_image(tmp_path)


def test_truncated_jpeg(tmp_path: Path) -> None:
    data = _jpeg(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: the image is truncated"):
        read_image(path)


def test_truncated_png() -> None:
    data = _png(np.zeros((50, 50, 3), np.uint8))
    with pytest.raises(ImageError, match="truncated"):
        decode_image(data[:-20], name="x.png")


def test_decompression_bomb_is_refused_before_decoding() -> None:
    data = _png_declaring(20000, 20000)
    assert header_size(data) == (20000, 20000)
    with pytest.raises(ImageError, match=r"20000x20000 \(400 MP\), over the 100 MP limit"):
        decode_image(data, name="bomb.png")


def test_header_sizes() -> None:
    img = np.zeros((30, 40, 3), np.uint8)
    assert header_size(_jpeg(img)) == (40, 30)
    assert header_size(_png(img)) == (40, 30)
    _, bmp = cv2.imencode(".bmp", img)
    assert header_size(bmp.tobytes()) == (40, 30)
    assert header_size(b"garbage") is None


def test_sixteen_bit_png_becomes_8_bit() -> None:
    img = np.full((10, 10, 3), 65535, np.uint16)
    img[0, 0] = (256, 512, 1024)
    out = decode_image(_png(img))
    assert out.dtype == np.uint8 and out.shape == (10, 10, 3)
    assert out[5, 5].tolist() == [255, 255, 255]
    assert out[0, 0].tolist() == [1, 2, 4]


def test_gray_png_becomes_bgr() -> None:
    out = decode_image(_png(np.full((8, 9), 77, np.uint8)))
    assert out.shape == (8, 9, 3)
    assert (out == 77).all()


def test_rgba_png_is_composited_over_white() -> None:
    img = np.zeros((4, 4, 4), np.uint8)
    img[:2, :, 3] = 255  # top half opaque black, bottom half transparent
    out = decode_image(_png(img))
    assert out[0, 0].tolist() == [0, 0, 0]
    assert out[3, 3].tolist() == [255, 255, 255]


def test_gray_alpha_png(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image", reason="making a gray+alpha PNG needs Pillow ([dev] extra)")
    path = tmp_path / "la.png"
    image = pil.new("LA", (6, 4), (50, 255))
    image.putpixel((0, 0), (50, 0))  # one transparent pixel
    image.save(path)
    out = read_image(path)
    assert out.shape == (4, 6, 3)
    assert out[1, 1].tolist() == [50, 50, 50]
    assert out[0, 0].tolist() == [255, 255, 255]


def test_cmyk_jpeg(tmp_path: Path) -> None:
    pil = pytest.importorskip("PIL.Image", reason="making a CMYK JPEG needs Pillow ([dev] extra)")
    path = tmp_path / "cmyk.jpg"
    pil.new("CMYK", (32, 24), (0, 255, 255, 0)).save(path)  # pure red in CMYK
    out = read_image(path)
    assert out.shape == (24, 32, 3)
    b, g, r = out[12, 16].tolist()
    assert r > 200 and g < 60 and b < 60


def test_arrays_in_every_layout() -> None:
    rgb = np.zeros((5, 5, 3), np.uint8)
    rgb[..., 0] = 200  # red in RGB order
    assert as_bgr(rgb, colour="rgb")[0, 0].tolist() == [0, 0, 200]
    assert as_bgr(rgb)[0, 0].tolist() == [200, 0, 0]
    assert as_bgr(np.zeros((5, 5), np.uint8)).shape == (5, 5, 3)
    assert as_bgr(np.zeros((5, 5, 1), np.uint8)).shape == (5, 5, 3)
    rgba = np.zeros((5, 5, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = 255
    assert as_bgr(rgba, colour="rgb")[0, 0].tolist() == [0, 0, 255]
    assert as_bgr(np.full((2, 2, 3), 0.5, np.float32))[0, 0].tolist() == [128, 128, 128]


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((4, 4, 5), np.uint8),
        np.zeros(5, np.uint8),
        np.zeros((3, 3, 3), np.int64),
    ],
)
def test_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ImageError):
        as_bgr(bad)


def test_load_image_dispatch(tmp_path: Path) -> None:
    img = np.full((6, 7, 3), 10, np.uint8)
    path = tmp_path / "a.png"
    path.write_bytes(_png(img))
    assert load_image(path).shape == (6, 7, 3)
    assert load_image(str(path)).shape == (6, 7, 3)
    assert load_image(path.read_bytes()).shape == (6, 7, 3)
    assert load_image(img) is not None
    with pytest.raises(ImageError, match="cannot read an image from a int"):
        load_image(5)  # type: ignore[arg-type]
