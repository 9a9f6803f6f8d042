"""History store write throughput: 10 concurrent streams x 30 FPS x 10 simulated minutes.

    python benchmarks/bench_store.py [--streams 10] [--minutes 10] [--postgres URL]

Each stream is a HistoryWriter fed as fast as it will take frames (one face per frame, with
simulated timestamps), all streams at once on threads. Prints, per backend and with per-frame
rows off (the default) and on: rows/s written, commit latency p50/p95, wall time, and the
database size per hour of video. PostgreSQL runs when --postgres (or MOODLENS_TEST_POSTGRES_URL)
names a server where the role may create databases.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
from sqlalchemy import text

from common import machine
from moodlens.labels import Expression
from moodlens.results import Box, Detection, Face, FrameResult
from moodlens.store import HistoryStore, HistoryWriter, WriterSettings
from scratch_postgres import scratch_database

FPS = 30


def feed(writer: HistoryWriter, frames: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(7), size=64).astype(np.float32)
    box = Detection(Box(0, 0, 50, 60), 0.9)
    for i in range(frames):
        p = probs[(i // 15) % 64]
        face = Face(box, p, track_id=1, smoothed=p, stable=Expression(int(np.argmax(p))))
        writer.write(FrameResult((face,), 640, 480, timestamp_ms=i * 1000.0 / FPS, frame_index=i))


def size_bytes(url: str, store: HistoryStore) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    with store.engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar() or 0)


def run(url: str, streams: int, minutes: float, frame_rows: bool) -> dict[str, float]:
    store = HistoryStore(url)
    frames = int(minutes * 60 * FPS)
    writers = [
        HistoryWriter.start(store, consent=True, name=f"s{k}", settings=WriterSettings(frame_rows=frame_rows))
        for k in range(streams)
    ]
    before = size_bytes(url, store)
    started = time.perf_counter()
    threads = [threading.Thread(target=feed, args=(w, frames, k)) for k, w in enumerate(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for w in writers:
        w.close()
    wall = time.perf_counter() - started
    rows = sum(w.stats.intervals + w.stats.frames for w in writers)
    commits = [ms for w in writers for ms in w.stats.commit_ms]
    hours = streams * minutes / 60
    result = {
        "rows": rows,
        "wall_s": wall,
        "rows_per_s": rows / wall,
        "commit_p50_ms": statistics.median(commits),
        "commit_p95_ms": float(np.percentile(commits, 95)),
        "mb_per_hour": (size_bytes(url, store) - before) / 2**20 / hours,
        "dropped": sum(w.stats.dropped for w in writers),
        "realtime": minutes * 60 / wall,
    }
    store.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--postgres", default=os.environ.get("MOODLENS_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    print(f"# {args.streams} streams x {FPS} FPS x {args.minutes:g} simulated minutes, one face; {machine()}")
    print(
        "| backend | per-frame rows | rows written | rows/s | commit p50 ms | commit p95 ms | wall s | MB per hour of video | dropped | x real time |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for frame_rows in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}"
            r = run(url, args.streams, args.minutes, frame_rows)
            print(
                f"| SQLite (WAL) | {'on' if frame_rows else 'off'} | {r['rows']:.0f} | {r['rows_per_s']:.0f} | "
                f"{r['commit_p50_ms']:.1f} | {r['commit_p95_ms']:.1f} | {r['wall_s']:.1f} | {r['mb_per_hour']:.2f} | {r['dropped']:.0f} | {r['realtime']:.0f} |"
            )
        if args.postgres:
            with scratch_database(args.postgres, "moodlens_bench") as url:
                r = run(url, args.streams, args.minutes, frame_rows)
            print(
                f"| PostgreSQL | {'on' if frame_rows else 'off'} | {r['rows']:.0f} | {r['rows_per_s']:.0f} | "
                f"{r['commit_p50_ms']:.1f} | {r['commit_p95_ms']:.1f} | {r['wall_s']:.1f} | {r['mb_per_hour']:.2f} | {r['dropped']:.0f} | {r['realtime']:.0f} |"
            )
    if not args.postgres:
        print("(PostgreSQL skipped: pass --postgres URL)")


if __name__ == "__main__":
    main()
