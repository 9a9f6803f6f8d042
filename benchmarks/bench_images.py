"""Detector and end-to-end milliseconds per photo for each detector, against fer's default
pipeline (Haar + mini-XCEPTION) measured in the same run.

    python benchmarks/bench_images.py [--repeat 5]

Needs the test photos (../shared/media or MOODLENS_MEDIA) and, for the fer column, the peer
environment (benchmarks/peers/setup.sh). Every figure is the median of --repeat runs per photo;
the table ends with the median over photos and the ratio fer / moodlens.
"""

from __future__ import annotations

import argparse
import statistics

from common import MEDIA, machine, manifest_photos, median_ms, run_peer
from moodlens import Analyzer, create_detector, default_classifier
from moodlens.detection.centerface import find_model
from moodlens.errors import ModelError
from moodlens.images import read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rows = manifest_photos()
    names = ["yunet", "haar"]
    try:
        find_model()
        names.insert(1, "centerface")
    except ModelError:
        pass
    classifier = default_classifier(threads=1)
    analyzers = {name: Analyzer(create_detector(name), classifier) for name in names}
    images = {r["file"]: read_image(MEDIA / r["file"]) for r in rows}
    fer = run_peer("images", *[str(MEDIA / r["file"]) for r in rows], "--repeat", str(args.repeat)) or {}

    print(f"# photos: {len(rows)} from {MEDIA}; {machine()}; medians of {args.repeat} runs, ms per photo")
    header = ["photo", "size", "faces"]
    for name in names:
        header += [f"{name} det", f"{name} e2e", f"{name} found"]
    header += ["fer det", "fer e2e", "fer found"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    columns: dict[str, list[float]] = {h: [] for h in header[3:]}
    found_total = {name: 0 for name in [*names, "fer"]}
    listed = 0
    for r in rows:
        image = images[r["file"]]
        line = [r["file"], f"{image.shape[1]}x{image.shape[0]}", r["faces"]]
        listed += int(r["faces"])
        for name, analyzer in analyzers.items():
            det = median_ms(lambda a=analyzer, im=image: a.detector.detect(im), args.repeat)
            e2e = median_ms(lambda a=analyzer, im=image: a.analyze(im), args.repeat)
            found = len(analyzer.analyze(image).faces)
            found_total[name] += min(found, int(r["faces"])) if int(r["faces"]) else -found
            columns[f"{name} det"].append(det)
            columns[f"{name} e2e"].append(e2e)
            line += [f"{det:.1f}", f"{e2e:.1f}", str(found)]
        peer = fer.get(r["file"])
        if peer:
            columns["fer det"].append(peer["detect_ms"])
            columns["fer e2e"].append(peer["end_to_end_ms"])
            f = int(peer["faces"])
            found_total["fer"] += min(f, int(r["faces"])) if int(r["faces"]) else -f
            line += [f"{peer['detect_ms']:.1f}", f"{peer['end_to_end_ms']:.1f}", str(f)]
        else:
            line += ["-", "-", "-"]
        print("| " + " | ".join(line) + " |")
    medians = ["**median**", "", str(listed)]
    for h in header[3:]:
        if h.endswith("found"):
            medians.append(f"{found_total[h.split()[0]]} net")
        else:
            medians.append(f"{statistics.median(columns[h]):.1f}" if columns[h] else "-")
    print("| " + " | ".join(medians) + " |")
    print("\n'found': faces reported; 'net' = listed faces found minus faces reported on no-face photos.")
    if columns["fer e2e"]:
        for name in names:
            ratio_det = statistics.median(
                f / m for f, m in zip(columns["fer det"], columns[f"{name} det"], strict=True)
            )
            ratio_e2e = statistics.median(
                f / m for f, m in zip(columns["fer e2e"], columns[f"{name} e2e"], strict=True)
            )
            print(
                f"fer / moodlens[{name}]: detection {ratio_det:.2f}x, end to end {ratio_e2e:.2f}x (median per photo)"
            )


if __name__ == "__main__":
    main()
