"""Helpers shared by the benchmark scripts: data locations, the peer environment, timing."""

from __future__ import annotations

import csv
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
MEDIA = Path(os.environ.get("MOODLENS_MEDIA", SHARED / "media"))
FER2013 = Path(os.environ.get("MOODLENS_FER2013", SHARED / "data" / "fer2013" / "fer2013.csv.gz"))
PEER_PYTHON = Path(os.environ.get("MOODLENS_BENCH_PYTHON", ROOT / ".venv-bench" / "bin" / "python"))


def require(path: Path, what: str) -> Path:
    if not path.exists():
        sys.exit(f"{what} not found at {path}; see the benchmark's docstring")
    return path


def manifest_photos() -> list[dict[str, str]]:
    with (require(MEDIA, "test media") / "MANIFEST.csv").open(newline="") as handle:
        return [r for r in csv.DictReader(handle) if r["faces"].isdigit()]


def median_ms(fn: Callable[[], object], repeat: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def run_peer(*args: str) -> dict[str, Any] | None:
    """Run benchmarks/peers/fer_peer.py in the peer environment; None when it is not set up."""
    if not PEER_PYTHON.exists():
        print(f"(fer peer skipped: {PEER_PYTHON} missing; run benchmarks/peers/setup.sh)", file=sys.stderr)
        return None
    script = Path(__file__).parent / "peers" / "fer_peer.py"
    done = subprocess.run([str(PEER_PYTHON), str(script), *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(f"(fer peer failed: {done.stderr.strip()[-500:]})", file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def machine() -> str:
    import platform

    return f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
