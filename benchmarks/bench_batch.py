"""``moodlens batch`` throughput: items/s and frames/s for 1 and 2 workers on the local engine and on
Ray, and the per-task overhead of each engine.

    python benchmarks/bench_batch.py [--ray-address auto] [--copies 4]

Workloads, built from the real media: the 30 media photos (``--copies`` times each, as distinct
files), and the real singer clip (``short_hamilton_clip.mp4``) ``--copies`` times. The per-task
overhead is the wall time per item on 200 tiny blank photos minus the in-process analysis time of
one such photo (what an engine adds: scheduling, pickling, the result's trip back, the item's
files). Each configuration starts from an empty dataset; engine start-up (worker processes or Ray
actors loading the models) is included, as a user sees it, and printed apart.

The driver's share: every face row comes back to the driver, which joins a video's segments and
writes its Parquet files. Its fixed cost per item and its cost per 1,000 face rows (unpickling the
results, the join, the write) bound what one driver can take from a cluster (docs/scaling.md).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from common import MEDIA, machine, manifest_photos, require
from moodlens.batch import (
    AnalysisSettings,
    LocalEngine,
    RayEngine,
    Segmenting,
    analyze_unit,
    expand,
    plan,
    run_batch,
)
from moodlens.batch.analysis import Unit, UnitResult
from moodlens.batch.dataset import Dataset
from moodlens.batch.inputs import Item
from moodlens.batch.join import join_segments

SETTINGS = AnalysisSettings()


def _workload(folder: Path, copies: int) -> dict[str, Path]:
    photos, videos, tiny = folder / "photos", folder / "videos", folder / "tiny"
    for sub in (photos, videos, tiny):
        sub.mkdir()
    for k in range(copies):
        for row in manifest_photos():
            source = MEDIA / row["file"]
            shutil.copy(source, photos / f"{k}_{source.name}")
        shutil.copy(MEDIA / "short_hamilton_clip.mp4", videos / f"{k}_clip.mp4")
    blank = np.full((64, 64, 3), 128, np.uint8)
    for k in range(200):
        cv2.imwrite(str(tiny / f"{k}.png"), blank)
    return {"photos": photos, "videos": videos, "tiny": tiny}


def _direct_tiny_ms(path: Path) -> float:
    from moodlens.images import read_image

    analyzer = SETTINGS.analyzer()
    image_path = next(path.iterdir())
    times = []
    for _ in range(50):
        t0 = time.perf_counter()
        analyzer.analyze(read_image(image_path))
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _timed_finish(payloads: list[bytes], dataset: Dataset, item: Item, repeats: int) -> tuple[float, int]:
    """ms per item for what the driver does with an item's results: unpickle, join, write."""
    rows = 0
    t0 = time.perf_counter()
    for _ in range(repeats):
        results = [pickle.loads(payload) for payload in payloads]
        joined = join_segments(results)
        rows = len(joined["frame_index"])
        dataset.write_item(item, joined, model="crowd", frames=0, seconds=0.0, media_ms=0.0)
    return (time.perf_counter() - t0) * 1000 / repeats, rows


def _driver_costs(video: Path, folder: Path) -> tuple[float, float]:
    """The driver's fixed cost per item (ms) and its cost per 1,000 face rows (ms), from the singer
    clip in 4 s segments and from one 100-times longer result (the clip's rows repeated in time)."""
    items, _ = expand([str(video)])
    units, _ = plan(items, Segmenting(4.0, 1.0))
    analyzer = SETTINGS.analyzer()
    results = [analyze_unit(unit, analyzer, SETTINGS) for unit in units]
    small = [pickle.dumps(r) for r in results]
    whole = join_segments(results)
    frames = max(whole["frame_index"]) + 1
    long_rows = {
        name: [
            (
                v + k * frames
                if name == "frame_index"
                else v + k * frames * 33.4
                if name == "timestamp_ms"
                else v
            )
            for k in range(100)
            for v in values
        ]
        for name, values in whole.items()
    }
    large = [pickle.dumps(UnitResult(Unit(items[0], end_frame=100 * frames), rows=long_rows))]
    dataset = Dataset(folder)
    _timed_finish(small, dataset, items[0], 2)  # warm-up: imports, first writes
    t_small, n_small = _timed_finish(small, dataset, items[0], 20)
    t_large, n_large = _timed_finish(large, dataset, items[0], 3)
    per_row = (t_large - t_small) / (n_large - n_small)
    return t_small - per_row * n_small, per_row * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ray-address", default=None, help="a Ray cluster (default: an in-process Ray)")
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--no-ray", action="store_true")
    args = parser.parse_args()
    require(MEDIA, "test media")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        work = _workload(folder, args.copies)
        engines: list[tuple[str, object]] = [("local", LocalEngine(1)), ("local", LocalEngine(2))]
        ray_started = False
        if not args.no_ray:
            try:
                import ray

                # Without --ray-address: a private instance ("local"), even where a cluster runs.
                ray.init(address=args.ray_address or "local", num_cpus=None if args.ray_address else 2,
                         log_to_driver=False, include_dashboard=False)  # fmt: skip
                ray_started = True
                engines += [("ray", RayEngine(args.ray_address, 1)), ("ray", RayEngine(args.ray_address, 2))]
            except Exception as exc:
                print(f"(Ray skipped: {type(exc).__name__}: {exc})")
        direct_ms = _direct_tiny_ms(work["tiny"])
        print(f"# {machine()}; {args.copies} copies of the media photos and of the singer clip")
        print(
            "| engine | workers | workload | items | frames | wall s | items/s | frames/s | overhead ms per task |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for name, engine in engines:
            workers = getattr(engine, "workers", None) or 1
            for workload in ("photos", "videos", "tiny"):
                items, _ = expand([str(work[workload])])
                out = folder / f"out-{name}-{workers}-{workload}"
                t0 = time.perf_counter()
                report = run_batch(items, out, engine, SETTINGS)  # type: ignore[arg-type]
                wall = time.perf_counter() - t0
                overhead = ""
                if workload == "tiny":
                    overhead = f"{max(0.0, wall * 1000 * workers / len(items) - direct_ms):.1f}"
                print(
                    f"| {name} | {workers} | {workload} | {len(items)} | {report.frames} | {wall:.1f} | "
                    f"{len(items) / wall:.2f} | {report.frames / wall:.1f} | {overhead} |"
                )
                shutil.rmtree(out)
        print(
            f"\n(one tiny blank photo analysed in-process: {direct_ms:.1f} ms; start-up is inside the wall times)"
        )
        per_item, per_1000 = _driver_costs(next(work["videos"].iterdir()), folder / "driver")
        print(
            f"driver (unpickle + join + Parquet write, one core): {per_item:.1f} ms per item + "
            f"{per_1000:.1f} ms per 1,000 face rows = {1e6 / per_1000:,.0f} face rows/s on long videos"
        )
        if ray_started:
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main()
