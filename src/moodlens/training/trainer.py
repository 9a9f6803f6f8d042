"""The training loop: batched augmentation, bf16 autocast, EMA weights, checkpoint every epoch.

Training = fit, PublicTest = model selection and early stopping, PrivateTest = the final
report only (evaluated once, after training, on the selected weights).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from moodlens.data import FaceDataset, load_dataset
from moodlens.evaluation.metrics import compute_metrics
from moodlens.labels import NUM_CLASSES
from moodlens.training.augment import augment_batch
from moodlens.training.catalog import HEADS
from moodlens.training.checkpoints import (
    BEST,
    DISTILLATION_SETTINGS,
    LAST,
    RESUMABLE_CHANGES,
    best_checkpoint,
    check_resumable,
    load_checkpoint,
    restore,
    save_best,
    save_last,
)
from moodlens.training.config import TrainConfig
from moodlens.training.distillation import build_teachers, distillation_loss, score_teachers
from moodlens.training.faces import split_data, to_tensor
from moodlens.training.finish import TrainResult, finish, finish_heads
from moodlens.training.losses import class_weights, crowd_loss, crowd_targets, label_loss, logit_offset
from moodlens.training.measure import predict_probabilities, selection_metrics
from moodlens.training.networks import NETWORKS, TRANSFER_NETWORKS, count_parameters, create_network
from moodlens.training.records import TEACHERS, append_history, record_start
from moodlens.training.runtime import compiled, cpu_has_bf16, pick_device, progress
from moodlens.training.state import EMA, LoopState, lr_at, seed_everything

# Importable from here as they were before the run's parts moved into modules of their own.
__all__ = [
    "BEST",
    "DISTILLATION_SETTINGS",
    "LAST",
    "RESUMABLE_CHANGES",
    "TEACHERS",
    "TrainResult",
    "Trainer",
    "best_checkpoint",
    "check_resumable",
    "class_weights",
    "predict_probabilities",
    "split_data",
]


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


class Trainer:
    """One training run in ``config.out``; ``resume`` continues from ``last.pt`` there."""

    def __init__(self, config: TrainConfig, *, command: list[str] | None = None) -> None:
        self.config = config
        self.out = Path(config.out)
        self.command = command or sys.argv
        self.device = pick_device(config.device)
        self.size = NETWORKS[config.network].input_size
        self.bf16 = config.bf16 and (self.device.type == "cuda" or cpu_has_bf16())
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
        gen = seed_everything(config.seed)
        data, train, val = self._prepare_data(resume, log)
        loop = self._build(train, gen)
        if loop.teacher is not None:
            score_teachers(
                loop.teacher, val, config, device=self.device, heads=self.heads, log=log, reuse=resume
            )
        if resume:
            restore(loop, config, self.out, log)
        if config.compile:
            loop.forward = compiled(loop.model)
        log(
            f"network {config.network}: {count_parameters(loop.model) / 1e6:.2f}M parameters, input "
            f"{self.size}x{self.size}, device {self.device}, bf16={self.bf16}, "
            f"threads={torch.get_num_threads()}, compile={config.compile}"
        )
        epochs = progress(
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
        return self._finish(data, loop, log)

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
        record_start(self.out, config, self.command, data=data, train=train, val=val, resume=resume)
        return data, train, val

    def _build(self, train: FaceDataset, gen: torch.Generator) -> LoopState:
        config = self.config
        model = create_network(config.network, **self._network_kwargs())
        if config.init_from:
            load_checkpoint(
                model,
                Path(config.init_from),
                "init_from",
                faces=train.images[:512],
                head=HEADS.index(config.init_head),
            )
        model = model.to(self.device)
        if config.channels_last:
            model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        crowd = crowd_targets(train, config, self.device) if self.heads > 1 else {}
        prior = (
            train.soft_labels.mean(axis=0)
            if train.soft_labels is not None
            else train.class_counts() / max(1, len(train))
        )
        return LoopState(
            model=model,
            ema=EMA(model, config.ema_decay),
            optimizer=self._optimizer(model),
            teacher=self._teacher(),
            weights=class_weights(train.class_counts(), config.class_weighting).to(self.device),
            images=to_tensor(train.images),
            labels=torch.from_numpy(train.labels),
            soft=None if train.soft_labels is None else torch.from_numpy(train.soft_labels),
            gen=gen,
            steps_per_epoch=max(1, len(train) // config.batch_size),
            offset=logit_offset(prior, config.logit_adjust_tau, self.device),
            distill_offset=logit_offset(
                prior, config.logit_adjust_tau - config.teacher_logit_adjust_tau, self.device
            ),
            **crowd,
        )

    def _train_epoch(self, loop: LoopState, epoch: int) -> tuple[float, float]:
        """One pass over the training set; returns (mean loss, accuracy on the augmented batches)."""
        config = self.config
        loop.model.train()
        order = torch.randperm(len(loop.labels), generator=loop.gen)
        running_loss, running_correct, seen = 0.0, 0, 0
        batches = progress(range(loop.steps_per_epoch), desc=f"epoch {epoch + 1}", leave=False, unit="batch")
        smoothing = config.label_smoothing
        forward = loop.model if loop.forward is None else loop.forward
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
                logits = forward(x).float()
                if self.heads > 1:
                    crowd = logits[:, NUM_CLASSES:]
                    loss = crowd_loss(loop, crowd, idx, device=self.device, label_smoothing=smoothing)
                    logits = logits[:, :NUM_CLASSES]
                    loss = loss + label_loss(
                        logits + offset, y, None, loop.weights, label_smoothing=smoothing
                    )
                else:
                    soft = None if loop.soft is None else loop.soft[idx].to(self.device)
                    loss = label_loss(logits + offset, y, soft, loop.weights, label_smoothing=smoothing)
                if loop.teacher is not None:
                    # A teacher that learnt the labels' prior (teacher_logit_adjust_tau = 0) is
                    # matched by the adjusted logits; a teacher adjusted as much, by the raw ones.
                    kd_offset = offset if loop.distill_offset is None else loop.distill_offset
                    loss = distillation_loss(loss, logits + kd_offset, loop.teacher, x, config)
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

    def _end_epoch(
        self, loop: LoopState, epoch: int, val: FaceDataset, *, loss: float, accuracy: float, seconds: float
    ) -> dict[str, Any]:
        """Validate the EMA weights on PublicTest, keep the best (per head), log, and checkpoint."""
        probs = predict_probabilities(
            loop.ema.model, val.images, size=self.size, device=self.device, bf16=self.bf16, heads=self.heads
        )
        metrics = selection_metrics(val, probs, heads=self.heads, ferplus_mode=self.config.ferplus_mode)
        network = self.config.network
        improved = False
        if metrics.accuracy > loop.best_acc:
            loop.best_acc, loop.best_epoch, improved = metrics.accuracy, epoch, True
            head = HEADS[0] if self.heads > 1 else None
            save_best(loop, epoch, loop.best_acc, head, network=network, out=self.out)
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
                save_best(loop, epoch, loop.best_crowd_acc, HEADS[1], network=network, out=self.out)
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
        append_history(self.out, record)
        save_last(loop, epoch, self.config, self.out)
        return record

    def _finish(self, data: FaceDataset, loop: LoopState, log: Any) -> TrainResult:
        if self.heads > 1:
            return finish_heads(data, loop, self.config, command=self.command, device=self.device, log=log)
        model = create_network(self.config.network, **self._network_kwargs(pretrained=False))
        return finish(model, data, loop, self.config, command=self.command, device=self.device, log=log)

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
        return build_teachers(self.config, size=self.size, device=self.device)
