"""The training loop: batched augmentation, bf16 autocast, EMA weights, checkpoint every epoch.

Training = fit, PublicTest = model selection and early stopping, PrivateTest = the final
report only (evaluated once, after training, on the selected weights).
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from moodlens._version import __version__
from moodlens.data import FaceDataset, load_dataset
from moodlens.evaluation.metrics import compute_metrics
from moodlens.labels import NUM_CLASSES
from moodlens.training.augment import augment_batch, resize_batch
from moodlens.training.config import TrainConfig
from moodlens.training.networks import (
    NETWORKS,
    TRANSFER_NETWORKS,
    count_parameters,
    create_network,
    load_state,
)

LAST = "last.pt"
BEST = "best.pt"


@dataclass(frozen=True)
class TrainResult:
    out: Path
    best_epoch: int
    best_val_accuracy: float
    test_accuracy: float | None
    test_macro_f1: float | None
    onnx: Path | None


#: Settings a resumed run may change; any other difference would make it a different run.
RESUMABLE_CHANGES = frozenset({"epochs", "patience", "threads", "device", "out", "data"})


def check_resumable(saved: dict[str, Any], config: TrainConfig) -> None:
    """Refuse to resume a run with other settings than it was started with."""
    current = config.to_dict()
    differences = [
        f"{key}: {saved[key]!r} -> {current.get(key)!r}"
        for key in sorted(saved)
        if key not in RESUMABLE_CHANGES and saved[key] != current.get(key)
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


class EMA:
    """Exponential moving average of weights (float tensors) and buffers (copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.model = copy.deepcopy(model).eval()
        self.decay = decay
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        # Warm-up: early on, follow the live weights closely.
        decay = min(self.decay, (1 + step) / (10 + step))
        live = model.state_dict()
        for name, value in self.model.state_dict().items():
            if value.dtype.is_floating_point:
                value.mul_(decay).add_(live[name].detach(), alpha=1 - decay)
            else:
                value.copy_(live[name])


def _lr_at(step: int, steps_per_epoch: int, config: TrainConfig) -> float:
    warm = config.warmup_epochs * steps_per_epoch
    total = config.epochs * steps_per_epoch
    if step < warm:
        return config.lr * (step + 1) / warm
    progress = (step - warm) / max(1, total - warm)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


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
) -> np.ndarray:
    """Softmax outputs of ``model`` on uint8 (N,H,W) images."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        x = resize_batch(_to_tensor(images[start : start + batch_size]).float(), size).to(device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            probs = F.softmax(model(x).float(), dim=1)
            if hflip_tta:
                probs = (probs + F.softmax(model(torch.flip(x, dims=[3])).float(), dim=1)) / 2
        out.append(probs.cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, NUM_CLASSES), np.float32)


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def _rng_state(gen: torch.Generator) -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "gen": gen.get_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def _restore_rng(state: dict[str, Any], gen: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    gen.set_state(state["gen"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def _progress(iterable: Any, **kwargs: Any) -> Any:
    from tqdm.auto import tqdm

    # In a log file, a bar redrawn every 0.1 s would be megabytes of carriage returns.
    interactive = sys.stderr.isatty()
    return tqdm(iterable, mininterval=0.2 if interactive else 30.0, dynamic_ncols=True, **kwargs)


class Trainer:
    """One training run in ``config.out``; ``resume`` continues from ``last.pt`` there."""

    def __init__(self, config: TrainConfig, *, command: list[str] | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.command = command or sys.argv
        self.device = _device(config.device)
        self.size = NETWORKS[config.network].input_size
        self.bf16 = config.bf16 and (self.device.type == "cuda" or _cpu_has_bf16())

    def run(self, *, resume: bool = False, log: Any = print) -> TrainResult:
        config = self.config
        if config.threads:
            torch.set_num_threads(config.threads)
        self.out.mkdir(parents=True, exist_ok=True)
        last_path = self.out / LAST
        if resume and not last_path.exists():
            log(f"no checkpoint at {last_path}; starting a new run")
            resume = False
        if not resume and last_path.exists():
            raise FileExistsError(
                f"{self.out} already holds a run; pass --resume to continue it or choose another --out"
            )
        gen = _seed_everything(config.seed)
        data = load_dataset(
            config.data,
            ferplus=config.ferplus,
            ferplus_mode=config.ferplus_mode,
            skip_bad=config.skip_bad,
        )
        train, val = split_data(data, config)
        log(
            f"data: {data.source} sha256={data.sha256[:12]}… train={len(train)} val={len(val)} "
            f"skipped={data.skipped} classes={train.class_counts().tolist()}"
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

        model = create_network(config.network, **self._network_kwargs()).to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        ema = EMA(model, config.ema_decay)
        optimizer = self._optimizer(model)
        teacher = self._teacher()
        weights = class_weights(train.class_counts(), config.class_weighting).to(self.device)

        images = _to_tensor(train.images)
        labels = torch.from_numpy(train.labels)
        soft = None if train.soft_labels is None else torch.from_numpy(train.soft_labels)
        steps_per_epoch = max(1, len(train) // config.batch_size)
        start_epoch, step, best_acc, best_epoch, stale = 0, 0, -1.0, -1, 0

        if resume:
            ckpt = torch.load(last_path, map_location="cpu", weights_only=False)
            check_resumable(ckpt["config"], config)
            model.load_state_dict(ckpt["model"])
            ema.model.load_state_dict(ckpt["ema"])
            optimizer.load_state_dict(ckpt["optimizer"])
            _restore_rng(ckpt["rng"], gen)
            start_epoch, step = ckpt["epoch"] + 1, ckpt["step"]
            best_acc, best_epoch, stale = ckpt["best_acc"], ckpt["best_epoch"], ckpt["stale"]
            log(f"resumed from {last_path} after epoch {ckpt['epoch'] + 1}/{config.epochs}")

        log(
            f"network {config.network}: {count_parameters(model) / 1e6:.2f}M parameters, input "
            f"{self.size}x{self.size}, device {self.device}, bf16={self.bf16}, "
            f"threads={torch.get_num_threads()}"
        )
        epochs = _progress(
            range(start_epoch, config.epochs),
            desc="epochs",
            unit="ep",
            initial=start_epoch,
            total=config.epochs,
        )
        for epoch in epochs:
            if stale >= config.patience:
                log(f"early stop: no PublicTest improvement for {config.patience} epochs")
                break
            started = time.monotonic()
            model.train()
            order = torch.randperm(len(train), generator=gen)
            running_loss, running_correct, seen = 0.0, 0, 0
            batches = _progress(range(steps_per_epoch), desc=f"epoch {epoch + 1}", leave=False, unit="batch")
            for b in batches:
                idx = order[b * config.batch_size : (b + 1) * config.batch_size]
                x = augment_batch(images[idx].float(), self.size, config.augment, gen).to(self.device)
                if config.channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                y = labels[idx].to(self.device)
                for group in optimizer.param_groups:
                    group["lr"] = _lr_at(step, steps_per_epoch, config)
                with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.bf16):
                    logits = model(x).float()
                    loss = self._loss(logits, y, None if soft is None else soft[idx].to(self.device), weights)
                    if teacher is not None:
                        with torch.no_grad():
                            t_logits = teacher(x).float()
                        temp = config.distill_temperature
                        kd = (
                            F.kl_div(
                                F.log_softmax(logits / temp, dim=1),
                                F.softmax(t_logits / temp, dim=1),
                                reduction="batchmean",
                            )
                            * temp
                            * temp
                        )
                        loss = (1 - config.distill_alpha) * loss + config.distill_alpha * kd
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                ema.update(model, step)
                step += 1
                running_loss += loss.item() * len(idx)
                running_correct += int((logits.argmax(1) == y).sum())
                seen += len(idx)
                batches.set_postfix(
                    loss=f"{running_loss / seen:.3f}",
                    acc=f"{running_correct / seen:.3f}",
                    lr=f"{optimizer.param_groups[0]['lr']:.4f}",
                    refresh=False,
                )
            batches.close()

            probs = predict_probabilities(
                ema.model, val.images, size=self.size, device=self.device, bf16=self.bf16
            )
            metrics = compute_metrics(val.labels, probs.argmax(1))
            improved = metrics.accuracy > best_acc
            if improved:
                best_acc, best_epoch, stale = metrics.accuracy, epoch, 0
                _atomic_save(
                    {
                        "ema": ema.model.state_dict(),
                        "epoch": epoch,
                        "val_accuracy": best_acc,
                        "network": config.network,
                    },
                    self.out / BEST,
                )
            else:
                stale += 1
            record = {
                "epoch": epoch + 1,
                "train_loss": running_loss / max(1, seen),
                "train_accuracy": running_correct / max(1, seen),
                "val_accuracy": metrics.accuracy,
                "val_macro_f1": metrics.macro_f1,
                "lr": optimizer.param_groups[0]["lr"],
                "seconds": time.monotonic() - started,
            }
            with (self.out / "history.jsonl").open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(record) + "\n")
            _atomic_save(
                {
                    "model": model.state_dict(),
                    "ema": ema.model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "rng": _rng_state(gen),
                    "epoch": epoch,
                    "step": step,
                    "best_acc": best_acc,
                    "best_epoch": best_epoch,
                    "stale": stale,
                    "config": config.to_dict(),
                },
                last_path,
            )
            epochs.set_postfix(val_acc=f"{metrics.accuracy:.4f}", best=f"{best_acc:.4f}", refresh=False)
            log(
                f"epoch {epoch + 1}/{config.epochs} loss {record['train_loss']:.4f} "
                f"train_acc {record['train_accuracy']:.4f} val_acc {metrics.accuracy:.4f} "
                f"val_f1 {metrics.macro_f1:.4f}{' *' if improved else ''} ({record['seconds']:.0f}s)"
            )
        epochs.close()
        return self._finish(data, best_acc, best_epoch, log)

    def _network_kwargs(self, *, pretrained: bool | None = None) -> dict[str, Any]:
        if self.config.network in TRANSFER_NETWORKS:
            return {
                "pretrained": self.config.pretrained if pretrained is None else pretrained,
                "freeze_backbone": self.config.freeze_backbone,
            }
        return {}

    def _optimizer(self, model: nn.Module) -> torch.optim.Optimizer:
        groups = _param_groups(model, self.config.weight_decay)
        if self.config.optimizer == "adamw":
            return torch.optim.AdamW(groups, lr=self.config.lr)
        return torch.optim.SGD(groups, lr=self.config.lr, momentum=self.config.momentum, nesterov=True)

    def _teacher(self) -> nn.Module | None:
        if self.config.teacher is None:
            return None
        teacher = create_network(self.config.teacher_network)
        load_state(teacher, Path(self.config.teacher))
        teacher = teacher.to(self.device).eval()
        if NETWORKS[self.config.teacher_network].input_size != self.size:
            raise ValueError("the teacher must take the same input size as the student")
        return teacher

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
        if "PrivateTest" in set(data.splits.tolist()) and not self.config.limit:
            test = data.split("PrivateTest")
            probs = predict_probabilities(model, test.images, size=self.size, device=self.device, bf16=False)
            metrics = compute_metrics(test.labels, probs.argmax(1))
            test_acc, test_f1 = metrics.accuracy, metrics.macro_f1
            test_metrics = {"PrivateTest": {"accuracy": test_acc, "macro_f1": test_f1}}
            log(f"PrivateTest (final report only): accuracy {test_acc:.4f} macro-F1 {test_f1:.4f}")
        history = [json.loads(line) for line in (self.out / "history.jsonl").read_text().splitlines()]
        summary = {
            "network": self.config.network,
            "parameters": count_parameters(model),
            "best_epoch": best_epoch + 1,
            "epochs_run": len(history),
            "metrics": {"PublicTest": {"accuracy": best_acc}, **test_metrics},
            "train_seconds": sum(h["seconds"] for h in history),
            "data_sha256": data.sha256,
            "data_source": data.source,
            "seed": self.config.seed,
            "command": " ".join(self.command),
            "moodlens_version": __version__,
            "torch_version": torch.__version__,
            "machine": f"{platform.machine()} {os.cpu_count()} cpus",
        }
        self._write_json("summary.json", summary)
        onnx_path = export_onnx(model.cpu(), self.out / "model.onnx", input_size=self.size, training=summary)
        log(f"exported {onnx_path} (+ {onnx_path.with_suffix('.json').name})")
        return TrainResult(self.out, best_epoch + 1, best_acc, test_acc, test_f1, onnx_path)

    def _write_json(self, name: str, value: Any) -> None:
        (self.out / name).write_text(json.dumps(value, indent=2, default=str) + "\n", encoding="utf-8")


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags
