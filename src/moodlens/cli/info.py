"""``moodlens info``: versions, the shipped models, installed extras and where things are kept."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

#: extra -> (a module it installs, what it enables)
_EXTRAS = {
    "store": ("sqlalchemy", "history database (--db, moodlens history)"),
    "postgres": ("psycopg", "PostgreSQL for the history"),
    "serve": ("fastapi", "web app and REST API (moodlens serve)"),
    "train": ("torch", "training and INT8 export (moodlens train, export --quantize)"),
}
#: What the tests, benchmarks and examples look for, by environment variable, and the default place
#: (beside a source checkout: ../shared). Commands themselves take explicit paths.
_DATA = {
    "MOODLENS_FER2013": ("FER2013 CSV", "data/fer2013/fer2013.csv.gz"),
    "MOODLENS_FERPLUS": ("FERPlus labels", "data/ferplus/fer2013new.csv"),
    "MOODLENS_MEDIA": ("test photos and videos", "media"),
}


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "info",
        help="versions, models, installed extras and where data is kept",
        description="What is installed and where moodlens keeps or looks for things.",
    )
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(func=run)


def _models() -> dict[str, Any]:
    from moodlens.classification import DEFAULT_MODEL_NAME, SHIPPED_MODELS, load_metadata, model_path
    from moodlens.errors import ModelError

    models: dict[str, Any] = {}
    for name in SHIPPED_MODELS:
        try:
            path = model_path(name)
            meta = load_metadata(path)
        except ModelError as exc:
            models[name] = {"error": str(exc)}
            continue
        models[name] = {
            "default": name == DEFAULT_MODEL_NAME,
            "file": str(path),
            "bytes": path.stat().st_size,
            "network": meta.training.get("network"),
            "trained_on": meta.training.get("labels", "FER2013 labels"),
            "temperature": meta.temperature,
            "metrics": meta.metrics,
        }
    return models


def _checkout_shared() -> Path | None:
    """``../shared`` beside a source checkout (an editable install), else None."""
    import moodlens

    root = Path(moodlens.__file__).resolve().parents[2]
    return root.parent / "shared" if (root / "pyproject.toml").is_file() else None


def collect() -> dict[str, Any]:
    import cv2
    import numpy as np
    import onnxruntime

    from moodlens._version import __version__
    from moodlens.detection import DEFAULT_DETECTOR, DETECTORS

    gui = next(
        (line.split(":", 1)[1].strip() for line in cv2.getBuildInformation().splitlines() if "GUI:" in line),
        "",
    )
    shared = _checkout_shared()
    info: dict[str, Any] = {
        "moodlens": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "opencv_windows": bool(gui) and gui.upper() != "NONE",
        "onnxruntime": onnxruntime.__version__,
        "detector": f"{DEFAULT_DETECTOR}: {DETECTORS[DEFAULT_DETECTOR]}",
        "models": _models(),
        "extras": {
            extra: importlib.util.find_spec(module) is not None for extra, (module, _) in _EXTRAS.items()
        },
        "data": {
            variable: {
                "what": what,
                "set": os.environ.get(variable),
                "default": None if shared is None else str(shared / relative),
                "found": Path(os.environ.get(variable) or (shared / relative if shared else "")).exists()
                if (os.environ.get(variable) or shared)
                else False,
            }
            for variable, (what, relative) in _DATA.items()
        },
    }
    if info["extras"]["store"]:
        from moodlens.store.database import ENV_URL, default_path

        info["history_database"] = os.environ.get(ENV_URL) or str(default_path())
    if info["extras"]["serve"]:
        from moodlens.service.security import default_token_path

        info["token_file"] = str(default_token_path())
    return info


def _percent(value: Any) -> str:
    return f"{value:.1%}" if isinstance(value, float) else "?"


def _print_text(info: dict[str, Any]) -> None:
    print(f"moodlens {info['moodlens']} on Python {info['python']} ({info['platform']})")
    windows = (
        "has windows" if info["opencv_windows"] else "headless: the camera's live view opens in the browser"
    )
    print(f"  numpy {info['numpy']}, OpenCV {info['opencv']} ({windows}), ONNX Runtime {info['onnxruntime']}")
    print(f"  face detector: {info['detector']}")
    print("models (--model NAME):")
    for name, model in info["models"].items():
        if "error" in model:
            print(f"  {name}: {model['error']}")
            continue
        default = " (default)" if model["default"] else ""
        scores = []
        for key, figures in model["metrics"].items():
            if isinstance(figures, dict) and "accuracy" in figures:
                split = key.split()[0]
                against = figures.get("labels") or ("FERPlus majority" if "FERPlus" in key else "FER2013")
                ece = f", ECE {figures['ece']:.3f}" if "ece" in figures else ""
                scores.append(f"{split} {_percent(figures['accuracy'])} against {against} labels{ece}")
        print(
            f"  {name}{default}: {model['network']}, trained on {model['trained_on']}, "
            f"{model['bytes'] / 1e6:.1f} MB"
        )
        for line in scores:
            print(f"    {line}")
        print(f"    file: {model['file']}")
    print("extras:")
    for extra, (_, enables) in _EXTRAS.items():
        state = "installed" if info["extras"][extra] else f"not installed (pip install 'moodlens[{extra}]')"
        print(f"  [{extra}] {enables}: {state}")
    if "history_database" in info:
        print(f"history database: {info['history_database']} (MOODLENS_DB or --db change it)")
    if "token_file" in info:
        print(f"web app access token: {info['token_file']}")
    print("data looked for by tests and benchmarks (commands take explicit paths):")
    for variable, entry in info["data"].items():
        where = entry["set"] or entry["default"] or "not set"
        source = "from $" + variable if entry["set"] else f"set ${variable} to change"
        print(f"  {entry['what']}: {where} ({'found' if entry['found'] else 'absent'}; {source})")


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    _print_text(info)
    return 0
