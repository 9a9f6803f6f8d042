"""Teachers and what a student learns from them: run checkpoints and exported models as teachers,
one head of a two-head teacher, their averaged ensemble, its PublicTest scores, and the
distillation loss."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from moodlens.data import FaceDataset
from moodlens.labels import NUM_CLASSES
from moodlens.training.catalog import HEADS
from moodlens.training.checkpoints import checkpoint_heads, load_checkpoint
from moodlens.training.config import TrainConfig
from moodlens.training.measure import predict_probabilities, selection_metrics
from moodlens.training.networks import NETWORKS, TRANSFER_NETWORKS, create_network
from moodlens.training.records import TEACHERS, write_json


class TeacherHead(nn.Module):
    """One head's logits of a network with several."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model, self.index = model, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)[:, self.index * NUM_CLASSES : (self.index + 1) * NUM_CLASSES]


class OnnxTeacher(nn.Module):
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


class Ensemble(nn.Module):
    """Teachers whose logits are averaged."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x).float() for m in self.members]).mean(dim=0)


def build_teachers(config: TrainConfig, *, size: int, device: torch.device) -> Ensemble | None:
    """The teachers' ensemble: run checkpoints (``.pt``, networks of ``teacher_network``) and
    exported models (``.onnx``, any network, the shipped ones included, run as exported)."""
    if not config.teachers:
        return None
    members: list[nn.Module] = []
    for path in config.teachers:
        if Path(path).suffix == ".onnx":
            members.append(OnnxTeacher(Path(path), threads=config.threads))
            continue
        if NETWORKS[config.teacher_network].input_size != size:
            raise ValueError("the teacher must take the same input size as the student")
        kwargs: dict[str, Any] = {"pretrained": False} if config.teacher_network in TRANSFER_NETWORKS else {}
        heads = checkpoint_heads(Path(path))
        if heads > 1:
            kwargs["heads"] = heads
        member = create_network(config.teacher_network, **kwargs)
        load_checkpoint(member, Path(path), "teacher")
        if heads > 1:
            member = TeacherHead(member, HEADS.index(config.teacher_head))
        members.append(member.to(device).eval())
    return Ensemble(members)


def score_teachers(
    teacher: nn.Module,
    val: FaceDataset,
    config: TrainConfig,
    *,
    device: torch.device,
    heads: int,
    log: Any,
    reuse: bool,
) -> None:
    """The teachers' PublicTest accuracy, each and as the averaged ensemble the student learns
    from, by the measure that selects the student's epochs: a student rarely passes its
    teachers, so this says early whether a run can reach its target. Measured once per run
    (teachers.json, which a resumed run reuses unless it is unreadable), on PublicTest only."""
    path = Path(config.out) / TEACHERS
    size = NETWORKS[config.network].input_size
    if reuse and path.is_file():
        try:
            json.loads(path.read_text(encoding="utf-8"))
            return
        except (json.JSONDecodeError, UnicodeDecodeError):
            log(f"{path} is unreadable; scoring the teachers again")

    def score(model: nn.Module) -> dict[str, float]:
        probs = predict_probabilities(model, val.images, size=size, device=device, bf16=False)
        metrics = selection_metrics(val, probs, heads=heads, ferplus_mode=config.ferplus_mode)
        return {"accuracy": metrics.accuracy, "macro_f1": metrics.macro_f1}

    assert isinstance(teacher, Ensemble)
    pairs = zip(config.teachers, teacher.members, strict=True)
    members: list[dict[str, Any]] = [{"path": str(source), **score(member)} for source, member in pairs]
    ensemble = score(teacher)
    write_json(path, {"PublicTest": {"ensemble": ensemble, "members": members}})
    each = ", ".join(f"{Path(m['path']).name} {m['accuracy']:.4f}" for m in members)
    log(f"teachers on PublicTest: ensemble {ensemble['accuracy']:.4f} ({each})")


def distillation_loss(
    loss: torch.Tensor, logits: torch.Tensor, teacher: nn.Module, x: torch.Tensor, config: TrainConfig
) -> torch.Tensor:
    with torch.no_grad():
        t_logits = teacher(x).float()
    temp = config.distill_temperature
    kd = F.kl_div(
        F.log_softmax(logits / temp, dim=1), F.softmax(t_logits / temp, dim=1), reduction="batchmean"
    )
    return (1 - config.distill_alpha) * loss + config.distill_alpha * kd * temp * temp
