"""The in-browser engine's pure JavaScript pieces under Node's test runner (tests/js/*.test.mjs):
resizing, alignment and crops, YuNet decoding and NMS, the tracker and its look, smoothing and the
uncertain rule, the headline, calibration, shot cuts, each against fixtures the Python side wrote
(tests/js/make_fixtures.py)."""

from __future__ import annotations

import base64
import hashlib
import re
import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
TESTS = sorted((ROOT / "tests" / "js").glob("*.test.mjs"))
#: Node 20.19 runs ES modules in .js files without a package.json saying so (module detection).
MIN_NODE = (20, 19)


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip(
            "node not found: the engine's JavaScript tests need Node.js >= 20.19 (apt-get install nodejs)"
        )
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.match(r"v(\d+)\.(\d+)", version)
    if found is None or (int(found.group(1)), int(found.group(2))) < MIN_NODE:
        pytest.skip(f"node {version.strip()} is too old: the engine's JavaScript tests need >= 20.19")
    return node


def test_engine_js_units() -> None:
    node = _node()
    assert TESTS, "no tests/js/*.test.mjs"
    done = subprocess.run(
        [node, "--test", *map(str, TESTS)], capture_output=True, text=True, cwd=ROOT, timeout=300, check=False
    )
    failed = "\n".join(line for line in done.stdout.splitlines() if line.startswith("not ok"))
    assert done.returncode == 0, (
        f"node --test failed:\n{failed}\n\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
    )
    assert re.search(r"^# fail 0$", done.stdout, re.MULTILINE)
    passed = re.search(r"^# pass (\d+)$", done.stdout, re.MULTILINE)
    assert passed is not None and int(passed.group(1)) >= len(TESTS)


def _normal(value: Any) -> Any:
    """A fixture with its images as digests of their bytes (zlib may compress the same bytes
    differently elsewhere) and its numbers rounded (a last bit of a float may differ too)."""
    if isinstance(value, dict):
        return {k: _normal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    if isinstance(value, str) and len(value) > 40:
        try:
            return hashlib.sha256(zlib.decompress(base64.b64decode(value))).hexdigest()
        except (ValueError, zlib.error):
            return value
    return value


def test_fixtures_are_current() -> None:
    """The fixtures are what make_fixtures.py writes now: a change on the Python side that the
    fixtures do not show would let the JavaScript drift unnoticed."""
    import json
    import sys

    sys.path.insert(0, str(ROOT / "tests" / "js"))
    try:
        import make_fixtures
    finally:
        sys.path.pop(0)
    import numpy as np

    rng = np.random.default_rng(31)
    for name, make in make_fixtures.FIXTURES:
        fresh = _normal(json.loads(json.dumps(make(rng))))
        stored = _normal(
            json.loads((ROOT / "tests" / "js" / "fixtures" / f"{name}.json").read_text(encoding="utf-8"))
        )
        assert fresh == stored, f"tests/js/fixtures/{name}.json is stale: run tests/js/make_fixtures.py"
