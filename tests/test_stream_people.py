"""The live stream with ``"link_people": true``: the stop summary counts people, not tracks."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import cv2
import pytest

pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")

from fastapi.testclient import TestClient

from moodlens import Analyzer
from moodlens.classification import load_classifier
from moodlens.detection import create_detector
from moodlens.service import ServiceSettings, create_app


def _send_clip(ws: object, clip: Path) -> None:
    capture = cv2.VideoCapture(str(clip))
    fps = capture.get(cv2.CAP_PROP_FPS)
    index = 0
    while True:
        ok, image = capture.read()
        if not ok:
            break
        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        ws.send_bytes(struct.pack("<d", index * 1000 / fps) + jpeg.tobytes())  # type: ignore[attr-defined]
        assert ws.receive_json()["type"] == "result"  # type: ignore[attr-defined]
        index += 1
    capture.release()


@pytest.mark.slow
@pytest.mark.parametrize("link", [True, False])
def test_stop_summary_counts_people_and_tracks(media: Path, tmp_path: Path, link: bool) -> None:
    """The Hamilton clip cuts away from the singer and back: linked, that is one person of two
    tracks, recorded in the history as such; not linked, every track counts as a person."""
    db = f"sqlite:///{tmp_path / 'h.sqlite3'}"
    analyzer = Analyzer(create_detector(), load_classifier())
    app = create_app(ServiceSettings(db=db, max_fps=1000), analyzer=analyzer)
    with (
        TestClient(app, base_url="http://127.0.0.1") as client,
        client.websocket_connect("ws://127.0.0.1/api/v1/stream") as ws,
    ):
        ws.send_text(json.dumps({"type": "start", "consent": True, "link_people": link}))
        started = ws.receive_json()
        assert started["link_people"] is link
        _send_clip(ws, media / "short_hamilton_clip.mp4")
        ws.send_text(json.dumps({"type": "stop"}))
        stopped = ws.receive_json()
    assert stopped["type"] == "stopped"
    assert "history_error" not in stopped
    tracks = [t["track_id"] for t in stopped["tracks"]]
    assert stopped["track_count"] == len(tracks) >= 5
    if not link:
        assert stopped["people"] == len(tracks)
        assert "people_summaries" not in stopped
        return
    people = stopped["people_summaries"]
    assert stopped["people"] == len(people) < len(tracks)
    assert sorted(t for p in people for t in p["track_ids"]) == sorted(tracks)
    from moodlens.store import HistoryStore

    store = HistoryStore(db)
    try:
        stored = store.people(stopped["session_id"])
    finally:
        store.close()
    assert len(stored) == len(people)
