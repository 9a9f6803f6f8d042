"""A run's checkpoints: their names, what they hold, resuming from ``last.pt`` (only with the
settings the run was started with), and loading a checkpoint or an exported model into a network."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from moodlens.data.dataset import file_sha256
from moodlens.labels import NUM_CLASSES
from moodlens.training.config import TrainConfig
from moodlens.training.faces import to_tensor
from moodlens.training.networks import load_state
from moodlens.training.state import LoopState, atomic_save, restore_rng, rng_state

LAST = "last.pt"
BEST = "best.pt"
# Each head of a two-head run (catalog.HEADS) keeps its own best checkpoint (``best-NAME.pt``),
# selected on PublicTest by its own measure.


def best_checkpoint(head: str | None) -> str:
    return BEST if head is None else f"best-{head}.pt"


#: Settings a resumed run may change; any other difference would make it a different run.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "threads", "device", "out", "data", "compile"})
#: Settings that only matter when a teacher is given; a run without one may see them change
#: (for instance when a default moves between versions) without becoming a different run.
DISTILLATION_SETTINGS = frozenset(
    {"teacher_network", "teacher_head", "distill_alpha", "distill_temperature", "teacher_logit_adjust_tau"}
)


def _distills(settings: dict[str, Any]) -> bool:
    return bool(settings.get("teacher") or settings.get("teachers"))


def check_resumable(saved: dict[str, Any], config: TrainConfig) -> None:
    """Refuse to resume a run with other settings than it was started with."""
    current = config.to_dict()
    ignored = RESUMABLE_CHANGES
    if not _distills(saved) and not _distills(current):
        ignored = ignored | DISTILLATION_SETTINGS
    differences = [
        f"{key}: {saved[key]!r} -> {current.get(key)!r}"
        for key in sorted(saved)
        if key not in ignored and saved[key] != current.get(key)
    ]
    if differences:
        raise ValueError(
            "cannot resume: the run was started with other settings ("
            + "; ".join(differences)
            + "); resume with the same config, or start a new run in another --out"
        )


def save_best(
    loop: LoopState, epoch: int, accuracy: float, head: str | None, *, network: str, out: Path
) -> None:
    best = {
        "ema": loop.ema.model.state_dict(),
        "epoch": epoch,
        "val_accuracy": accuracy,
        "network": network,
        "head": head,
    }
    atomic_save(best, out / best_checkpoint(head))


def save_last(loop: LoopState, epoch: int, config: TrainConfig, out: Path) -> None:
    atomic_save(
        {
            "model": loop.model.state_dict(),
            "ema": loop.ema.model.state_dict(),
            "optimizer": loop.optimizer.state_dict(),
            "rng": rng_state(loop.gen),
            "epoch": epoch,
            "step": loop.step,
            "best_acc": loop.best_acc,
            "best_epoch": loop.best_epoch,
            "best_crowd_acc": loop.best_crowd_acc,
            "best_crowd_epoch": loop.best_crowd_epoch,
            "stale": loop.stale,
            "config": config.to_dict(),
        },
        out / LAST,
    )


def restore(loop: LoopState, config: TrainConfig, out: Path, log: Any) -> None:
    ckpt = torch.load(out / LAST, map_location="cpu", weights_only=False)
    check_resumable(ckpt["config"], config)
    loop.model.load_state_dict(ckpt["model"])
    loop.ema.model.load_state_dict(ckpt["ema"])
    loop.optimizer.load_state_dict(ckpt["optimizer"])
    restore_rng(ckpt["rng"], loop.gen)
    loop.epoch, loop.step = ckpt["epoch"] + 1, ckpt["step"]
    loop.best_acc, loop.best_epoch, loop.stale = ckpt["best_acc"], ckpt["best_epoch"], ckpt["stale"]
    loop.best_crowd_acc = ckpt.get("best_crowd_acc", -1.0)
    loop.best_crowd_epoch = ckpt.get("best_crowd_epoch", -1)
    log(f"resumed from {out / LAST} after epoch {ckpt['epoch'] + 1}/{config.epochs}")


#: What a kept run may weigh per file (issue 27: a checkpoint the repository keeps, <= 20 MB each).
KEEP_LIMIT_BYTES = 20 * 2**20
#: What a kept run may weigh in all: a run that needs more is not one to keep in a repository.
KEEP_TOTAL_BYTES = 64 * 2**20
#: The manifest of the files a kept run holds in parts (name -> parts, size, sha256).
PARTS = "parts.json"


def _to_bfloat16(tree: Any) -> Any:
    """``tree`` with every floating-point tensor in bfloat16 (dicts and lists followed)."""
    if torch.is_tensor(tree):
        return tree.to(torch.bfloat16) if tree.is_floating_point() else tree
    if isinstance(tree, dict):
        return {k: _to_bfloat16(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_to_bfloat16(v) for v in tree]
    return tree


def _load_kept(path: Path) -> Any:
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # a truncated or foreign file: say which, keep what is kept
        raise ValueError(
            f"{path}: not a readable training checkpoint ({type(exc).__name__}: {exc})"
        ) from None


def keep_run(
    run: Path, dest: Path, *, limit_bytes: int = KEEP_LIMIT_BYTES, total_bytes: int = KEEP_TOTAL_BYTES
) -> list[Path]:
    """A copy of ``run`` small enough to commit, that ``--resume`` continues from once
    :func:`restore_run` has put it back: the run's JSON files, its best checkpoints and
    ``last.pt``, each at most ``limit_bytes`` a file. The optimizer's momentum is kept in bfloat16;
    a checkpoint still over the limit (a vgg_m or vgg_l run) keeps its weights and their moving
    average in bfloat16 too, and one still over it is cut into parts (``NAME.part-000``, ...;
    :data:`PARTS` lists them with the whole file's sha256). A resumed run goes on from that rounding,
    not bit for bit (loading casts back to float32). ``dest`` is replaced, not added to. Raises
    ValueError, writing nothing, if the run weighs more than ``total_bytes`` kept."""

    last = run / LAST
    if not last.is_file():
        raise ValueError(f"{run}: no {LAST} to keep (is it a run folder?)")
    here, there = run.resolve(), dest.resolve()
    if there == here or here in there.parents or there in here.parents:
        raise ValueError(f"{dest}: keep a run elsewhere than in, above or below {run} (it is replaced)")
    ckpt = _load_kept(last)
    try:
        states = ckpt["optimizer"]["state"].values()
    except Exception:
        raise ValueError(f"{last}: not a readable training checkpoint (no optimizer state)") from None
    for state in states:
        for key, value in state.items():
            if key != "step" and torch.is_tensor(value) and value.is_floating_point():
                state[key] = value.to(torch.bfloat16)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        torch.save(ckpt, staging / LAST)
        if (staging / LAST).stat().st_size > limit_bytes:
            ckpt["model"], ckpt["ema"] = _to_bfloat16(ckpt["model"]), _to_bfloat16(ckpt["ema"])
            torch.save(ckpt, staging / LAST)
        for path in sorted(run.iterdir()):
            if path.suffix in (".json", ".jsonl") and path.name != PARTS:
                shutil.copy2(path, staging / path.name)
            elif path.suffix == ".pt" and path.name.startswith("best"):
                shutil.copy2(path, staging / path.name)
                if path.stat().st_size > limit_bytes:
                    torch.save(_to_bfloat16(_load_kept(path)), staging / path.name)
        kept = sum(p.stat().st_size for p in staging.iterdir())
        if kept > total_bytes:
            raise ValueError(
                f"{run}: too large to keep ({kept / 2**20:.1f} MB kept, at most "
                f"{total_bytes / 2**20:.0f} MB in all)"
            )
        manifest: dict[str, Any] = {}
        for path in sorted(staging.iterdir()):
            if path.stat().st_size > limit_bytes:
                manifest[path.name] = {"bytes": path.stat().st_size, "sha256": file_sha256(path), "parts": []}
                with path.open("rb") as handle:
                    for index, block in enumerate(iter(lambda: handle.read(limit_bytes), b"")):
                        part = staging / f"{path.name}.part-{index:03d}"
                        part.write_bytes(block)
                        manifest[path.name]["parts"].append(part.name)
                path.unlink()
        if manifest:
            (staging / PARTS).write_text(json.dumps(manifest, indent=1) + "\n")
        if dest.exists():
            shutil.rmtree(dest)
        staging.replace(dest)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return sorted(dest.iterdir())


def restore_run(kept: Path, run: Path) -> list[Path]:
    """Put a run kept by :func:`keep_run` back into ``run`` (a new or empty folder), joining its
    parts and checking each joined file's sha256, so that ``moodlens train --resume`` continues it.
    Raises ValueError, leaving ``run`` as it was, if a part is missing or a file does not match."""

    if not (kept / LAST).is_file() and not (kept / PARTS).is_file():
        raise ValueError(f"{kept}: not a kept run (no {LAST} and no {PARTS})")
    if run.exists() and any(run.iterdir()):
        raise ValueError(f"{run}: not empty; restore a kept run into a new folder")
    try:
        manifest = json.loads((kept / PARTS).read_text()) if (kept / PARTS).is_file() else {}
        in_parts = {str(p) for entry in manifest.values() for p in entry["parts"]}
        if not all(isinstance(e["bytes"], int) and isinstance(e["sha256"], str) for e in manifest.values()):
            raise TypeError("each file needs its size (bytes) and its sha256")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"{kept / PARTS}: unreadable or not a manifest of parts ({exc!r})") from None
    if not (kept / LAST).is_file() and LAST not in manifest:
        raise ValueError(f"{kept}: neither {LAST} nor its parts are there")
    run.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{run.name}.", dir=run.parent))
    try:
        for path in sorted(kept.iterdir()):
            if path.is_file() and path.name != PARTS and path.name not in in_parts:
                shutil.copy2(path, staging / path.name)
        for name, entry in manifest.items():
            target = staging / Path(name).name
            with target.open("wb") as out:
                for part in entry["parts"]:
                    source = kept / Path(part).name
                    if not source.is_file():
                        raise ValueError(f"{kept}: {name} is missing its part {part}")
                    out.write(source.read_bytes())
            if target.stat().st_size != entry["bytes"] or file_sha256(target) != entry["sha256"]:
                raise ValueError(f"{kept}: {name} joined from its parts does not match its sha256")
        if run.exists():
            run.rmdir()
        staging.replace(run)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return sorted(run.iterdir())


def checkpoint_heads(path: Path) -> int:
    """How many heads a saved network has: its last layer's outputs over the 7 classes."""
    if not path.is_file():
        return 1  # load_checkpoint names the missing file
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "ema" in state:
        state = state["ema"]
    last = [v for k, v in state.items() if k.endswith(".weight") and getattr(v, "ndim", 0) == 2]
    return max(1, int(last[-1].shape[0]) // NUM_CLASSES) if last else 1


def load_checkpoint(
    model: nn.Module, path: Path, role: str, *, faces: np.ndarray | None = None, head: int = 0
) -> None:
    """Weights for a teacher or a fine-tuning start, with an error that names the file and its role.

    A fine-tuning start may also be an exported VGG model (``.onnx``, the shipped one included):
    ``faces`` then measure its batch-norm statistics (see ``onnx_import``).
    """
    if not path.is_file():
        raise FileNotFoundError(f"{role} checkpoint {path} does not exist")
    if path.suffix == ".onnx" and faces is not None:
        from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

        from moodlens.training.onnx_import import import_vgg

        if path.stat().st_size == 0:
            raise ValueError(f"{role} model {path} is empty (0 bytes)")
        try:
            import_vgg(model, path, to_tensor(faces).float(), head=head)
        except DecodeError:
            raise ValueError(
                f"{role} model {path} is not a readable ONNX file (corrupt or truncated)"
            ) from None
        except ValueError as exc:
            raise ValueError(
                f"{role} model {path} does not fit network {type(model).__name__}: {exc}"
            ) from None
        return
    try:
        load_state(model, path)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise ValueError(
            f"{role} checkpoint {path} does not fit network {type(model).__name__}: {first}"
        ) from None
