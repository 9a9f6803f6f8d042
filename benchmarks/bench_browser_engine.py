"""The in-browser engine's speed in Debian's headless Chromium with the fake camera: analysed frames
per second on the 640x360 singer clip and the 1080p street clip, WebAssembly with and without
threads, and the time from Start to the first label (camera and model load included; the models
and the runtime cached by the browser after a first visit, as a person's second visit has them).

    python benchmarks/bench_browser_engine.py [--seconds 20] [--threads 1 2] [--detect-every 1 2]

Each run: ``moodlens serve`` on a free loopback port; Chromium's fake camera plays the clip's first
frames (Y4M, looped); the engine's speed page (/engine/bench) is opened once to fill the cache,
then again to measure. ``--detect-every``: 1 detects on every frame, 2 (the engine's default, as the
server's) follows faces between detections. The engine detects with the live page's settings in
browser mode: the server's, from /api/v1/health (``moodlens serve``'s camera defaults: faces >= 40 px,
frames scanned at <= 480 px, threshold 0.87), as the live page in server mode does; the table says
which. Targets (issue 31): >= 25 frames/s singer, >= 10
street, first label <= 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MEDIA = Path(os.environ.get("MOODLENS_MEDIA", ROOT.parent / "shared" / "media"))
CHROMIUM = os.environ.get("MOODLENS_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("MOODLENS_CHROMEDRIVER", "/usr/bin/chromedriver")
#: (clip, frames for the fake camera, target frames/s)
CLIPS = [("short_hamilton_clip.mp4", 150, 25.0), ("pedestrians_1080p.mp4", 50, 10.0)]


def to_y4m(video: Path, target: Path, max_frames: int) -> tuple[int, int, float]:
    """Chromium's fake camera plays Y4M (I420); the clip's first frames, at the clip's rate."""
    capture = cv2.VideoCapture(str(video))
    fps = capture.get(cv2.CAP_PROP_FPS) or 30.0
    size = (0, 0)
    with target.open("wb") as out:
        for i in range(max_frames):
            ok, frame = capture.read()
            if not ok:
                break
            h, w = frame.shape[:2]
            if i == 0:
                size = (w, h)
                out.write(f"YUV4MPEG2 W{w} H{h} F{round(fps * 1000)}:1000 Ip A1:1 C420jpeg\n".encode())
            out.write(b"FRAME\n")
            out.write(np.ascontiguousarray(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)).tobytes())
    capture.release()
    return size[0], size[1], fps


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve() -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moodlens.cli.main", "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=1):
                return proc, url
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("moodlens serve did not start")


def browser(y4m: Path, *extra: str) -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--no-proxy-server",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={y4m}",
        "--enable-precise-memory-info",
        # gc() for the page: heap readings after a collection measure what is kept, not garbage.
        "--js-flags=--expose-gc",
        *extra,
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver


def visit(driver: Any, url: str, timeout: float) -> dict[str, Any]:
    driver.get(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = driver.execute_script("return window.benchResult || null")
        if result is not None:
            if "error" in result:
                raise RuntimeError(result["error"])
            return dict(result)
        time.sleep(0.5)
    raise TimeoutError(f"{url}: no result in {timeout:.0f} s")


def measure(
    url: str,
    y4m: Path,
    size: tuple[int, int],
    threads: int,
    seconds: float,
    *,
    detect_every: int,
    memory_every: float = 15.0,
) -> dict[str, Any]:
    driver = browser(y4m)
    try:
        query = (
            f"threads={threads}&width={size[0]}&height={size[1]}&detect_every={detect_every}"
            f"&memory_every={memory_every:g}"
        )
        visit(driver, f"{url}/engine/bench?{query}&seconds=1", 120)  # the first visit fills the cache
        return visit(driver, f"{url}/engine/bench?{query}&seconds={seconds}", seconds + 120)
    finally:
        driver.quit()


def webgpu_probe(url: str, y4m: Path) -> str:
    """Whether this headless Chromium offers WebGPU to the page: navigator.gpu and an adapter, as
    it runs for the measurements, and with --enable-unsafe-webgpu (which offers SwiftShader's
    adapter where there is no GPU: a CPU emulation, not a measurement of WebGPU)."""
    script = (
        "const done = arguments[arguments.length - 1];"
        "if (!navigator.gpu) { done('no navigator.gpu'); return; }"
        "navigator.gpu.requestAdapter().then((a) => done(a ? 'an adapter' : 'requestAdapter() gives none'),"
        " (e) => done('requestAdapter() failed: ' + e));"
    )
    said = []
    for flags in ((), ("--enable-unsafe-webgpu",)):
        driver = browser(y4m, *flags)
        try:
            driver.get(f"{url}/api/v1/health")  # a secure context (loopback) of the app's origin
            said.append(f"{' '.join(flags) or 'as measured'}: {driver.execute_async_script(script)}")
        finally:
            driver.quit()
    return "; ".join(said)


def memory_line(row: dict[str, Any]) -> str:
    """The heap readings of a run, and how the last third of the run compares with the first."""
    readings = [m for m in row.get("memory", []) if m.get("heap_mb") is not None]
    if not readings:
        return "no readings (this browser does not report its heap)"
    series = ", ".join(f"{m['heap_mb']:.1f}" for m in readings)
    third = max(1, len(readings) // 3)
    first = sum(m["heap_mb"] for m in readings[:third]) / third
    last = sum(m["heap_mb"] for m in readings[-third:]) / third
    collected = "after gc" if all(m.get("after_gc") for m in readings) else "gc not available"
    pages = [m["page_mb"] for m in readings if m.get("page_mb") is not None]
    whole = (
        f"; the page's memory with WebAssembly: {', '.join(f'{v:.1f}' for v in pages)} MB"
        if pages
        else "; the page's memory with WebAssembly: not measurable here"
    )
    return (
        f"{series} ({collected}; {readings[-1]['s']:.0f} s); mean of the first third {first:.1f}, "
        f"of the last third {last:.1f} ({last - first:+.1f} MB){whole}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per run (default 20)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="WASM threads to try")
    parser.add_argument(
        "--detect-every",
        type=int,
        nargs="+",
        default=[1, 2],
        help="detect every Nth frame (default: 1 and 2)",
    )
    parser.add_argument(
        "--clips", nargs="+", default=[c for c, _, _ in CLIPS], help="which clips (default: both)"
    )
    parser.add_argument(
        "--memory-every", type=float, default=15.0, help="seconds between heap readings (default 15)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not (MEDIA / "short_hamilton_clip.mp4").is_file():
        raise SystemExit(f"media not found in {MEDIA} (set MOODLENS_MEDIA)")
    proc, url = serve()
    rows: list[dict[str, Any]] = []
    webgpu = "not probed"
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for clip, frames, target in CLIPS:
                if clip not in args.clips:
                    continue
                y4m = Path(tmp) / f"{Path(clip).stem}.y4m"
                w, h, fps = to_y4m(MEDIA / clip, y4m, frames)
                for threads in args.threads:
                    for every in args.detect_every:
                        load = os.getloadavg()[0]
                        result = measure(
                            url,
                            y4m,
                            (w, h),
                            threads,
                            args.seconds,
                            detect_every=every,
                            memory_every=args.memory_every,
                        )
                        rows.append(
                            {
                                "clip": clip,
                                "size": f"{w}x{h}",
                                "clip_fps": fps,
                                "target": target,
                                "load": load,
                                **result,
                            }
                        )
                        print(json.dumps(rows[-1]), file=sys.stderr)
                if webgpu == "not probed":
                    webgpu = webgpu_probe(url, y4m)
                y4m.unlink()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print(
        "| clip | WASM | detect every | analysed frames/s | target | ms per frame (detect / follow / track / classify) | faces per frame | first label | first headline | heap MB (start, end) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        info = r["info"]
        mode = f"SIMD, {info['threads']} thread{'s' if info['threads'] > 1 else ''}"
        if info["threads"] < info["threads_asked"]:
            mode += f" ({info['threads_asked']} asked: not cross-origin isolated)"
        ms = r["mean_ms"]
        heap = ", ".join("-" if v is None else f"{v:.0f}" for v in r["heap_mb"])
        print(
            f"| `{r['clip']}` ({r['size']}, camera {r['camera_fps']:.0f} FPS) | {mode} | {r['detect_every']} "
            f"| **{r['fps']:.1f}** | {r['target']:.0f} "
            f"| {ms.get('total', 0):.1f} ({ms.get('detect', 0):.1f} / {ms.get('follow', 0):.1f} / "
            f"{ms.get('track', 0):.1f} / {ms.get('classify', 0):.1f}) "
            f"| {r['faces_per_frame']:.2f} | {r['first_label_ms']:.0f} ms | {r['first_headline_ms']:.0f} ms | {heap} |"
        )
    print(
        "\nMemory over each run (JS heap in MB, read every --memory-every seconds after a garbage collection):"
    )
    for r in rows:
        print(
            f"- `{r['clip']}`, {r['info']['threads']} thread(s), detect every {r['detect_every']}: {memory_line(r)}"
        )
    detectors = {json.dumps(r.get("detector"), sort_keys=True) for r in rows}
    print(f"\ndetector settings (the live page's, from /api/v1/health): {', '.join(sorted(detectors))}")
    print(f"\nWebGPU in this headless Chromium: {webgpu}")
    loads = ", ".join(f"{r['load']:.2f}" for r in rows)
    print(f"\nload average before each run: {loads}; {os.cpu_count()} cores")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
