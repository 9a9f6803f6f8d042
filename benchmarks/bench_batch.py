"""``moodlens batch`` throughput: items/s and frames/s for 1 and 2 workers on the local engine and on
Ray, and the per-task overhead of each engine.

    python benchmarks/bench_batch.py [--ray-address auto] [--copies 4]

Workloads, built from the real media: the 30 media photos (``--copies`` times each, as distinct
files), and the real singer clip (``short_hamilton_clip.mp4``) ``--copies`` times. The per-task
overhead is the wall time per item on 200 tiny blank photos minus the in-process analysis time of
one such photo (what an engine adds: scheduling, pickling, the result's trip back, the item's
files). Each configuration starts from an empty dataset; engine start-up (worker processes or Ray
actors loading the models) is included, as a user sees it, and printed apart.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from common import MEDIA, machine, manifest_photos, require
from moodlens.batch import AnalysisSettings, LocalEngine, RayEngine, expand, run_batch

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

                ray.init(address=args.ray_address, num_cpus=None if args.ray_address else 2, log_to_driver=False,
                         include_dashboard=False)  # fmt: skip
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
        if ray_started:
            import ray

            ray.shutdown()


if __name__ == "__main__":
    main()
