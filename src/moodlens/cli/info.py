"""``moodlens info``: versions, the models in use, installed extras and where data is kept."""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import sys
from typing import Any

_EXTRAS = {"train": "torch", "store": "sqlalchemy", "postgres": "psycopg", "serve": "fastapi"}


def register(sub: Any) -> None:
    parser = sub.add_parser("info", help="versions, models, installed extras and data locations")
    parser.add_argument("--json", action="store_true", help="print as JSON")
    parser.set_defaults(func=run)


def collect() -> dict[str, Any]:
    import cv2
    import numpy as np
    import onnxruntime

    from moodlens._version import __version__
    from moodlens.classification import default_model_path, load_metadata
    from moodlens.detection.libfacedetection import backend_name

    model = default_model_path()
    meta = load_metadata(model)
    info: dict[str, Any] = {
        "moodlens": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": np.__version__,
        "opencv": cv2.__version__,
        "onnxruntime": onnxruntime.__version__,
        "detector": f"yunet via {backend_name()}",
        "model": {
            "file": str(model),
            "bytes": model.stat().st_size,
            "network": meta.training.get("network"),
            "metrics": meta.metrics,
        },
        "extras": {extra: importlib.util.find_spec(module) is not None for extra, module in _EXTRAS.items()},
    }
    if info["extras"]["store"]:
        from moodlens.store.database import default_path

        info["history_default"] = str(default_path())
    if info["extras"]["serve"]:
        from moodlens.service.security import default_token_path

        info["token_file"] = str(default_token_path())
    return info


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        json.dump(info, sys.stdout, indent=2)
        print()
        return 0
    for key, value in info.items():
        if isinstance(value, dict):
            print(f"{key}:")
            for k, v in value.items():
                print(f"  {k}: {v}")
        else:
            print(f"{key}: {value}")
    return 0
