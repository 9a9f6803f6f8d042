"""Load on the web app: concurrent WebSocket clients streaming 640x480 JPEG frames on loopback.

    python benchmarks/bench_service.py [--clients 8] [--fps 15] [--seconds 120] [--warmup 15]

Starts ``moodlens serve`` as its own process (default models, no history), warms it up with the
same clients for --warmup seconds (the first frames size ONNX Runtime's arenas and the allocator's
pools), then runs the clients for the given time. Each client keeps at most one frame in flight, as
the browser page does: a frame due while the previous one is unanswered is dropped on the client.
Prints per client frames sent, processed and dropped, latency p50/p95, and the server's resident
memory sampled through the run (it must stay flat: the growth over the second half is printed).
Only loopback is used, and the run ends by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

from common import MEDIA, machine, require


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


class MemorySampler:
    """Samples a process's resident memory every ``every`` seconds on a thread of its own."""

    def __init__(self, pid: int, every: float = 5.0) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def __enter__(self) -> MemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic() - self._t0, rss_mib(self.pid)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic() - self._t0, rss_mib(self.pid)))
            self._stop.wait(self.every)


def frames_from_clip(count: int = 90) -> list[bytes]:
    capture = cv2.VideoCapture(str(require(MEDIA / "short_hamilton_clip.mp4", "the singer clip")))
    out = []
    while len(out) < count:
        ok, frame = capture.read()
        if not ok:
            break
        canvas = cv2.resize(frame, (640, 480))
        ok, jpeg = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 80])
        out.append(jpeg.tobytes())
    capture.release()
    return out


async def client(url: str, frames: list[bytes], fps: float, seconds: float, k: int) -> dict[str, float]:
    import websockets

    sent = processed = dropped = 0
    latencies: list[float] = []
    async with websockets.connect(url, max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "consent": True, "record": False}))
        await ws.recv()
        in_flight: asyncio.Future[None] | None = None
        start = time.monotonic()
        tick = 0

        async def receive() -> None:
            nonlocal processed
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "result":
                    processed += 1
                    latencies.append((time.monotonic() - start) * 1000 - message["t"])
                    return
                if message["type"] == "error":
                    return

        while time.monotonic() - start < seconds:
            due = start + tick / fps
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            tick += 1
            if in_flight is not None and not in_flight.done():
                dropped += 1
                continue
            t = (time.monotonic() - start) * 1000
            await ws.send(struct.pack("<d", t) + frames[(tick + 7 * k) % len(frames)])
            sent += 1
            in_flight = asyncio.ensure_future(receive())
        if in_flight is not None:
            await in_flight
        await ws.send(json.dumps({"type": "stop"}))
    return {
        "sent": sent,
        "processed": processed,
        "dropped": dropped,
        "p50": statistics.median(latencies) if latencies else float("nan"),
        "p95": float(np.percentile(latencies, 95)) if latencies else float("nan"),
    }


async def run_clients(
    url: str, frames: list[bytes], clients: int, fps: float, seconds: float
) -> list[dict[str, float]]:
    return await asyncio.gather(*(client(url, frames, fps, seconds, k) for k in range(clients)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    args = parser.parse_args()
    frames = frames_from_clip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "serve", "--port", str(port), "--max-fps", "30"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.3)
        url = f"ws://127.0.0.1:{port}/api/v1/stream"
        idle_mem = rss_mib(server.pid)
        if args.warmup > 0:
            asyncio.run(run_clients(url, frames, args.clients, args.fps, args.warmup))
        with MemorySampler(server.pid) as memory:
            results = asyncio.run(run_clients(url, frames, args.clients, args.fps, args.seconds))
    finally:
        server.terminate()
        server.wait(timeout=20)
    print(
        f"# {args.clients} clients x 640x480 JPEG at {args.fps:g} FPS for {args.seconds:g} s on loopback; {machine()}"
    )
    print("| client | sent | processed | dropped (client side) | latency p50 ms | latency p95 ms |")
    print("|---|---|---|---|---|---|")
    for k, r in enumerate(results):
        print(
            f"| {k + 1} | {r['sent']:.0f} | {r['processed']:.0f} | {r['dropped']:.0f} | {r['p50']:.0f} | {r['p95']:.0f} |"
        )
    total = sum(r["processed"] for r in results)
    samples = memory.samples
    half = [m for t, m in samples if t >= args.seconds / 2]
    print(
        f"\nserved {total} frames in {args.seconds:g} s ({total / args.seconds:.1f} frames/s in all)\n"
        f"server memory: {idle_mem:.0f} MiB idle before any frame; after {args.warmup:g} s of warm-up "
        f"{samples[0][1]:.0f} MiB; at the end {samples[-1][1]:.0f} MiB; peak {max(m for _, m in samples):.0f} MiB; "
        f"growth over the second half {half[-1] - half[0]:+.1f} MiB"
    )
    print("memory over the run (s: MiB): " + ", ".join(f"{t:.0f}: {m:.0f}" for t, m in samples[::3]))


if __name__ == "__main__":
    main()
