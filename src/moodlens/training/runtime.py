"""What a run takes from the machine it runs on: the torch device, bf16 support, and progress bars
fit for a terminal or a log file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch


def pick_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def progress(iterable: Any, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    # In a log file, a bar redrawn every 0.1 s would be megabytes of carriage returns.
    interactive = sys.stderr.isatty()
    return tqdm(iterable, mininterval=0.2 if interactive else 30.0, dynamic_ncols=True, **kwargs)
