"""What a run writes about itself beside its checkpoints: the settings and command it was started
with, its data, one line of history per epoch, its teachers' scores, and the summary that goes into
``summary*.json`` and the exported model's JSON."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch

from moodlens._version import __version__
from moodlens.data import FaceDataset
from moodlens.training.config import TrainConfig
from moodlens.training.networks import count_parameters

HISTORY = "history.jsonl"
#: The teachers' PublicTest figures of a distillation run (see distillation.score_teachers).
TEACHERS = "teachers.json"


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")


def record_start(
    out: Path,
    config: TrainConfig,
    command: list[str],
    *,
    data: FaceDataset,
    train: FaceDataset,
    val: FaceDataset,
    resume: bool,
) -> None:
    """A new run's settings (``config.json``) or a resumed run's command (``commands.log``), and the
    data it sees this time."""
    if resume:
        with (out / "commands.log").open("a", encoding="utf-8") as handle:
            handle.write(" ".join(command) + "\n")
    else:
        write_json(out / "config.json", {"config": config.to_dict(), "command": command})
    write_json(
        out / "data.json",
        {
            "source": data.source,
            "sha256": data.sha256,
            "skipped": data.skipped,
            "train_counts": train.class_counts().tolist(),
            "val_counts": val.class_counts().tolist(),
        },
    )


def append_history(out: Path, record: dict[str, Any]) -> None:
    with (out / HISTORY).open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


def summary(
    model: Any,
    data: FaceDataset,
    best_epoch: int,
    metrics: dict[str, Any],
    *,
    config: TrainConfig,
    command: list[str],
    out: Path,
) -> dict[str, Any]:
    """What a run records about itself (in summary*.json and in the exported model's JSON)."""
    history = [json.loads(line) for line in (out / HISTORY).read_text().splitlines()]
    teachers = out / TEACHERS
    return {
        "network": config.network,
        "parameters": count_parameters(model),
        "best_epoch": best_epoch + 1,
        "epochs_run": len(history),
        "metrics": metrics,
        "train_seconds": sum(h["seconds"] for h in history),
        "data_sha256": data.sha256,
        "data_source": data.source,
        "seed": config.seed,
        "command": " ".join(command),
        "moodlens_version": __version__,
        "torch_version": torch.__version__,
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        **({"teachers": json.loads(teachers.read_text(encoding="utf-8"))} if teachers.is_file() else {}),
    }
