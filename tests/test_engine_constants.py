"""One truth for both paths: every constant the in-browser engine reads from
``moodlens/shared_constants.json`` equals the Python pipeline's own default.

The Python modules keep their defaults in code (dataclass fields and module constants); this test
is what ties them to the JSON. Change a default on one side only and it fails, naming the key.
A literal that has no name in Python yet is checked in its function's source.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from importlib import resources
from typing import Any

import numpy as np
import pytest

from moodlens.classification import preprocess
from moodlens.classification.registry import DEFAULT_MODEL_NAME, SHIPPED_MODELS
from moodlens.detection import DEFAULT_THRESHOLDS, create_detector, yunet
from moodlens.detection.base import DetectorSettings
from moodlens.labels import LABELS, UNCERTAIN, UNCERTAIN_BELOW
from moodlens.pipeline import cuts, stream, tracking
from moodlens.pipeline.headline import HeadlineSettings
from moodlens.pipeline.smoothing import SmoothingSettings

SHARED: dict[str, Any] = json.loads(
    resources.files("moodlens").joinpath("shared_constants.json").read_text(encoding="utf-8")
)


def _defaults(cls: type) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
    return out


@pytest.mark.parametrize(
    ("section", "cls"),
    [
        ("tracker", tracking.TrackerSettings),
        ("smoothing", SmoothingSettings),
        ("headline", HeadlineSettings),
        ("cuts", cuts.CutSettings),
    ],
)
def test_settings_dataclasses_equal_the_json(section: str, cls: type) -> None:
    shared = SHARED[section]
    for name, value in _defaults(cls).items():
        assert name in shared, f"{cls.__name__}.{name} is missing from shared_constants.json [{section}]"
        assert shared[name] == value, f"{section}.{name}: Python {value!r}, JSON {shared[name]!r}"


def test_stream_settings_equal_the_json() -> None:
    defaults = _defaults(stream.StreamSettings)
    for name in ("detect_every", "classify_every_ms", "rescue_threshold"):
        assert SHARED["stream"][name] == defaults[name], name


def test_labels_and_uncertain_rule() -> None:
    assert tuple(SHARED["labels"]) == LABELS
    assert SHARED["uncertain"] == {"label": UNCERTAIN, "below": UNCERTAIN_BELOW}
    assert SHARED["headline"]["uncertain_below"] == UNCERTAIN_BELOW


def test_detector_constants() -> None:
    shared = SHARED["detector"]
    assert shared["model"] == yunet.MODEL_FILE
    assert tuple(shared["strides"]) == yunet.STRIDES
    assert shared["nms_iou"] == yunet.NMS_IOU
    assert shared["top_k"] == yunet.TOP_K
    assert shared["native_min_face"] == yunet.NATIVE_MIN_FACE
    assert shared["threshold"] == DEFAULT_THRESHOLDS["yunet"]
    settings = DetectorSettings()
    assert (shared["min_face"], shared["max_side"]) == (settings.min_face, settings.max_side)
    made = inspect.signature(create_detector).parameters
    assert (shared["min_face"], shared["max_side"]) == (made["min_face"].default, made["max_side"].default)
    # The padding: a 33 x 65 image becomes 64 x 96.
    pad = shared["pad_multiple"]
    assert yunet._padded(np.zeros((33, 65, 3), np.uint8)).shape[2:] == (2 * pad, 3 * pad)
    assert f"< {shared['smallest_scan']}" in inspect.getsource(yunet.YuNetDetector.detect)


def test_crop_constants() -> None:
    shared = SHARED["crop"]
    assert np.array_equal(np.array(shared["fer_template"]), preprocess.FER_TEMPLATE)
    assert shared["box_centre_shift"] == preprocess.BOX_CENTRE_SHIFT
    assert f"zoom < {shared['area_below_zoom']}" in inspect.getsource(preprocess._warp)


def test_classifier_is_the_default_shipped_model() -> None:
    assert SHARED["classifier"]["model"] == SHIPPED_MODELS[DEFAULT_MODEL_NAME]
    assert SHARED["classifier"]["metadata"] == SHIPPED_MODELS[DEFAULT_MODEL_NAME].replace(".onnx", ".json")


def test_tracker_appearance_and_cut_constants() -> None:
    assert tuple(SHARED["tracker"]["hist_bins"]) == tracking._HIST_BINS
    assert SHARED["tracker"]["hist_side"] == tracking._HIST_SIDE
    assert SHARED["cuts"]["thumb_width"] == cuts.THUMB_WIDTH


def test_rescue_literals_are_the_json_values() -> None:
    source = inspect.getsource(stream.StreamAnalyzer._rescue)
    rescue = SHARED["stream"]["rescue"]
    for fragment in (
        f"iou(expected) > {rescue['skip_iou']}",
        f"{rescue['window_margin']} * side",
        f"window.width < {rescue['min_window']}",
        f"min(1.0, {rescue['scan_side']} / side)",
        f"iou(d.box) > {rescue['overlap_iou']}",
        f"inside.width < {rescue['min_inside']}",
    ):
        assert fragment in source, f"stream._rescue no longer contains {fragment!r}: update the JSON"
    assert rescue["window_grid"] == stream._RESCUE_GRID
    assert tuple(rescue["scale_factors"]) == stream._RESCUE_SCALES
    assert rescue["scale_factors"] == pytest.approx([2 ** (-r / 4) for r in range(4)], rel=1e-15)
    assert rescue["min_iou"] == stream._RESCUE_MIN_IOU


def test_follow_constants_are_the_json_values() -> None:
    """Following faces between detections (StreamAnalyzer._follow, engine/follow.js)."""
    follow = SHARED["stream"]["follow"]
    assert follow["side"] == stream._FOLLOW_SIDE
    assert follow["min_score"] == stream._FOLLOW_MIN_SCORE
    assert follow["min_contrast"] == stream._FOLLOW_MIN_CONTRAST
    source = inspect.getsource(stream.StreamAnalyzer._follow)
    assert f"margin = {follow['margin']} * max(box.width, box.height)" in source


def test_an_installed_package_carries_the_engine() -> None:
    """pyproject's package-data globs reach every file the page needs: the engine's modules and
    pages, the vendored runtime with its licence, the shared constants and the models."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    package = root / "src" / "moodlens"
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"][
        "moodlens"
    ]
    carried = {path for pattern in globs for path in package.glob(pattern) if path.is_file()}
    needed = [
        package / "shared_constants.json",
        *(package / "service" / "static" / "engine").iterdir(),
        *(package / "service" / "static" / "vendor" / "onnxruntime-web").iterdir(),
        package / "models" / SHARED["detector"]["model"],
        package / "models" / SHARED["classifier"]["model"],
        package / "models" / SHARED["classifier"]["metadata"],
    ]
    missing = [str(p.relative_to(package)) for p in needed if p.is_file() and p not in carried]
    assert not missing, f"not in pyproject's package-data: {missing}"


def test_the_server_serves_the_engine_what_it_needs() -> None:
    """In process: the models from the package (types, ETags, caching), the shared constants, the
    runtime, and the engine's pages cross-origin isolated with WebAssembly allowed."""
    pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
    from fastapi.testclient import TestClient

    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.service import ServiceSettings, create_app

    app = create_app(ServiceSettings(), analyzer=Analyzer(FakeDetector([]), FakeClassifier()))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        index = client.get("/models/index.json").json()["files"]
        for name in (
            SHARED["detector"]["model"],
            SHARED["classifier"]["model"],
            SHARED["classifier"]["metadata"],
        ):
            assert name in index
        entry = index[SHARED["classifier"]["model"]]
        versioned = client.get(entry["url"])
        assert versioned.status_code == 200
        assert versioned.headers["content-type"] == "application/octet-stream"
        assert "immutable" in versioned.headers["cache-control"]
        assert len(versioned.content) == entry["bytes"]
        plain = client.get("/models/crowd.json")
        assert plain.headers["content-type"] == "application/json"
        assert plain.headers["cache-control"] == "no-cache"
        again = client.get("/models/crowd.json", headers={"if-none-match": plain.headers["etag"]})
        assert again.status_code == 304
        stale = client.get("/models/crowd.onnx?v=0000")
        assert stale.status_code == 200 and stale.headers["cache-control"] == "no-cache"
        assert client.get("/models/../labels.py").status_code == 404
        assert client.get("/models/LICENSE-yunet").status_code == 404
        assert client.get("/engine/constants.json").json() == SHARED
        wasm = client.get("/engine/ort/ort-wasm-simd-threaded.wasm")
        assert wasm.headers["content-type"] == "application/wasm"
        assert wasm.headers["cross-origin-embedder-policy"] == "require-corp"
        assert client.get("/engine/ort/SOURCE").status_code == 404
        page = client.get("/engine/test")
        assert page.headers["cross-origin-opener-policy"] == "same-origin"
        assert page.headers["cross-origin-embedder-policy"] == "require-corp"
        assert "'wasm-unsafe-eval'" in page.headers["content-security-policy"]
        assert "'unsafe-eval'" not in page.headers["content-security-policy"].replace(
            "'wasm-unsafe-eval'", ""
        )
        assert client.get("/engine/nothing").status_code == 404


def test_the_live_page_may_run_the_engine_with_threads() -> None:
    """The live page analyses in the browser by default: it is cross-origin isolated (WebAssembly
    threads need SharedArrayBuffer) and its policy allows compiling WebAssembly and the runtime's
    worker threads, and nothing else that evaluates code or runs inline script; every file it loads
    is its own server's (same origin, so require-corp blocks none)."""
    pytest.importorskip("fastapi", reason="the web app needs the [serve] extra")
    import re
    from pathlib import Path

    from fastapi.testclient import TestClient

    from moodlens import Analyzer, FakeClassifier, FakeDetector
    from moodlens.service import ServiceSettings, create_app

    app = create_app(ServiceSettings(), analyzer=Analyzer(FakeDetector([]), FakeClassifier()))
    with TestClient(app, base_url="http://127.0.0.1") as client:
        page = client.get("/")
        headers = page.headers
        assert headers["cross-origin-opener-policy"] == "same-origin"
        assert headers["cross-origin-embedder-policy"] == "require-corp"
        assert headers["cache-control"] == "no-store"
        policy = headers["content-security-policy"]
        assert "'wasm-unsafe-eval'" in policy and "worker-src 'self' blob:" in policy
        assert "'unsafe-eval'" not in policy.replace("'wasm-unsafe-eval'", "")
        assert "'unsafe-inline'" not in policy.replace("style-src 'self' 'unsafe-inline'", "")
        assert "frame-ancestors 'none'" in policy
        # What the page and its modules load: all from this server.
        static = Path(__file__).resolve().parents[1] / "src" / "moodlens" / "service" / "static"
        loaded = set(re.findall(r'(?:src|href)="(/[^"]*)"', page.text))
        for module in [*static.glob("*.js"), *(static / "engine").glob("*.js")]:
            loaded |= {
                m for m in re.findall(r'"(/(?:static|engine|models|api)/[^"`$]*)"', module.read_text())
            }
        assert not [u for u in re.findall(r'(?:src|href)="([^"]*)"', page.text) if "//" in u]
        for url in sorted(loaded):
            if url.startswith("/static/"):
                assert client.get(url).status_code == 200, url


def test_a_browser_mode_session_is_recorded_with_the_engines_model() -> None:
    """The engine runs the shipped default classifier: its id is the one the server gives that
    classifier (what a session and a profile record), whatever model the server itself runs."""
    from moodlens.classification import default_classifier
    from moodlens.personal import model_id
    from moodlens.service.models_route import engine_model_id

    assert engine_model_id() == model_id(default_classifier())
