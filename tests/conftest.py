"""Shared fixtures. Data and media live outside the repository (../shared): tests that need them
skip with the reason when they are absent, so a fresh clone elsewhere still passes."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def media_dir() -> Path | None:
    path = Path(os.environ.get("MOODLENS_MEDIA", SHARED / "media"))
    return path if (path / "MANIFEST.csv").is_file() else None


def fer_csv() -> Path | None:
    path = Path(os.environ.get("MOODLENS_FER2013", SHARED / "data" / "fer2013" / "fer2013.csv.gz"))
    return path if path.is_file() else None


def ferplus_csv() -> Path | None:
    path = Path(os.environ.get("MOODLENS_FERPLUS", SHARED / "data" / "ferplus" / "fer2013new.csv"))
    return path if path.is_file() else None


@pytest.fixture(scope="session")
def media() -> Path:
    path = media_dir()
    if path is None:
        pytest.skip("test media not found: put ../shared/media beside the checkout or set MOODLENS_MEDIA")
    return path


@pytest.fixture(scope="session")
def manifest(media: Path) -> list[dict[str, str]]:
    with (media / "MANIFEST.csv").open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="session")
def ferplus() -> Path:
    path = ferplus_csv()
    if path is None:
        pytest.skip(
            "FERPlus labels not found: put them at ../shared/data/ferplus/fer2013new.csv "
            "or set MOODLENS_FERPLUS"
        )
    return path


PG_ENV = "MOODLENS_TEST_POSTGRES_URL"


def _postgres_database() -> Iterator[str]:
    """A scratch PostgreSQL database on the server of $MOODLENS_TEST_POSTGRES_URL, dropped
    afterwards; skips with the reason when there is none."""
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL not configured: set {PG_ENV} (e.g. postgresql+psycopg://user:pw@127.0.0.1/db)"
        )
    pytest.importorskip("psycopg", reason="PostgreSQL needs the [postgres] extra (psycopg)")
    from scratch_postgres import scratch_database

    with ExitStack() as stack:
        try:
            url = stack.enter_context(scratch_database(base, "moodlens_test"))
        except Exception as exc:  # an unreachable server or missing rights: say so and skip
            pytest.skip(f"cannot create a PostgreSQL test database at {PG_ENV}: {exc}")
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A history database URL: a SQLite file, then a scratch PostgreSQL database (the history
    store's tests run on both)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'history.sqlite3'}"
    else:
        yield from _postgres_database()


@pytest.fixture
def store(db_url: str) -> Iterator[Any]:
    """A HistoryStore on ``db_url`` (a short lock wait, so lock tests stay quick)."""
    pytest.importorskip("sqlalchemy", reason="the history store needs the [store] extra")
    from moodlens.store import HistoryStore

    s = HistoryStore(db_url, busy_timeout_ms=200)
    yield s
    s.close()


def opencv_frames(path: Path) -> list[np.ndarray]:
    """Every frame of a video file as OpenCV's default capture decodes it (the reference the
    tests compare moodlens's own reader and writer with)."""
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, image = capture.read()
        if not ok:
            break
        frames.append(image)
    capture.release()
    return frames


def wait_until_serving(
    url: str, proc: subprocess.Popen[str] | subprocess.Popen[bytes], seconds: float = 60
) -> None:
    """Until ``moodlens serve`` at ``url`` answers its health check; fails if it exits or stays silent."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            if proc.poll() is not None:
                output = proc.stdout.read() if proc.stdout else ""
                pytest.fail(f"the server exited ({proc.returncode}): {output!r}")
            time.sleep(0.3)
    proc.kill()
    pytest.fail(f"the server did not answer within {seconds:.0f} s")


@pytest.fixture(scope="session")
def fer_path() -> Path:
    path = fer_csv()
    if path is None:
        pytest.skip(
            "FER2013 not found: put it at ../shared/data/fer2013/fer2013.csv.gz or set MOODLENS_FER2013"
        )
    return path


@pytest.fixture(scope="session")
def contract_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small real ONNX model that follows the moodlens contract (gray 48x48 -> 7 probabilities),
    built with onnx.helper: a fixed linear map of the mean-centred pixels, then softmax."""
    return make_contract_model(tmp_path_factory.mktemp("models") / "linear.onnx")


def make_contract_model(
    path: Path,
    *,
    size: int = 48,
    channels: int = 1,
    output: str = "probabilities",
    labels: list[str] | None = None,
    output_gain: float = 1.0,
) -> Path:
    """``output_gain`` scales the softmax, as the rounding of a quantized output would."""
    onnx = pytest.importorskip("onnx", reason="building test models needs the onnx package ([dev] extra)")
    from onnx import TensorProto, helper, numpy_helper

    from moodlens.labels import LABELS

    rng = np.random.default_rng(0)
    features = channels * size * size
    weights = rng.normal(0, 0.01, size=(features, 7)).astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["input"], ["flat"], axis=1),
        helper.make_node("Div", ["flat", "scale"], ["scaled"]),
        helper.make_node("MatMul", ["scaled", "w"], ["logits"]),
    ]
    if output == "probabilities":
        if output_gain == 1.0:
            nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
        else:
            nodes.append(helper.make_node("Softmax", ["logits"], ["softmax"], axis=1))
            nodes.append(helper.make_node("Mul", ["softmax", "gain"], ["probabilities"]))
        out_name = "probabilities"
    else:
        out_name = "logits"
    graph = helper.make_graph(
        nodes,
        "contract",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info(out_name, TensorProto.FLOAT, ["batch", 7])],
        initializer=[
            numpy_helper.from_array(weights, "w"),
            numpy_helper.from_array(np.array([255.0], dtype=np.float32), "scale"),
            numpy_helper.from_array(np.array([output_gain], dtype=np.float32), "gain"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    meta = {
        "format": "moodlens-classifier/1",
        "name": path.stem,
        "labels": labels or list(LABELS),
        "input": {
            "name": "input",
            "size": [size, size],
            "colour": "gray" if channels == 1 else "bgr",
        },
        "output": {"name": out_name, "kind": output},
        "crop": {"scale": 1.0, "shift_y": 0.0, "align": True},
        "training": {"note": "test model"},
        "metrics": {},
    }
    path.with_suffix(".json").write_text(json.dumps(meta))
    return path


def sigkill_after_commits(code: str, db_url: str, *, commits: int = 60, timeout_s: float = 60.0) -> int:
    """Run ``code`` (a writer printing ``committed N`` after each commit) on ``db_url``, SIGKILL it
    once it has reported ``commits`` commits, and return the last count it reported."""
    import signal
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-c", code, db_url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    committed, started = 0, time.monotonic()
    assert proc.stdout is not None
    while time.monotonic() - started < timeout_s:
        line = proc.stdout.readline()
        if not line:
            break
        committed = int(line.split()[1])
        if committed >= commits:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert committed >= commits, proc.stderr.read() if proc.stderr else ""
    return committed
