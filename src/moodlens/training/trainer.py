"""The training loop: batched augmentation, bf16 autocast, EMA weights, checkpoint every epoch.

Training = fit, PublicTest = model selection and early stopping, PrivateTest = the final
report only (evaluated once, after training, on the selected weights).
"""

from __future__ import annotations

import json
import os
import platform
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from moodlens._version import __version__
from moodlens.data import FaceDataset, load_dataset
from moodlens.evaluation.metrics import Metrics, compute_metrics
from moodlens.labels import NUM_CLASSES
from moodlens.training.augment import augment_batch, resize_batch
from moodlens.training.catalog import HEADS
from moodlens.training.config import TrainConfig
from moodlens.training.networks import (
    NETWORKS,
    TRANSFER_NETWORKS,
    count_parameters,
    create_network,
    load_state,
)
from moodlens.training.state import EMA, atomic_save, lr_at, restore_rng, rng_state

LAST = "last.pt"
BEST = "best.pt"
#: The teachers' PublicTest figures of a distillation run (see Trainer._score_teachers).
TEACHERS = "teachers.json"
# Each head of a two-head run (catalog.HEADS) keeps its own best checkpoint (``best-NAME.pt``),
# selected on PublicTest by its own measure.


def best_checkpoint(head: str | None) -> str:
    return BEST if head is None else f"best-{head}.pt"


@dataclass(frozen=True)
class TrainResult:
    out: Path
    best_epoch: int
    best_val_accuracy: float
    test_accuracy: float | None
    test_macro_f1: float | None
    onnx: Path | None
    #: For a two-head run: each head's ONNX export (``model-fer2013.onnx``, ``model-crowd.onnx``).
    head_models: dict[str, Path] = field(default_factory=dict)


#: Settings a resumed run may change; any other difference would make it a different run.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "threads", "device", "out", "data"})
#: Settings that only matter when a teacher is given; a run without one may see them change
#: (for instance when a default moves between versions) without becoming a different run.
DISTILLATION_SETTINGS = frozenset({"teacher_network", "teacher_head", "distill_alpha", "distill_temperature"})


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


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device=cuda asked for, but torch sees no CUDA GPU")
    return torch.device(name)


def _seed_everything(seed: int) -> torch.Generator:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    gen = torch.Generator()
    gen.manual_seed(seed)
    return gen


def _stratified_limit(labels: np.ndarray, limit: int, seed: int) -> np.ndarray:
    """Indices of about ``limit`` examples keeping class proportions (at least 2 per class)."""
    rng = np.random.default_rng(seed)
    chosen: list[np.ndarray] = []
    for c in range(NUM_CLASSES):
        idx = np.flatnonzero(labels == c)
        take = min(len(idx), max(2, round(limit * len(idx) / len(labels))))
        chosen.append(rng.choice(idx, size=take, replace=False))
    return np.sort(np.concatenate(chosen))


def split_data(data: FaceDataset, config: TrainConfig) -> tuple[FaceDataset, FaceDataset]:
    """Training and model-selection sets; without a PublicTest split, 10% of Training is held out."""
    train = data.split("Training")
    if "PublicTest" in set(data.splits.tolist()):
        val = data.split("PublicTest")
    else:
        held = _stratified_limit(train.labels, max(NUM_CLASSES * 2, len(train) // 10), config.seed)
        mask = np.zeros(len(train), dtype=bool)
        mask[held] = True
        train, val = train.subset(~mask), train.subset(mask)
    if config.limit:
        train = train.subset(
            np.isin(np.arange(len(train)), _stratified_limit(train.labels, config.limit, config.seed))
        )
        val_limit = max(NUM_CLASSES * 2, config.limit // 4)
        val = val.subset(np.isin(np.arange(len(val)), _stratified_limit(val.labels, val_limit, config.seed)))
    return train, val


def class_weights(counts: np.ndarray, scheme: str) -> torch.Tensor:
    counts = np.maximum(counts.astype(np.float64), 1.0)
    if scheme == "none":
        weights = np.ones_like(counts)
    elif scheme == "inverse_sqrt":
        weights = counts**-0.5
    else:
        weights = 1.0 / counts
    weights = weights / (weights * counts).sum() * counts.sum()  # mean weight per example = 1
    return torch.tensor(weights, dtype=torch.float32)


def _param_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim > 1 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


def _to_tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).unsqueeze(1)


@torch.no_grad()
def predict_probabilities(
    model: nn.Module,
    images: np.ndarray,
    *,
    size: int,
    device: torch.device,
    bf16: bool,
    batch_size: int = 256,
    hflip_tta: bool = False,
    heads: int = 1,
) -> np.ndarray:
    """Softmax outputs of ``model`` on uint8 (N,H,W) images: (N, 7 * heads), one softmax per head."""
    model.eval()
    out = []

    def softmax(logits: torch.Tensor) -> torch.Tensor:
        return F.softmax(logits.float().view(len(logits), heads, NUM_CLASSES), dim=2).flatten(1)

    for start in range(0, len(images), batch_size):
        x = resize_batch(_to_tensor(images[start : start + batch_size]).float(), size).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            probs = softmax(model(x))
            if hflip_tta:
                probs = (probs + softmax(model(torch.flip(x, dims=[3])))) / 2
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES * heads), np.float32)


def _progress(iterable: Any, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    # In a log file, a bar redrawn every 0.1 s would be megabytes of carriage returns.
    interactive = sys.stderr.isatty()
    return tqdm(iterable, mininterval=0.2 if interactive else 30.0, dynamic_ncols=True, **kwargs)


class _Head(nn.Module):
    """One head's logits of a network with several."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model, self.index = model, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index * NUM_CLASSES : (self.index + 1) * NUM_CLASSES]


class _OnnxTeacher(nn.Module):
    """An exported model as a teacher, run by ONNX Runtime exactly as it ships (INT8 included):
    any network, and about twice as fast as the same network's float forward pass in torch on a
    CPU. Its log-probabilities stand for logits: they differ by a constant per row, which neither
    the softmax nor the distillation temperature sees. Its calibration temperature is left out.
    A teacher with another input size sees the student's faces resized as inference would
    resize them (bilinear), so a 96-pixel transfer network may teach a 48-pixel student."""

    def __init__(self, path: Path, *, threads: int) -> None:
        super().__init__()
        from moodlens.classification.onnx import OnnxClassifier
        from moodlens.errors import ModelError

        if not path.is_file():
            raise FileNotFoundError(f"teacher model {path} does not exist")
        if path.stat().st_size == 0:
            raise ValueError(f"teacher model {path} is empty (0 bytes)")
        try:
            self.classifier = OnnxClassifier(path, threads=threads, batch_size=1024)
        except ModelError as exc:
            raise ValueError(f"teacher model {exc}") from None  # the message starts with the path
        meta = self.classifier.metadata
        self.size = tuple(meta.input_size)
        self.channels = meta.channels  # a colour model sees the gray face as three equal planes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        faces = x.detach().float().cpu()
        if tuple(faces.shape[2:]) != self.size:
            faces = F.interpolate(faces, size=self.size, mode="bilinear", align_corners=False)
        if faces.shape[1] != self.channels:
            faces = faces.expand(-1, self.channels, -1, -1)
        probs = self.classifier.predict_prepared(faces.contiguous().numpy(), calibrated=False)
        return torch.from_numpy(np.log(np.clip(probs, 1e-12, None))).to(x.device)


def _checkpoint_heads(path: Path) -> int:
    """How many heads a saved network has: its last layer's outputs over the 7 classes."""
    if not path.is_file():
        return 1  # _load_checkpoint names the missing file
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "ema" in state:
        state = state["ema"]
    last = [v for k, v in state.items() if k.endswith(".weight") and getattr(v, "ndim", 0) == 2]
    return max(1, int(last[-1].shape[0]) // NUM_CLASSES) if last else 1


class _Ensemble(nn.Module):
    """Teachers whose logits are averaged."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x).float() for m in self.members]).mean(dim=0)


@dataclass
class _Loop:
    """Everything a run carries from batch to batch and epoch to epoch."""

    model: nn.Module
    ema: EMA
    optimizer: torch.optim.Optimizer
    teacher: nn.Module | None
    weights: torch.Tensor
    images: torch.Tensor
    labels: torch.Tensor
    soft: torch.Tensor | None
    gen: torch.Generator
    steps_per_epoch: int
    #: Two-head runs: the crowd head's soft targets, where they are targets, and its class weights.
    crowd: torch.Tensor | None = None
    crowd_valid: torch.Tensor | None = None
    crowd_weights: torch.Tensor | None = None
    #: ``tau * log(prior)`` of the first head's and the crowd head's training labels, added to
    #: the logits inside the loss only (a logit-adjusted run); zeros otherwise.
    offset: torch.Tensor | None = None
    crowd_offset: torch.Tensor | None = None
    epoch: int = 0
    step: int = 0
    best_acc: float = -1.0
    best_epoch: int = -1
    #: Two-head runs: the crowd head's best PublicTest FERPlus-majority accuracy and its epoch.
    best_crowd_acc: float = -1.0
    best_crowd_epoch: int = -1
    stale: int = 0


class Trainer:
    """One training run in ``config.out``; ``resume`` continues from ``last.pt`` there."""

    def __init__(self, config: TrainConfig, *, command: list[str] | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.command = command or sys.argv
        self.device = _device(config.device)
        self.size = NETWORKS[config.network].input_size
        self.bf16 = config.bf16 and (self.device.type == "cuda" or _cpu_has_bf16())
        self.heads = len(HEADS) if config.ferplus_mode == "both" and config.ferplus else 1

    def run(self, *, resume: bool = False, log: Any = print) -> TrainResult:
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        if resume and not (self.out / LAST).exists():
            log(f"no checkpoint at {self.out / LAST}; starting a new run")
            resume = False
        if not resume and (self.out / LAST).exists():
            raise FileExistsError(
                f"{self.out} already holds a run; pass --resume to continue it or choose another --out"
            )
        gen = _seed_everything(config.seed)
        data, train, val = self._prepare_data(resume, log)
        loop = self._build(train, gen)
        if loop.teacher is not None:
            self._score_teachers(loop.teacher, val, log, reuse=resume)
        if resume:
            self._restore(loop, log)
        log(
            f"network {config.network}: {count_parameters(loop.model) / 1e6:.2f}M parameters, input "
            f"{self.size}x{self.size}, device {self.device}, bf16={self.bf16}, "
            f"threads={torch.get_num_threads()}"
        )
        epochs = _progress(
            range(loop.epoch, config.epochs),
            desc="epochs",
            unit="ep",
            initial=loop.epoch,
            total=config.epochs,
        )
        for epoch in epochs:
            if loop.stale >= config.patience:
                log(f"early stop: no PublicTest improvement for {config.patience} epochs")
                break
            started = time.monotonic()
            loss, accuracy = self._train_epoch(loop, epoch)
            record = self._end_epoch(
                loop, epoch, val, loss=loss, accuracy=accuracy, seconds=time.monotonic() - started
            )
            epochs.set_postfix(
                val_acc=f"{record['val_accuracy']:.4f}", best=f"{loop.best_acc:.4f}", refresh=False
            )
            log(
                f"epoch {epoch + 1}/{config.epochs} loss {loss:.4f} train_acc {accuracy:.4f} "
                f"val_acc {record['val_accuracy']:.4f} val_f1 {record['val_macro_f1']:.4f} "
                f"val_bal {record['val_balanced_accuracy']:.4f}"
                + (
                    f" val_crowd_acc {record['val_crowd_accuracy']:.4f}"
                    if "val_crowd_accuracy" in record
                    else ""
                )
                + f"{' *' if loop.stale == 0 else ''} ({record['seconds']:.0f}s)"
            )
        epochs.close()
        if self.heads > 1:
            return self._finish_heads(data, loop, log)
        return self._finish(data, loop.best_acc, loop.best_epoch, log)

    def _prepare_data(self, resume: bool, log: Any) -> tuple[FaceDataset, FaceDataset, FaceDataset]:
        config = self.config
        data = load_dataset(
            config.data, ferplus=config.ferplus, ferplus_mode=config.ferplus_mode, skip_bad=config.skip_bad
        )
        train, val = split_data(data, config)
        log(
            f"data: {data.source} sha256={data.sha256[:12]}… train={len(train)} val={len(val)} "
            f"skipped={data.skipped} classes={train.class_counts().tolist()}"
        )
        if self.heads > 1:
            log(
                f"crowd head: {int((val.crowd_labels() >= 0).sum())} PublicTest faces with a FERPlus "
                "majority select its epoch"
            )
        if resume:
            with (self.out / "commands.log").open("a", encoding="utf-8") as handle:
                handle.write(" ".join(self.command) + "\n")
        else:
            self._write_json("config.json", {"config": config.to_dict(), "command": self.command})
        self._write_json(
            "data.json",
            {
                "source": data.source,
                "sha256": data.sha256,
                "skipped": data.skipped,
                "train_counts": train.class_counts().tolist(),
                "val_counts": val.class_counts().tolist(),
            },
        )
        return data, train, val

    def _build(self, train: FaceDataset, gen: torch.Generator) -> _Loop:
        config = self.config
        model = create_network(config.network, **self._network_kwargs())
        if config.init_from:
            _load_checkpoint(model, Path(config.init_from), "init_from", faces=train.images[:512])
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        crowd: dict[str, Any] = {}
        if self.heads > 1:
            from moodlens.data.ferplus import crowd_distribution

            assert train.votes is not None
            soft, valid = crowd_distribution(train.votes)
            top = soft[valid].argmax(axis=1)
            crowd = {
                "crowd": torch.from_numpy(soft),
                "crowd_valid": torch.from_numpy(valid),
                "crowd_weights": class_weights(
                    np.bincount(top, minlength=NUM_CLASSES), config.class_weighting
                ).to(self.device),
                "crowd_offset": self._offset(soft[valid].mean(axis=0)),
            }
        prior = (
            train.soft_labels.mean(axis=0)
            if train.soft_labels is not None
            else train.class_counts() / max(1, len(train))
        )
        return _Loop(
            model=model,
            ema=EMA(model, config.ema_decay),
            optimizer=self._optimizer(model),
            teacher=self._teacher(),
            weights=class_weights(train.class_counts(), config.class_weighting).to(self.device),
            images=_to_tensor(train.images),
            labels=torch.from_numpy(train.labels),
            soft=None if train.soft_labels is None else torch.from_numpy(train.soft_labels),
            gen=gen,
            steps_per_epoch=max(1, len(train) // config.batch_size),
            offset=self._offset(prior),
            **crowd,
        )

    def _restore(self, loop: _Loop, log: Any) -> None:
        ckpt = torch.load(self.out / LAST, map_location="cpu", weights_only=False)
        check_resumable(ckpt["config"], self.config)
        loop.model.load_state_dict(ckpt["model"])
        loop.ema.model.load_state_dict(ckpt["ema"])
        loop.optimizer.load_state_dict(ckpt["optimizer"])
        restore_rng(ckpt["rng"], loop.gen)
        loop.epoch, loop.step = ckpt["epoch"] + 1, ckpt["step"]
        loop.best_acc, loop.best_epoch, loop.stale = ckpt["best_acc"], ckpt["best_epoch"], ckpt["stale"]
        loop.best_crowd_acc = ckpt.get("best_crowd_acc", -1.0)
        loop.best_crowd_epoch = ckpt.get("best_crowd_epoch", -1)
        log(f"resumed from {self.out / LAST} after epoch {ckpt['epoch'] + 1}/{self.config.epochs}")

    def _train_epoch(self, loop: _Loop, epoch: int) -> tuple[float, float]:
        """One pass over the training set; returns (mean loss, accuracy on the augmented batches)."""
        config = self.config
        loop.model.train()
        order = torch.randperm(len(loop.labels), generator=loop.gen)
        running_loss, running_correct, seen = 0.0, 0, 0
        batches = _progress(range(loop.steps_per_epoch), desc=f"epoch {epoch + 1}", leave=False, unit="batch")
        for b in batches:
            idx = order[b * config.batch_size : (b + 1) * config.batch_size]
            x = augment_batch(loop.images[idx].float(), self.size, config.augment, loop.gen).to(self.device)
            if config.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = loop.labels[idx].to(self.device)
            for group in loop.optimizer.param_groups:
                group["lr"] = lr_at(loop.step, loop.steps_per_epoch, config)
            offset = 0.0 if loop.offset is None else loop.offset
            with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                logits = loop.model(x).float()
                if self.heads > 1:
                    loss = self._crowd_loss(loop, logits[:, NUM_CLASSES:], idx)
                    logits = logits[:, :NUM_CLASSES]
                    loss = loss + self._loss(logits + offset, y, None, loop.weights)
                else:
                    soft = None if loop.soft is None else loop.soft[idx].to(self.device)
                    loss = self._loss(logits + offset, y, soft, loop.weights)
                if loop.teacher is not None:
                    # The teacher learnt the labels' prior; the adjusted logits are what match it.
                    loss = self._distil(loss, logits + offset, loop.teacher, x)
            loop.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            loop.optimizer.step()
            loop.ema.update(loop.model, loop.step)
            loop.step += 1
            running_loss += loss.item() * len(idx)
            running_correct += int((logits.argmax(1) == y).sum())
            seen += len(idx)
            batches.set_postfix(
                loss=f"{running_loss / seen:.3f}",
                acc=f"{running_correct / seen:.3f}",
                lr=f"{loop.optimizer.param_groups[0]['lr']:.4f}",
                refresh=False,
            )
        batches.close()
        return running_loss / max(1, seen), running_correct / max(1, seen)

    def _distil(
        self, loss: torch.Tensor, logits: torch.Tensor, teacher: nn.Module, x: torch.Tensor
    ) -> torch.Tensor:
        config = self.config
        with torch.no_grad():
            t_logits = teacher(x).float()
        temp = config.distill_temperature
        kd = F.kl_div(
            F.log_softmax(logits / temp, dim=1), F.softmax(t_logits / temp, dim=1), reduction="batchmean"
        )
        return (1 - config.distill_alpha) * loss + config.distill_alpha * kd * temp * temp

    def _crowd_loss(self, loop: _Loop, logits: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Soft cross-entropy of the crowd head against the vote shares, on rows that are targets."""
        assert loop.crowd is not None and loop.crowd_valid is not None and loop.crowd_weights is not None
        assert loop.crowd_offset is not None
        valid = loop.crowd_valid[idx].to(self.device)
        if not bool(valid.any()):
            return logits.sum() * 0.0
        target = loop.crowd[idx].to(self.device)[valid]
        eps = self.config.label_smoothing
        target = target * (1 - eps) + eps / NUM_CLASSES
        adjusted = logits[valid] + loop.crowd_offset
        per_example = -(target * F.log_softmax(adjusted, dim=1)).sum(dim=1)
        weights = loop.crowd_weights[target.argmax(dim=1)]
        # Scaled to the whole batch, so that a batch with fewer crowd targets weighs less.
        return (per_example * weights).sum() / len(idx)

    def _save_best(self, loop: _Loop, epoch: int, accuracy: float, head: str | None) -> None:
        best = {
            "ema": loop.ema.model.state_dict(),
            "epoch": epoch,
            "val_accuracy": accuracy,
            "network": self.config.network,
            "head": head,
        }
        atomic_save(best, self.out / best_checkpoint(head))

    def _selection_metrics(self, val: FaceDataset, probs: np.ndarray) -> Metrics:
        """PublicTest metrics of the first head, against the labels that select its epoch."""
        if self.heads == 1 and self.config.ferplus_mode == "distribution" and val.votes is not None:
            # A crowd model is selected by the measure it is reported on: the FERPlus majority.
            crowd = val.crowd_labels()
            rated = crowd >= 0
            return compute_metrics(crowd[rated], probs[rated, :NUM_CLASSES].argmax(1))
        return compute_metrics(val.labels, probs[:, :NUM_CLASSES].argmax(1))

    def _score_teachers(self, teacher: nn.Module, val: FaceDataset, log: Any, *, reuse: bool) -> None:
        """The teachers' PublicTest accuracy, each and as the averaged ensemble the student learns
        from, by the measure that selects the student's epochs: a student rarely passes its
        teachers, so this says early whether a run can reach its target. Measured once per run
        (teachers.json, which a resumed run reuses unless it is unreadable), on PublicTest only."""
        path = self.out / TEACHERS
        if reuse and path.is_file():
            try:
                json.loads(path.read_text(encoding="utf-8"))
                return
            except (json.JSONDecodeError, UnicodeDecodeError):
                log(f"{path} is unreadable; scoring the teachers again")

        def score(model: nn.Module) -> dict[str, float]:
            probs = predict_probabilities(model, val.images, size=self.size, device=self.device, bf16=False)
            metrics = self._selection_metrics(val, probs)
            return {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1}

        assert isinstance(teacher, _Ensemble)
        pairs = zip(self.config.teachers, teacher.members, strict=True)
        members: list[dict[str, Any]] = [{"path": str(source), **score(member)} for source, member in pairs]
        ensemble = score(teacher)
        self._write_json(TEACHERS, {"PublicTest": {"ensemble": ensemble, "members": members}})
        each = ", ".join(f"{Path(m['path']).name} {m['accuracy']:.4f}" for m in members)
        log(f"teachers on PublicTest: ensemble {ensemble['accuracy']:.4f} ({each})")

    def _end_epoch(
        self, loop: _Loop, epoch: int, val: FaceDataset, *, loss: float, accuracy: float, seconds: float
    ) -> dict[str, Any]:
        """Validate the EMA weights on PublicTest, keep the best (per head), log, and checkpoint."""
        probs = predict_probabilities(
            loop.ema.model, val.images, size=self.size, device=self.device, bf16=self.bf16, heads=self.heads
        )
        metrics = self._selection_metrics(val, probs)
        improved = False
        if metrics.accuracy > loop.best_acc:
            loop.best_acc, loop.best_epoch, improved = metrics.accuracy, epoch, True
            self._save_best(loop, epoch, loop.best_acc, HEADS[0] if self.heads > 1 else None)
        crowd_record: dict[str, float] = {}
        if self.heads > 1:
            crowd = val.crowd_labels()
            rated = crowd >= 0
            crowd_metrics = compute_metrics(crowd[rated], probs[rated, NUM_CLASSES:].argmax(1))
            crowd_record = {
                "val_crowd_accuracy": crowd_metrics.accuracy,
                "val_crowd_macro_f1": crowd_metrics.macro_f1,
            }
            if crowd_metrics.accuracy > loop.best_crowd_acc:
                loop.best_crowd_acc, loop.best_crowd_epoch, improved = crowd_metrics.accuracy, epoch, True
                self._save_best(loop, epoch, loop.best_crowd_acc, HEADS[1])
        loop.stale = 0 if improved else loop.stale + 1
        record = {
            "epoch": epoch + 1,
            "train_loss": loss,
            "train_accuracy": accuracy,
            "val_accuracy": metrics.accuracy,
            "val_macro_f1": metrics.macro_f1,
            "val_balanced_accuracy": metrics.balanced_accuracy,
            **crowd_record,
            "lr": loop.optimizer.param_groups[0]["lr"],
            "seconds": seconds,
        }
        with (self.out / "history.jsonl").open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
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
                "config": self.config.to_dict(),
            },
            self.out / LAST,
        )
        return record

    def _network_kwargs(self, *, pretrained: bool | None = None) -> dict[str, Any]:
        if self.config.network in TRANSFER_NETWORKS:
            return {
                "pretrained": self.config.pretrained if pretrained is None else pretrained,
                "freeze_backbone": self.config.freeze_backbone,
            }
        return {"heads": self.heads} if self.heads > 1 else {}

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        groups = _param_groups(model, self.config.weight_decay)
        if self.config.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=self.config.lr)
        return torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum, nesterov=True)

    def _teacher(self) -> nn.Module | None:
        """The teachers' ensemble: run checkpoints (``.pt``, networks of ``teacher_network``) and
        exported models (``.onnx``, any network, the shipped ones included, run as exported)."""
        if not self.config.teachers:
            return None
        members: list[nn.Module] = []
        for path in self.config.teachers:
            if Path(path).suffix == ".onnx":
                members.append(_OnnxTeacher(Path(path), threads=self.config.threads))
                continue
            if NETWORKS[self.config.teacher_network].input_size != self.size:
                raise ValueError("the teacher must take the same input size as the student")
            kwargs: dict[str, Any] = (
                {"pretrained": False} if self.config.teacher_network in TRANSFER_NETWORKS else {}
            )
            heads = _checkpoint_heads(Path(path))
            if heads > 1:
                kwargs["heads"] = heads
            member = create_network(self.config.teacher_network, **kwargs)
            _load_checkpoint(member, Path(path), "teacher")
            if heads > 1:
                member = _Head(member, HEADS.index(self.config.teacher_head))
            members.append(member.to(self.device).eval())
        return _Ensemble(members)

    def _offset(self, prior: np.ndarray) -> torch.Tensor:
        """``tau * log(prior)`` for the logit-adjusted loss; a floor keeps an empty class finite."""
        tau = self.config.logit_adjust_tau
        log_prior = np.log(np.maximum(np.asarray(prior, dtype=np.float64), 1e-4))
        return torch.tensor(tau * log_prior, dtype=torch.float32, device=self.device)

    def _loss(
        self,
        logits: torch.Tensor,
        y: torch.Tensor,
        soft: torch.Tensor | None,
        weights: torch.Tensor,
    ) -> torch.Tensor:
        if soft is None:
            return F.cross_entropy(logits, y, weight=weights, label_smoothing=self.config.label_smoothing)
        eps = self.config.label_smoothing
        target = soft * (1 - eps) + eps / NUM_CLASSES
        per_example = -(target * F.log_softmax(logits, dim=1)).sum(dim=1)
        return (per_example * weights[y]).mean()

    def _finish(self, data: FaceDataset, best_acc: float, best_epoch: int, log: Any) -> TrainResult:
        from moodlens.training.export import export_onnx

        model = create_network(self.config.network, **self._network_kwargs(pretrained=False))
        load_state(model, self.out / BEST)
        model = model.to(self.device)
        test_acc = test_f1 = None
        test_metrics: dict[str, Any] = {}
        if "PrivateTest" in set(data.splits.tolist()) and not self.config.limit and self.config.final_test:
            test = data.split("PrivateTest")
            probs = predict_probabilities(model, test.images, size=self.size, device=self.device, bf16=False)
            metrics = compute_metrics(test.labels, probs.argmax(1))
            test_acc, test_f1 = metrics.accuracy, metrics.macro_f1
            test_metrics = {"PrivateTest": {"accuracy": test_acc, "macro_f1": test_f1}}
            log(f"PrivateTest (final report only): accuracy {test_acc:.4f} macro-F1 {test_f1:.4f}")
        summary = self._summary(
            model, data, best_epoch, {"PublicTest": {"accuracy": best_acc}, **test_metrics}
        )
        self._write_json("summary.json", summary)
        onnx_path = export_onnx(model.cpu(), self.out / "model.onnx", input_size=self.size, training=summary)
        log(f"exported {onnx_path} (+ {onnx_path.with_suffix('.json').name})")
        return TrainResult(self.out, best_epoch + 1, best_acc, test_acc, test_f1, onnx_path)

    def _summary(
        self, model: Any, data: FaceDataset, best_epoch: int, metrics: dict[str, Any]
    ) -> dict[str, Any]:
        """What a run records about itself (in summary*.json and in the exported model's JSON)."""
        history = [json.loads(line) for line in (self.out / "history.jsonl").read_text().splitlines()]
        teachers = self.out / TEACHERS
        return {
            "network": self.config.network,
            "parameters": count_parameters(model),
            "best_epoch": best_epoch + 1,
            "epochs_run": len(history),
            "metrics": metrics,
            "train_seconds": sum(h["seconds"] for h in history),
            "data_sha256": data.sha256,
            "data_source": data.source,
            "seed": self.config.seed,
            "command": " ".join(self.command),
            "moodlens_version": __version__,
            "torch_version": torch.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
            **({"teachers": json.loads(teachers.read_text(encoding="utf-8"))} if teachers.is_file() else {}),
        }

    def _finish_heads(self, data: FaceDataset, loop: _Loop, log: Any) -> TrainResult:
        """Export each head of a two-head run from its own best epoch (no PrivateTest look when
        ``final_test`` is off: the shipped, calibrated copies are measured once instead)."""
        from moodlens.training.export import export_onnx

        selected = {
            HEADS[0]: (loop.best_acc, loop.best_epoch, "FER2013 labels"),
            HEADS[1]: (loop.best_crowd_acc, loop.best_crowd_epoch, "FERPlus majority"),
        }
        exports: dict[str, Path] = {}
        for index, head in enumerate(HEADS):
            model = create_network(self.config.network, heads=self.heads)
            load_state(model, self.out / best_checkpoint(head))
            model = model.to(self.device)
            accuracy, epoch, scored_on = selected[head]
            test_metrics: dict[str, Any] = {}
            if (
                "PrivateTest" in set(data.splits.tolist())
                and not self.config.limit
                and self.config.final_test
            ):
                test = data.split("PrivateTest")
                truth = test.labels if head == HEADS[0] else test.crowd_labels()
                rated = truth >= 0
                probs = predict_probabilities(
                    model,
                    test.images[rated],
                    size=self.size,
                    device=self.device,
                    bf16=False,
                    heads=self.heads,
                )[:, index * NUM_CLASSES : (index + 1) * NUM_CLASSES]
                metrics = compute_metrics(truth[rated], probs.argmax(1))
                test_metrics = {"PrivateTest": {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1}}
                log(f"{head} head PrivateTest ({scored_on}): accuracy {metrics.accuracy:.4f}")
            summary = self._summary(
                model, data, epoch, {"PublicTest": {"accuracy": accuracy}, **test_metrics}
            )
            summary.update(head=head, scored_on=scored_on)
            self._write_json(f"summary-{head}.json", summary)
            exports[head] = export_onnx(
                model.cpu(),
                self.out / f"model-{head}.onnx",
                input_size=self.size,
                training=summary,
                head=index,
            )
            log(f"exported {exports[head]} (+ {exports[head].with_suffix('.json').name})")
        return TrainResult(
            self.out, loop.best_epoch + 1, loop.best_acc, None, None, exports[HEADS[0]], head_models=exports
        )

    def _write_json(self, name: str, value: Any) -> None:
        (self.out / name).write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")


def _load_checkpoint(model: nn.Module, path: Path, role: str, *, faces: np.ndarray | None = None) -> None:
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
            import_vgg(model, path, _to_tensor(faces).float())
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


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
