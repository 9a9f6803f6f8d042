"""Evaluation outputs: metrics.json, confusion.png, errors.png, predictions.csv, report.html.

Figures are drawn with OpenCV so that evaluation needs nothing beyond the inference install.
"""

from __future__ import annotations

import base64
import csv
import html
import itertools
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from moodlens.evaluation.runner import Evaluation
from moodlens.labels import COLOURS_BGR, LABELS, Expression

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def confusion_image(confusion: npt.NDArray[np.int64], title: str = "") -> npt.NDArray[np.uint8]:
    """A 7x7 confusion matrix: cells shaded by the row-normalised rate, with counts and rates."""
    cell, left, top = 86, 110, 70
    n = len(LABELS)
    image = np.full((top + n * cell + 80, left + n * cell + 20, 3), 255, np.uint8)
    rows = confusion.sum(axis=1, keepdims=True).clip(min=1)
    rates = confusion / rows
    for i in range(n):
        for j in range(n):
            rate = float(rates[i, j])
            shade = round(255 * (1 - rate))
            colour = (255, shade, shade) if i != j else (shade, 255, shade)
            x, y = left + j * cell, top + i * cell
            cv2.rectangle(image, (x, y), (x + cell, y + cell), colour, cv2.FILLED)
            cv2.rectangle(image, (x, y), (x + cell, y + cell), (200, 200, 200), 1)
            ink = (255, 255, 255) if rate > 0.6 else (30, 30, 30)
            cv2.putText(image, f"{int(confusion[i, j])}", (x + 8, y + 38), _FONT, 0.6, ink, 1, cv2.LINE_AA)
            cv2.putText(image, f"{rate:.0%}", (x + 8, y + 64), _FONT, 0.45, ink, 1, cv2.LINE_AA)
    for k, name in enumerate(LABELS):
        cv2.putText(image, name, (6, top + k * cell + 48), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(image, name[:7], (left + k * cell + 6, top - 12), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(image, "predicted ->", (left, 22), _FONT, 0.55, (80, 80, 80), 1, cv2.LINE_AA)
    cv2.putText(image, "true", (6, top - 12), _FONT, 0.55, (80, 80, 80), 1, cv2.LINE_AA)
    for k, line in enumerate(title.split("\n")[:2]):
        y = image.shape[0] - 46 + 26 * k
        cv2.putText(image, line, (6, y), _FONT, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def error_gallery(evaluation: Evaluation, count: int = 48, columns: int = 8) -> npt.NDArray[np.uint8]:
    """The most confident mistakes, each with its true and predicted label and confidence."""
    probs = evaluation.probabilities
    truth = evaluation.data.labels
    predicted = evaluation.predictions
    wrong = np.flatnonzero(predicted != truth)
    order = wrong[np.argsort(-probs[wrong, predicted[wrong]])][:count]
    tile, caption = 120, 34
    rows = max(1, -(-len(order) // columns))
    image = np.full((rows * (tile + caption), columns * tile, 3), 255, np.uint8)
    for k, idx in enumerate(order):
        r, c = divmod(k, columns)
        face = cv2.resize(evaluation.data.images[idx], (tile, tile), interpolation=cv2.INTER_CUBIC)
        y, x = r * (tile + caption), c * tile
        image[y : y + tile, x : x + tile] = cv2.cvtColor(face, cv2.COLOR_GRAY2BGR)
        t, p = Expression(int(truth[idx])), Expression(int(predicted[idx]))
        cv2.putText(image, f"true {t.label}", (x + 3, y + tile + 13), _FONT, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.putText(
            image,
            f"{p.label} {probs[idx, p]:.0%}",
            (x + 3, y + tile + 28),
            _FONT,
            0.4,
            COLOURS_BGR[p],
            1,
            cv2.LINE_AA,
        )
    return image


def reliability_image(curves: dict[str, dict[str, Any]], title: str = "") -> npt.NDArray[np.uint8]:
    """A reliability diagram: accuracy against mean confidence per bin, one curve per entry
    (``Reliability.to_dict()`` values), with the diagonal of perfect calibration."""
    size, left, top = 420, 70, 40
    image = np.full((top + size + 90, left + size + 30, 3), 255, np.uint8)

    def point(x: float, y: float) -> tuple[int, int]:
        return left + round(x * size), top + round((1 - y) * size)

    cv2.rectangle(image, point(0, 1), point(1, 0), (120, 120, 120), 1)
    for k in range(1, 10):
        cv2.line(image, point(k / 10, 0), point(k / 10, 1), (235, 235, 235), 1)
        cv2.line(image, point(0, k / 10), point(1, k / 10), (235, 235, 235), 1)
    for k in range(0, 11, 2):
        cv2.putText(
            image, f"{k / 10:.1f}", (point(k / 10, 0)[0] - 12, top + size + 18), _FONT, 0.4, (0, 0, 0), 1
        )
        cv2.putText(image, f"{k / 10:.1f}", (left - 34, point(0, k / 10)[1] + 4), _FONT, 0.4, (0, 0, 0), 1)
    cv2.line(image, point(0, 0), point(1, 1), (150, 150, 150), 1, cv2.LINE_AA)
    cv2.putText(image, "confidence (top class)", (left + 110, top + size + 40), _FONT, 0.5, (0, 0, 0), 1)
    cv2.putText(image, "accuracy", (4, top - 14), _FONT, 0.5, (0, 0, 0), 1)
    palette = [(200, 90, 20), (30, 30, 220), (40, 150, 40)]
    for n, (name, curve) in enumerate(curves.items()):
        colour = palette[n % len(palette)]
        points = [
            point(c, a)
            for c, a, k in zip(curve["confidence"], curve["accuracy"], curve["count"], strict=True)
            if c is not None and a is not None and k > 0
        ]
        for a, b in itertools.pairwise(points):
            cv2.line(image, a, b, colour, 2, cv2.LINE_AA)
        for p in points:
            cv2.circle(image, p, 4, colour, cv2.FILLED, cv2.LINE_AA)
        label = f"{name}: ECE {curve['ece']:.3f}"
        cv2.putText(image, label, (left, top + size + 62 + 20 * n), _FONT, 0.5, colour, 1, cv2.LINE_AA)
    if title:
        cv2.putText(image, title, (left, 22), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return image


def _png_b64(image: npt.NDArray[np.uint8]) -> str:
    ok, buffer = cv2.imencode(".png", image)
    return base64.b64encode(buffer.tobytes()).decode() if ok else ""


def write_report(evaluation: Evaluation, out: str | Path) -> dict[str, Path]:
    """Write every output into ``out``; returns their paths by name."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    m = evaluation.metrics
    paths = {
        "metrics": folder / "metrics.json",
        "confusion": folder / "confusion.png",
        "errors": folder / "errors.png",
        "reliability": folder / "reliability.png",
        "predictions": folder / "predictions.csv",
        "report": folder / "report.html",
    }
    paths["metrics"].write_text(json.dumps(evaluation.to_dict(), indent=2) + "\n", encoding="utf-8")
    title = (
        f"{Path(evaluation.model).name} on {evaluation.split}\n"
        f"accuracy {m.accuracy:.2%}, macro-F1 {m.macro_f1:.3f}"
    )
    confusion = confusion_image(m.confusion, title)
    gallery = error_gallery(evaluation)
    curves = {"as shipped": evaluation.extra["calibration"]} if "calibration" in evaluation.extra else {}
    if "calibration_without_temperature" in evaluation.extra:
        curves = {
            "without temperature": evaluation.extra["calibration_without_temperature"],
            f"temperature {evaluation.extra['temperature']:.2f}": evaluation.extra["calibration"],
        }
    diagram = reliability_image(curves, f"{Path(evaluation.model).name} on {evaluation.split}")
    for key, image in (("confusion", confusion), ("errors", gallery), ("reliability", diagram)):
        if not cv2.imwrite(str(paths[key]), image):
            raise OSError(f"cannot write {paths[key]}")
    with paths["predictions"].open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["row", "true", "predicted", *[f"p_{name}" for name in LABELS]])
        for row, t, p, probs in zip(
            evaluation.data.rows,
            evaluation.data.labels,
            evaluation.predictions,
            evaluation.probabilities,
            strict=True,
        ):
            writer.writerow([int(row), LABELS[int(t)], LABELS[int(p)], *[f"{v:.5f}" for v in probs]])
    per_class = "".join(
        f"<tr><td>{c.label}</td><td>{c.precision:.3f}</td><td>{c.recall:.3f}</td><td>{c.f1:.3f}</td>"
        f"<td>{c.support}</td></tr>"
        for c in m.per_class
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>moodlens evaluation</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1000px}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 10px;text-align:right}}
td:first-child{{text-align:left}}</style></head>
<body><h1>Apparent-expression classifier: evaluation</h1>
<p>Model <code>{html.escape(evaluation.model)}</code> on split <b>{html.escape(evaluation.split)}</b> of
<code>{html.escape(evaluation.data.source)}</code> (sha256 {evaluation.data.sha256[:16]}…),
{m.count} faces, test-time augmentation: {"hflip" if evaluation.tta else "none"}.</p>
<h2>Accuracy {m.accuracy:.2%} &middot; macro-F1 {m.macro_f1:.3f}</h2>
<table><tr><th>class</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>{per_class}</table>
<p>Labels: {html.escape(str(evaluation.extra.get("labels_from", "FER2013")))}.</p>
<h2>Confusion matrix</h2><img alt="confusion matrix" src="data:image/png;base64,{_png_b64(confusion)}">
<h2>Calibration</h2><img alt="reliability diagram" src="data:image/png;base64,{_png_b64(diagram)}">
<h2>Most confident mistakes</h2><img alt="error gallery" src="data:image/png;base64,{_png_b64(gallery)}">
<p>These are apparent expressions as labelled in the data set, not felt emotions.</p></body></html>
"""
    paths["report"].write_text(page, encoding="utf-8")
    return paths
