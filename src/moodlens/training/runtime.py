"""What a run takes from the machine it runs on: the torch device, bf16 support, and progress bars
fit for a terminal or a log file."""

from __future__ import annotations

import shutil
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn


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


def compiled(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    """``model`` compiled by torch's inductor, which builds C++ kernels on the first batch.

    The module itself is not replaced, so its state dict, the EMA copy and the evaluation pass
    stay those of the plain model (no ``_orig_mod.`` prefix in checkpoints).
    """
    if not any(shutil.which(name) for name in ("g++", "c++", "clang++")):
        raise RuntimeError(
            "compile = true needs a C++ compiler (g++, c++ or clang++ on PATH) to build its "
            "kernels; install one or set compile = false"
        )
    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    if not headers.is_file():
        # Said now rather than on the first batch, after the data and any teachers are loaded.
        raise RuntimeError(
            f"compile = true needs Python's C headers ({headers} is missing; on Debian: "
            "apt-get install python3-dev); install them or set compile = false"
        )
    return torch.compile(model)
