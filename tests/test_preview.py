"""The browser live view of ``moodlens camera``: a private MJPEG page on loopback."""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import cv2
import numpy as np
import pytest

from moodlens.pipeline.preview import BrowserPreview


def _first_jpeg(url: str, timeout: float = 10) -> np.ndarray:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        assert response.headers["Content-Type"].startswith("multipart/x-mixed-replace")
        head = b""
        while b"\r\n\r\n" not in head:
            head += response.read(1)
        length = int(
            next(line for line in head.decode().splitlines() if line.startswith("Content-Length")).split(":")[
                1
            ]
        )
        image = cv2.imdecode(np.frombuffer(response.read(length), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    return image


def test_nothing_is_encoded_while_nobody_watches() -> None:
    with BrowserPreview() as preview:
        preview.show(np.zeros((20, 20, 3), np.uint8))
        assert preview.viewers == 0
        assert preview._jpeg is None


def test_the_page_and_the_stream_show_the_newest_frame() -> None:
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:, :40] = (0, 0, 255)
    with BrowserPreview(title="camera <0>") as preview:
        assert preview.url.startswith("http://127.0.0.1:")
        page = urllib.request.urlopen(preview.url, timeout=5).read().decode()
        assert "stream.mjpg" in page and "camera &lt;0&gt;" in page and "apparent" in page.lower()
        stop = threading.Event()

        def feed() -> None:
            while not stop.is_set():
                preview.show(frame)
                time.sleep(0.02)

        feeder = threading.Thread(target=feed)
        feeder.start()
        try:
            image = _first_jpeg(preview.url + "stream.mjpg")
        finally:
            stop.set()
            feeder.join()
        assert image.shape == (60, 80, 3)
        assert image[30, 10, 2] > 200 and image[30, 70, 2] < 50


def test_other_paths_and_a_wrong_token_are_not_found() -> None:
    with BrowserPreview() as preview:
        base = preview.url.rsplit("/", 2)[0]
        for path in ("/", "/stream.mjpg", "/wrongtoken/", "/wrongtoken/stream.mjpg"):
            with pytest.raises(urllib.error.HTTPError) as exc:
                urllib.request.urlopen(base + path, timeout=5)
            assert exc.value.code == 404


def test_stop_on_the_page_asks_the_camera_to_stop() -> None:
    with BrowserPreview() as preview:
        assert not preview.stop_requested
        urllib.request.urlopen(
            urllib.request.Request(preview.url + "stop", method="POST", data=b""), timeout=5
        )
        assert preview.stop_requested


def test_closing_ends_open_streams() -> None:
    preview = BrowserPreview().__enter__()
    errors: list[BaseException] = []

    def watch() -> None:
        try:
            with urllib.request.urlopen(preview.url + "stream.mjpg", timeout=10) as response:
                response.read()
        except BaseException as exc:
            errors.append(exc)

    viewer = threading.Thread(target=watch)
    viewer.start()
    for _ in range(100):
        if preview.viewers:
            break
        time.sleep(0.02)
    started = time.monotonic()
    preview.close()
    viewer.join(timeout=10)
    assert not viewer.is_alive()
    assert time.monotonic() - started < 5
    with pytest.raises(ValueError, match="quality"):
        BrowserPreview(quality=0)
