"""Training tests: networks on random input (no weights), augmentation, configuration, and a
smoke training run on a small synthetic data set (loss goes down, export and resume work)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="training needs the [train] extra (torch==2.13.0)")
pytest.importorskip("onnx", reason="export needs the [train] extra (onnx)")

from moodlens.classification import OnnxClassifier  # noqa: E402
from moodlens.training.augment import AugmentConfig, augment_batch  # noqa: E402
from moodlens.training.config import TrainConfig, from_dict, load_config, parse_override  # noqa: E402
from moodlens.training.networks import NETWORKS, create_network  # noqa: E402
from moodlens.training.trainer import Trainer, check_resumable, class_weights  # noqa: E402

pytestmark = pytest.mark.train


@pytest.mark.parametrize("name", ["seed_cnn", "vgg_s", "vgg_m", "vgg_l"])
def test_networks_map_faces_to_seven_logits(name: str) -> None:
    model = create_network(name).eval()
    size = NETWORKS[name].input_size
    with torch.no_grad():
        out = model(torch.rand(3, 1, size, size) * 255)
    assert out.shape == (3, 7)
    assert torch.isfinite(out).all()


def test_unknown_network_lists_choices() -> None:
    with pytest.raises(ValueError, match="choose one of: seed_cnn, vgg_s"):
        create_network("resnet1000")


def test_per_image_standardisation_ignores_brightness() -> None:
    model = create_network("vgg_s").eval()
    x = torch.rand(2, 1, 48, 48) * 100
    with torch.no_grad():
        assert torch.allclose(model(x), model(x * 2 + 20), atol=1e-3)


def test_augment_keeps_shape_range_and_is_seeded() -> None:
    images = torch.rand(8, 1, 48, 48) * 255
    gen = torch.Generator().manual_seed(1)
    a = augment_batch(images, 48, AugmentConfig(), gen)
    b = augment_batch(images, 48, AugmentConfig(), torch.Generator().manual_seed(1))
    assert a.shape == (8, 1, 48, 48)
    assert a.min() >= 0 and a.max() <= 255
    assert torch.equal(a, b)
    assert augment_batch(images, 96, AugmentConfig(), gen).shape == (8, 1, 96, 96)


def test_no_augmentation_is_identity() -> None:
    images = torch.rand(4, 1, 48, 48) * 255
    none = AugmentConfig(
        rotation_deg=0, scale=0, translate=0, hflip=False, brightness=0, contrast=0, erase_prob=0
    )
    out = augment_batch(images, 48, none, torch.Generator().manual_seed(0))
    assert torch.allclose(out, images, atol=1e-3)


def test_config_validation_and_suggestions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="did you mean 'epochs'"):
        from_dict({"epoch": 3})
    with pytest.raises(ValueError, match="network must be one of"):
        TrainConfig(network="nope")
    with pytest.raises(ValueError, match="lr must be > 0"):
        TrainConfig(lr=0)
    with pytest.raises(ValueError, match="unknown augment key 'rotate'"):
        load_config(None, {"augment.rotate": 3})
    path = tmp_path / "c.toml"
    path.write_text('network = "vgg_s"\nepochs = 3\n[augment]\nrotation_deg = 5.0\n')
    config = load_config(path, {"epochs": 4, "augment.hflip": False})
    assert (config.network, config.epochs, config.augment.rotation_deg, config.augment.hflip) == (
        "vgg_s",
        4,
        5.0,
        False,
    )
    assert parse_override("lr=0.1") == ("lr", 0.1)
    assert parse_override("network=vgg_s") == ("network", "vgg_s")
    path.write_text("epochs = [")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(path)
    # TOML and --set give any type: a quoted "yes" is not true, a quoted number not a number.
    path.write_text('compile = "yes"\n')
    with pytest.raises(ValueError, match="compile must be of type bool, got 'yes'"):
        load_config(path)
    with pytest.raises(ValueError, match="epochs must be of type int, got '3'"):
        load_config(None, {"epochs": "3"})
    with pytest.raises(ValueError, match="epochs must be of type int, got True"):
        load_config(None, {"epochs": True})
    assert load_config(None, {"lr": 1}).lr == 1  # an int where a float is asked


@pytest.mark.parametrize(
    "config", sorted((Path(__file__).parents[1] / "configs").glob("*.toml")), ids=lambda p: p.stem
)
def test_every_shipped_config_is_valid(config: Path) -> None:
    assert load_config(config).network in NETWORKS


def test_class_weights_average_one_per_example() -> None:
    counts = np.array([100, 10, 100, 400, 100, 100, 100])
    w = class_weights(counts, "inverse_sqrt").numpy()
    assert (w * counts).sum() / counts.sum() == pytest.approx(1.0)
    assert w[1] > w[0] > w[3]
    assert np.allclose(class_weights(counts, "none").numpy(), 1.0)


def _synthetic_csv(path: Path, per_class: int = 24) -> Path:
    """A learnable toy task: each class is a bright bar at its own height."""
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for usage, n in (("Training", per_class), ("PublicTest", 6), ("PrivateTest", 6)):
        for c in range(7):
            for _ in range(n):
                img = rng.integers(0, 60, (48, 48))
                img[4 + c * 6 : 8 + c * 6, 6:42] = 230
                rows.append(f"{c},{' '.join(map(str, img.reshape(-1)))},{usage}")
    path.write_text("\n".join(rows) + "\n")
    return path


def _toy_config(tmp_path: Path, **changes: object) -> TrainConfig:
    """A short vgg_s run on :func:`_synthetic_csv` in ``tmp_path / "run"``."""
    config = TrainConfig(
        network="vgg_s",
        data=str(_synthetic_csv(tmp_path / "toy.csv")),
        out=str(tmp_path / "run"),
        epochs=3,
        batch_size=32,
        lr=0.02,
        warmup_epochs=0,
        patience=10,
        threads=2,
        ema_decay=0.9,
        augment=AugmentConfig(rotation_deg=3, scale=0.05, translate=0.02, hflip=False, erase_prob=0.0),
    )
    return config.replace(**changes)


@pytest.mark.slow
def test_resume_refuses_other_settings_but_not_idle_distillation_ones() -> None:
    saved = TrainConfig(data="x.csv", teacher_network="vgg_l").to_dict()
    check_resumable(saved, TrainConfig(data="x.csv", teacher_network="vgg_m", epochs=90, threads=2))
    with pytest.raises(ValueError, match=r"lr: 0\.05 -> 0\.01"):
        check_resumable(saved, TrainConfig(data="x.csv", teacher_network="vgg_l", lr=0.01))
    distilled = TrainConfig(data="x.csv", teachers=("t.pt",), teacher_network="vgg_l").to_dict()
    with pytest.raises(ValueError, match="teacher_network: 'vgg_l' -> 'vgg_m'"):
        check_resumable(distilled, TrainConfig(data="x.csv", teachers=("t.pt",), teacher_network="vgg_m"))


@pytest.mark.slow
def test_a_compiled_run_goes_on_from_a_plain_one_and_keeps_plain_checkpoints(tmp_path: Path) -> None:
    config = _toy_config(tmp_path, epochs=2, final_test=False)
    from moodlens.training.runtime import compiled

    try:
        compiled(create_network("vgg_s"))
    except RuntimeError as exc:
        pytest.skip(f"torch.compile cannot build kernels here: {exc}")
    logs: list[str] = []
    Trainer(config).run(log=logs.append)
    from torch._dynamo.utils import counters

    counters.clear()
    # compile is a speed setting: a run started without it goes on with it.
    Trainer(config.replace(epochs=3, compile=True)).run(resume=True, log=logs.append)
    assert any("compile=True" in line for line in logs)
    assert counters["stats"]["unique_graphs"] > 0  # the training pass did run compiled
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 3 and history[-1]["train_loss"] < history[0]["train_loss"]
    for name in ("last.pt", "best.pt"):
        checkpoint = torch.load(tmp_path / "run" / name, map_location="cpu", weights_only=False)
        keys = [k for state in checkpoint.values() if isinstance(state, dict) for k in state]
        assert keys and not any("_orig_mod" in str(k) for k in keys), name
    from moodlens.training.networks import load_state

    load_state(create_network("vgg_s"), tmp_path / "run" / "best.pt")


def test_compile_without_a_cxx_compiler_or_python_headers_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from moodlens.training import runtime

    monkeypatch.setattr(runtime.shutil, "which", lambda name: None)
    with pytest.raises(RuntimeError, match=r"C\+\+ compiler .* set compile = false"):
        runtime.compiled(create_network("vgg_s"))
    monkeypatch.undo()
    include = tmp_path / "include"  # a Python without its C headers
    monkeypatch.setattr(runtime.sysconfig, "get_paths", lambda: {"include": str(include)})
    with pytest.raises(
        RuntimeError, match=r"Python's C headers .*Python\.h is missing.* set compile = false"
    ):
        runtime.compiled(create_network("vgg_s"))


def test_smoke_training_export_and_resume(tmp_path: Path) -> None:
    config = _toy_config(tmp_path)
    logs: list[str] = []
    result = Trainer(config, command=["test"]).run(log=logs.append)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert len(history) == 3
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result.best_val_accuracy > 0.5
    assert result.test_accuracy is not None and result.test_accuracy > 0.5
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["data_sha256"] and summary["seed"] == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["network"] == "vgg_s"

    # The exported model follows the contract and agrees with torch.
    assert result.onnx is not None
    clf = OnnxClassifier(result.onnx)
    assert clf.metadata.training["network"] == "vgg_s"
    from moodlens.training.export import max_abs_difference
    from moodlens.training.networks import load_state

    model = create_network("vgg_s")
    load_state(model, tmp_path / "run" / "best.pt")
    assert max_abs_difference(model, result.onnx, 48) < 1e-4

    # A finished run refuses to start again, and --resume extends it.
    with pytest.raises(FileExistsError, match="--resume"):
        Trainer(config).run(log=logs.append)
    with pytest.raises(ValueError, match=r"cannot resume: .*lr: 0.02 -> 0.1"):
        Trainer(config.replace(epochs=4, lr=0.1)).run(resume=True, log=logs.append)
    Trainer(config.replace(epochs=4)).run(resume=True, log=logs.append)
    history = (tmp_path / "run" / "history.jsonl").read_text().splitlines()
    assert len(history) == 4
    assert any("resumed from" in line for line in logs)

    # A kept copy (what a session commits) is smaller, and a run continues from it elsewhere.
    from moodlens.training.checkpoints import keep_run

    kept = keep_run(tmp_path / "run", tmp_path / "kept")
    assert {p.name for p in kept} >= {"last.pt", "best.pt", "history.jsonl", "config.json"}
    assert (tmp_path / "kept" / "last.pt").stat().st_size < (tmp_path / "run" / "last.pt").stat().st_size
    with pytest.raises(ValueError, match="too large to keep"):
        keep_run(tmp_path / "run", tmp_path / "kept", total_bytes=1000)
    assert (tmp_path / "kept" / "last.pt").is_file()  # a refusal leaves the kept copy as it was
    with pytest.raises(ValueError, match=r"no last\.pt"):
        keep_run(tmp_path / "nowhere", tmp_path / "kept")
    (tmp_path / "broken").mkdir()
    for content in (b"", b"not a checkpoint"):
        (tmp_path / "broken" / "last.pt").write_bytes(content)
        with pytest.raises(ValueError, match="not a readable training checkpoint"):
            keep_run(tmp_path / "broken", tmp_path / "kept")
    assert (tmp_path / "kept" / "last.pt").is_file()
    shutil.copytree(tmp_path / "kept", tmp_path / "moved")
    moved = config.replace(out=str(tmp_path / "moved"), epochs=5)
    Trainer(moved).run(resume=True, log=logs.append)
    assert len((tmp_path / "moved" / "history.jsonl").read_text().splitlines()) == 5

    # A run over the per-file limit (a vgg_l teacher's 56 MB last.pt against 20 MB) keeps its
    # weights in bfloat16 and, still over it, in parts; restored, it resumes, and a part that
    # is lost or changed is named instead of resuming from a broken file.
    from moodlens.training.checkpoints import PARTS, restore_run

    limit = (tmp_path / "kept" / "last.pt").stat().st_size // 3
    split = keep_run(tmp_path / "run", tmp_path / "split", limit_bytes=limit)
    assert all(p.stat().st_size <= limit for p in split)
    assert "last.pt" not in {p.name for p in split} and (tmp_path / "split" / PARTS).is_file()
    restored = restore_run(tmp_path / "split", tmp_path / "restored")
    assert {p.name for p in restored} >= {"last.pt", "best.pt", "history.jsonl"}
    ckpt = torch.load(tmp_path / "restored" / "last.pt", map_location="cpu", weights_only=False)
    assert {v.dtype for v in ckpt["model"].values() if v.is_floating_point()} == {torch.bfloat16}
    Trainer(config.replace(out=str(tmp_path / "restored"), epochs=5)).run(resume=True, log=logs.append)
    assert len((tmp_path / "restored" / "history.jsonl").read_text().splitlines()) == 5
    with pytest.raises(ValueError, match="not empty"):
        restore_run(tmp_path / "split", tmp_path / "restored")
    part = sorted((tmp_path / "split").glob("last.pt.part-*"))[1]
    part.write_bytes(part.read_bytes()[:-1] + bytes([part.read_bytes()[-1] ^ 1]))
    with pytest.raises(ValueError, match="does not match its sha256"):
        restore_run(tmp_path / "split", tmp_path / "again")
    part.unlink()
    with pytest.raises(ValueError, match="missing its part"):
        restore_run(tmp_path / "split", tmp_path / "again")
    assert not (tmp_path / "again").exists()
    for broken in ("[]", '{"last.pt": {"parts": ["x"]}}', "{}", "not json"):
        (tmp_path / "split" / PARTS).write_text(broken)
        with pytest.raises(ValueError, match=r"unreadable|neither"):
            restore_run(tmp_path / "split", tmp_path / "again")
    with pytest.raises(ValueError, match="elsewhere"):
        keep_run(tmp_path / "run", tmp_path / "run")
    with pytest.raises(ValueError, match="elsewhere"):
        keep_run(tmp_path / "run", tmp_path / "run" / "kept")
    assert (tmp_path / "run" / "last.pt").is_file()

    # Distillation from an ensemble of teachers (here the same checkpoint twice).
    best = str(tmp_path / "run" / "best.pt")
    # (batch 16: the toy set needs ~30 steps for batch-norm statistics to settle)
    student = config.replace(
        out=str(tmp_path / "student"), batch_size=16, teachers=[best, best], teacher_network="vgg_s"
    )
    distilled = Trainer(student).run(log=logs.append)
    assert distilled.best_val_accuracy > 0.5
    # The run records what its teachers score on PublicTest, each and averaged: here both are the
    # teacher run's selected epoch, so each and their ensemble score its best PublicTest accuracy.
    selected = max(json.loads(line)["val_accuracy"] for line in history)
    scored = json.loads((tmp_path / "student" / "teachers.json").read_text())["PublicTest"]
    assert [m["path"] for m in scored["members"]] == [best, best]
    assert [m["accuracy"] for m in scored["members"]] == pytest.approx([selected, selected])
    assert scored["ensemble"]["accuracy"] == pytest.approx(selected)
    assert json.loads((tmp_path / "student" / "summary.json").read_text())["teachers"]["PublicTest"] == scored
    assert any(line.startswith("teachers on PublicTest: ensemble") for line in logs)
    # A resumed run re-scores its teachers when the file is unreadable (cut off mid-write), so
    # the summary written at its end does not fail on it.
    (tmp_path / "student" / "teachers.json").write_text('{"PublicTest": {"ens')
    Trainer(student.replace(epochs=4)).run(resume=True, log=logs.append)
    assert json.loads((tmp_path / "student" / "teachers.json").read_text())["PublicTest"] == scored
    # A teacher may be an exported model too (the shipped v1 is an .onnx file).
    mixed = student.replace(out=str(tmp_path / "mixed"), teachers=[best, str(result.onnx)])
    assert Trainer(mixed).run(log=logs.append).best_val_accuracy > 0.5

    # Fine-tuning starts from the trained weights: one epoch at a tiny learning rate keeps them.
    tuned = config.replace(out=str(tmp_path / "tuned"), init_from=best, epochs=1, lr=1e-5, warmup_epochs=0)
    assert Trainer(tuned).run(log=logs.append).best_val_accuracy > 0.5
    with pytest.raises(FileNotFoundError, match=r"init_from checkpoint .*absent\.pt does not exist"):
        Trainer(tuned.replace(out=str(tmp_path / "t2"), init_from=str(tmp_path / "absent.pt"))).run()
    with pytest.raises(ValueError, match=r"teacher checkpoint .* does not fit"):
        Trainer(student.replace(out=str(tmp_path / "t3"), teacher_network="vgg_m")).run()


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_lite0"])
def test_transfer_networks_load_imagenet_weights(name: str) -> None:
    from moodlens.errors import MissingExtraError

    try:
        model = create_network(name, pretrained=True, freeze_backbone=True)
    except MissingExtraError as exc:
        pytest.skip(str(exc))
    size = NETWORKS[name].input_size
    model.train()
    assert not model.backbone.training  # frozen batch-norm statistics
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.1.weight", "head.1.bias"]
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 1, size, size) * 255).shape == (2, 7)
    tuned = create_network(name, pretrained=False, freeze_backbone=False)
    assert all(p.requires_grad for p in tuned.parameters())


@pytest.mark.data
@pytest.mark.slow
def test_smoke_training_on_a_fer2013_subset(fer_path: Path, tmp_path: Path) -> None:
    """CI's smoke run on real data: a tiny subset, loss goes down, export works, evaluate reports."""
    from moodlens.cli.main import main

    config = TrainConfig(
        network="vgg_s",
        data=str(fer_path),
        out=str(tmp_path / "run"),
        epochs=3,
        limit=700,
        batch_size=32,
        lr=0.02,
        warmup_epochs=0,
        threads=2,
    )
    result = Trainer(config).run(log=lambda _: None)
    history = [json.loads(line) for line in (tmp_path / "run" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert result.onnx is not None and result.onnx.is_file()
    out = tmp_path / "report"
    code = main(
        [
            "evaluate",
            "--model",
            str(result.onnx),
            "--data",
            str(fer_path),
            "--split",
            "PublicTest",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["count"] == 3589 and 0.0 < metrics["accuracy"] <= 1.0
    assert {"per_class", "macro_f1"} <= set(metrics)
    assert (
        (out / "confusion.png").is_file()
        and (out / "errors.png").is_file()
        and (out / "report.html").is_file()
    )


def test_a_two_head_checkpoint_teaches_with_the_chosen_head(tmp_path: Path) -> None:
    """A two-head run's checkpoint is a teacher: the configured head's logits, not both heads."""
    from moodlens.training.checkpoints import checkpoint_heads
    from moodlens.training.networks import create_network as make
    from moodlens.training.trainer import Trainer

    torch.manual_seed(0)
    two = make("vgg_s", heads=2).eval()
    path = tmp_path / "best-crowd.pt"
    torch.save({"ema": two.state_dict(), "epoch": 0}, path)
    single = tmp_path / "best.pt"
    torch.save({"ema": make("vgg_s").state_dict()}, single)
    assert checkpoint_heads(path) == 2 and checkpoint_heads(single) == 1
    x = torch.rand(3, 1, 48, 48) * 255
    with torch.no_grad():
        both = two(x)
    for head, index in (("fer2013", 0), ("crowd", 1)):
        config = TrainConfig(
            data="x.csv", out=str(tmp_path / head), teachers=(str(path),), teacher_network="vgg_s",
            teacher_head=head, device="cpu",
        )  # fmt: skip
        teacher = Trainer(config)._teacher()
        assert teacher is not None
        with torch.no_grad():
            taught = teacher(x)
        assert taught.shape == (3, 7)
        assert torch.allclose(taught, both[:, 7 * index : 7 * (index + 1)], atol=1e-5)
    with pytest.raises(ValueError, match="teacher_head must be one of"):
        TrainConfig(data="x.csv", teacher_head="votes")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", r"teacher\.onnx is empty"), (b"\x00garbage" * 50, r"teacher\.onnx: ONNX Runtime cannot load")],
)
def test_a_broken_onnx_teacher_is_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    from moodlens.classification.metadata import ModelMetadata, save_metadata
    from moodlens.labels import LABELS
    from moodlens.training.trainer import Trainer

    path = tmp_path / "teacher.onnx"
    path.write_bytes(content)
    save_metadata(ModelMetadata(name="teacher", labels=LABELS, input_size=(48, 48)), path)
    config = TrainConfig(data="x.csv", out=str(tmp_path / "run"), teachers=(str(path),))
    with pytest.raises(ValueError, match=rf"teacher model .*{message}"):
        Trainer(config)._teacher()


def test_an_exported_model_teaches_as_it_runs(tmp_path: Path) -> None:
    """An .onnx teacher runs in ONNX Runtime as exported, whatever its network (no
    ``teacher_network`` needed): its log-probabilities give the model's own softmax, and
    an ensemble may mix it with checkpoints of another network, or with another input size."""
    from moodlens.classification.metadata import load_metadata, save_metadata
    from moodlens.training.export import export_onnx
    from moodlens.training.trainer import Trainer

    torch.manual_seed(0)
    seed = create_network("seed_cnn").eval()
    path = export_onnx(seed, tmp_path / "seed.onnx", input_size=48)
    # The calibration temperature is for users, not for the student: it is left out.
    save_metadata(load_metadata(path).__class__(**{**load_metadata(path).__dict__, "temperature": 0.5}), path)
    vgg = tmp_path / "vgg.pt"
    torch.save({"ema": create_network("vgg_s").state_dict()}, vgg)
    x = torch.rand(5, 1, 48, 48) * 255
    with torch.no_grad():
        expected = torch.softmax(seed(x), dim=1)
    config = TrainConfig(data="x.csv", out=str(tmp_path / "run"), teachers=(str(path),), device="cpu")
    teacher = Trainer(config)._teacher()
    assert teacher is not None
    taught = teacher(x.to(memory_format=torch.channels_last))
    assert torch.allclose(torch.softmax(taught, dim=1), expected, atol=1e-5)
    mixed = Trainer(config.replace(teachers=(str(path), str(vgg)), teacher_network="vgg_s"))._teacher()
    assert mixed is not None and mixed(x).shape == (5, 7)

    # A teacher of another input size sees the faces resized as inference resizes them.
    big = torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(48), create_network("vgg_s")).eval()
    wide = export_onnx(big, tmp_path / "wide.onnx", input_size=96)
    small = torch.rand(5, 1, 48, 48) * 255
    resized = torch.nn.functional.interpolate(small, size=(96, 96), mode="bilinear", align_corners=False)
    with torch.no_grad():
        expected = torch.softmax(big(resized), dim=1)
    taught = Trainer(config.replace(teachers=(str(wide),)))._teacher()
    assert taught is not None
    assert torch.allclose(torch.softmax(taught(small), dim=1), expected, atol=1e-5)


def test_a_one_head_network_starts_from_either_head_of_a_two_head_export() -> None:
    """The shipped fer2013.onnx holds both heads of the v2 network: init_head picks one."""
    from torch import nn

    from moodlens.classification import model_path
    from moodlens.training.networks import create_network
    from moodlens.training.onnx_import import import_vgg

    faces = torch.from_numpy(np.random.default_rng(0).integers(0, 255, (64, 1, 48, 48)).astype(np.float32))
    heads = []
    for head in (0, 1):
        model = create_network("vgg_m")
        import_vgg(model, model_path("fer2013"), faces, head=head)
        heads.append([m for m in model.modules() if isinstance(m, nn.Linear)][-1].weight.detach().clone())
    assert heads[0].shape == heads[1].shape == (7, 256)
    assert not torch.allclose(heads[0], heads[1])
    with pytest.raises(ValueError, match="no head 2"):
        import_vgg(create_network("vgg_m"), model_path("fer2013"), faces, head=2)
