"""What the server pays for live clients: browser mode (the page analyses, the server records) against
server mode (the page sends frames, the server analyses), the same clients, the same server.

    python benchmarks/bench_browser_load.py [--clients 20] [--fps 15] [--seconds 30]

Starts ``moodlens serve --db`` (a scratch SQLite history: browser mode records, so it needs one) as
its own process on loopback, then runs two phases of ``--clients`` concurrent WebSocket clients:

- **browser mode**: each client does what the live page does in browser mode with "Record history"
  on: ``start`` with ``"mode": "browser"``, then one ``observations`` message per analysed frame
  (the confirmed faces' track id, shown label and smoothed probabilities: here two faces, their
  readings taken from the real singer clip analysed once beforehand), at ``--fps``, then ``stop``;
- **server mode**: each client sends 640x480 JPEG frames of the singer clip at ``--fps`` with at most
  one in flight (as the page does), recording too.

For each phase: the server process's CPU time (user + system, from /proc) over the phase's wall
time, as a share of one core; what was recorded (observations or frames per second in all); and
the server's resident memory. The issue's target: browser mode under 10% of one core for 20
clients. Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from bench_service import frames_from_clip, rss_mib
from common import MEDIA, machine, require


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / ticks


def observed_faces(count: int = 90) -> list[list[dict[str, Any]]]:
    """Per frame, the observations the page would send for the singer clip's first frames: the
    faces the pipeline confirms, with their shown labels and smoothed probabilities."""
    import cv2

    from moodlens import Analyzer
    from moodlens.labels import LABELS
    from moodlens.pipeline.stream import StreamAnalyzer

    capture = cv2.VideoCapture(str(require(MEDIA / "short_hamilton_clip.mp4", "the singer clip")))
    stream = StreamAnalyzer(Analyzer())
    out: list[list[dict[str, Any]]] = []
    index = 0
    while len(out) < count:
        ok, image = capture.read()
        if not ok:
            break
        result = stream.process(
            np.asarray(image, np.uint8), timestamp_ms=index * 1000 / 30, frame_index=index
        )
        index += 1
        faces = []
        for face in result.faces:
            if face.track_id is None or face.smoothed is None or face.stable is None:
                continue
            values = [float(v) for v in face.smoothed]
            total = sum(values)
            faces.append(
                {
                    "track_id": face.track_id,
                    "stable_label": face.stable.label,
                    "smoothed_probabilities": {n: v / total for n, v in zip(LABELS, values, strict=True)},
                }
            )
        out.append(faces)
    capture.release()
    return out


async def browser_client(url: str, observed: list[list[dict[str, Any]]], fps: float, seconds: float) -> int:
    import websockets

    sent = 0
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "consent": True, "mode": "browser", "name": "load"}))
        started = json.loads(await ws.recv())
        if started.get("type") != "started":
            raise RuntimeError(f"browser mode refused: {started}")
        start = time.monotonic()
        tick = 0
        while time.monotonic() - start < seconds:
            await asyncio.sleep(max(0.0, start + tick / fps - time.monotonic()))
            t = (time.monotonic() - start) * 1000
            await ws.send(
                json.dumps({"type": "observations", "t": t, "faces": observed[tick % len(observed)]})
            )
            tick += 1
            sent += 1
        await ws.send(json.dumps({"type": "stop"}))
        while json.loads(await ws.recv()).get("type") != "stopped":
            pass
    return sent


async def server_client(url: str, frames: list[bytes], fps: float, seconds: float, k: int) -> int:
    import websockets

    processed = 0
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "consent": True, "name": "load"}))
        await ws.recv()
        start = time.monotonic()
        tick = 0
        in_flight: asyncio.Future[None] | None = None

        async def receive() -> None:
            nonlocal processed
            while True:
                message = json.loads(await ws.recv())
                if message["type"] in ("result", "error"):
                    processed += message["type"] == "result"
                    return

        while time.monotonic() - start < seconds:
            await asyncio.sleep(max(0.0, start + tick / fps - time.monotonic()))
            tick += 1
            if in_flight is not None and not in_flight.done():
                continue  # one frame in flight at most, as the page
            t = (time.monotonic() - start) * 1000
            await ws.send(struct.pack("<d", t) + frames[(tick + 7 * k) % len(frames)])
            in_flight = asyncio.ensure_future(receive())
        if in_flight is not None:
            await in_flight
        await ws.send(json.dumps({"type": "stop"}))
        while json.loads(await ws.recv()).get("type") != "stopped":
            pass
    return processed


async def phase(clients: list[Any]) -> list[int]:
    return list(await asyncio.gather(*clients))


def measure(pid: int, run: Any) -> tuple[float, float, list[int]]:
    """(wall seconds, CPU seconds of the server, the clients' counts) of one phase."""
    cpu0, wall0 = cpu_seconds(pid), time.monotonic()
    counts = asyncio.run(run())
    return time.monotonic() - wall0, cpu_seconds(pid) - cpu0, counts


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    if not Path("/proc/self/stat").exists():
        print("this benchmark reads /proc (Linux)", file=sys.stderr)
        return 2
    observed, frames = observed_faces(), frames_from_clip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    scratch = Path(tempfile.mkdtemp(prefix="moodlens-load-"))
    server = subprocess.Popen(
        [
            sys.executable, "-m", "moodlens.cli.main", "serve", "--port", str(port),
            "--max-fps", str(max(30.0, args.fps)), "--max-clients", str(args.clients),
            "--db", f"sqlite:///{scratch / 'history.sqlite3'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        url = f"ws://127.0.0.1:{port}/api/v1/stream"
        n, fps, seconds = args.clients, args.fps, args.seconds
        idle = rss_mib(server.pid)
        browser = measure(
            server.pid, lambda: phase([browser_client(url, observed, fps, seconds) for _ in range(n)])
        )
        after_browser = rss_mib(server.pid)
        served = measure(
            server.pid, lambda: phase([server_client(url, frames, fps, seconds, k) for k in range(n)])
        )
        after_server = rss_mib(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    faces = sum(len(f) for f in observed) / max(1, len(observed))
    print(
        f"# {n} clients at {fps:g} frames/s for {seconds:g} s each phase, on loopback; "
        f"browser mode sends {faces:.1f} faces per observations message (the singer clip); {machine()}"
    )
    print("| mode | server CPU (share of one core) | recorded in all | server memory after |")
    print("|---|---|---|---|")
    wall, cpu, counts = browser
    print(
        f"| browser (observations) | {100 * cpu / wall:.1f}% | {sum(counts) / wall:.0f} observations/s | {after_browser:.0f} MiB |"
    )
    wall, cpu, counts = served
    print(
        f"| server (JPEG frames) | {100 * cpu / wall:.1f}% | {sum(counts) / wall:.0f} frames/s analysed | {after_server:.0f} MiB |"
    )
    print(f"\nserver memory idle: {idle:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
