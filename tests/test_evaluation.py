import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from moodlens.classification import FakeClassifier, OnnxClassifier
from moodlens.cli.main import main
from moodlens.data import FaceDataset
from moodlens.evaluation import evaluate, predict_split, write_report
from moodlens.evaluation.report import confusion_image, error_gallery
from moodlens.labels import Expression


def _dataset(n: int = 21) -> FaceDataset:
    rng = np.random.default_rng(0)
    return FaceDataset(
        images=rng.integers(0, 255, (n, 48, 48), dtype=np.uint8),
        labels=np.arange(n, dtype=np.int64) % 7,
        splits=np.array(["PrivateTest"] * n),
        rows=np.arange(n, dtype=np.int64),
        source="synthetic",
        sha256="0" * 64,
    )


def test_predict_split_handles_empty_input() -> None:
    assert predict_split(FakeClassifier(), np.zeros((0, 48, 48), np.uint8)).shape == (0, 7)


def test_evaluate_with_a_fake_classifier() -> None:
    result = evaluate(FakeClassifier(expression=Expression.HAPPY), _dataset(), "PrivateTest")
    assert result.metrics.accuracy == pytest.approx(3 / 21)
    assert result.metrics.per_class[3].recall == 1.0
    assert result.to_dict()["split"] == "PrivateTest"


def test_tta_mirrors_the_faces(contract_model: Path) -> None:
    clf = OnnxClassifier(contract_model)
    data = _dataset()
    plain = predict_split(clf, data.images)
    mirrored = predict_split(clf, np.ascontiguousarray(data.images[:, :, ::-1]))
    assert np.allclose(predict_split(clf, data.images, tta=True), (plain + mirrored) / 2, atol=1e-6)


def test_report_files(tmp_path: Path, contract_model: Path) -> None:
    result = evaluate(OnnxClassifier(contract_model), _dataset(), "PrivateTest", tta=True)
    paths = write_report(result, tmp_path / "report")
    metrics = json.loads(paths["metrics"].read_text())
    assert {"accuracy", "macro_f1", "per_class", "confusion_matrix"} <= set(metrics)
    assert metrics["tta"] is True
    assert cv2.imread(str(paths["confusion"])) is not None
    assert cv2.imread(str(paths["errors"])) is not None
    assert len(paths["predictions"].read_text().splitlines()) == 22
    assert "data:image/png;base64," in paths["report"].read_text()


def test_figures_for_edge_cases() -> None:
    assert confusion_image(np.zeros((7, 7), np.int64)).shape[2] == 3
    perfect = evaluate(FakeClassifier(expression=Expression.ANGRY), _dataset(1), "PrivateTest")
    assert error_gallery(perfect).shape[2] == 3  # no mistakes: an empty gallery, not an error


def test_evaluate_cli(tmp_path: Path, contract_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = ["emotion,pixels,Usage"] + [f"{c},{' '.join(['100'] * 2304)},PrivateTest" for c in range(7)]
    data = tmp_path / "mini.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "out"
    code = main(["evaluate", "--model", str(contract_model), "--data", str(data), "--out", str(out)])
    assert code == 0
    assert "PrivateTest (FER2013 labels): 7 faces" in capsys.readouterr().out
    assert json.loads((out / "metrics.json").read_text())["count"] == 7
    assert (
        main(["evaluate", "--model", str(contract_model), "--data", str(data), "--out", str(out), "--record"])
        == 0
    )
    recorded = json.loads(contract_model.with_suffix(".json").read_text())["metrics"]["PrivateTest"]
    assert recorded["accuracy"] == pytest.approx(
        json.loads((out / "metrics.json").read_text())["accuracy"], abs=1e-5
    )
    assert main(["evaluate", "--data", str(data), "--out", str(out), "--split", "Test"]) == 2
    assert (
        main(
            [
                "evaluate",
                "--model",
                str(contract_model),
                "--data",
                str(data),
                "--out",
                str(out),
                "--split",
                "Training",
            ]
        )
        == 1
    )
    assert "split 'Training' is empty" in capsys.readouterr().err


# --- calibration ------------------------------------------------------------------------------


def test_ece_of_nothing_and_of_a_perfectly_calibrated_set() -> None:
    from moodlens.evaluation.calibration import expected_calibration_error, reliability

    assert expected_calibration_error(np.zeros((0, 7)), np.zeros(0, np.int64)) == 0.0
    # 10 faces at 80% confidence, 8 right: calibrated.
    probs = np.full((10, 7), 0.2 / 6)
    probs[:, 0] = 0.8
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probs, labels) == pytest.approx(0.0, abs=1e-9)
    # Overconfident: 100% confidence, 80% right -> ECE 0.2.
    hard = np.eye(7)[np.zeros(10, np.int64)]
    assert expected_calibration_error(hard, labels) == pytest.approx(0.2)
    bins = reliability(probs, labels)
    assert bins.count.sum() == 10 and bins.count[11] == 10  # 0.8 lies in (0.733, 0.8]
    with pytest.raises(ValueError, match="labels must index"):
        reliability(probs, np.full(10, 9))


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    from moodlens.evaluation.calibration import expected_calibration_error, fit_temperature, tempered

    rng = np.random.default_rng(0)
    logits = rng.normal(0, 2, size=(4000, 7))
    true_probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(7, p=p) for p in true_probs])
    overconfident = tempered(true_probs, 1 / 2.0)  # logits * 2
    fitted = fit_temperature(overconfident, labels)
    assert fitted == pytest.approx(2.0, rel=0.1)
    fixed = tempered(overconfident, fitted)
    assert expected_calibration_error(fixed, labels) < expected_calibration_error(overconfident, labels) / 2
    assert np.array_equal(fixed.argmax(1), overconfident.argmax(1))  # labels never change


def test_calibrate_cli_writes_the_temperature_and_the_classifier_applies_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from conftest import make_contract_model
    from moodlens.classification import OnnxClassifier

    model = make_contract_model(tmp_path / "m.onnx", output_gain=1.0)
    rng = np.random.default_rng(0)
    rows = ["emotion,pixels,Usage"]
    for i in range(60):
        pixels = " ".join(str(v) for v in rng.integers(0, 255, 2304))
        rows.append(f"{i % 7},{pixels},{'PublicTest' if i < 40 else 'PrivateTest'}")
    data = tmp_path / "mini.csv"
    data.write_text("\n".join(rows) + "\n")
    assert main(["calibrate", "--model", str(model), "--data", str(data), "--split", "PrivateTest"]) == 2
    assert "PrivateTest is kept for the final report" in capsys.readouterr().err
    # A shipped model's metadata is part of the install: never rewritten in place.
    from moodlens.classification import model_path

    shipped = model_path("crowd").with_suffix(".json")
    shipped_before = shipped.read_bytes()
    for argv in (
        ["calibrate"],
        ["calibrate", "--model", "crowd"],
        ["calibrate", "--model", str(shipped.with_suffix(".onnx"))],
    ):
        assert main([*argv, "--data", str(data)]) == 2
        err = capsys.readouterr().err
        assert "shipped inside moodlens" in err and "--dry-run" in err and err.count("\n") == 1
    out = tmp_path / "report"
    assert main(["evaluate", "--model", "crowd", "--data", str(data), "--out", str(out), "--record"]) == 2
    assert "shipped inside moodlens" in capsys.readouterr().err and not out.exists()
    assert shipped.read_bytes() == shipped_before
    before = OnnxClassifier(model).predict(np.full((2, 48, 48), 90, np.uint8))
    shutil.copy(model.with_suffix(".json"), tmp_path / "before.json")
    assert main(["calibrate", "--model", str(model), "--data", str(data)]) == 0
    meta = json.loads(model.with_suffix(".json").read_text())
    temperature = meta["calibration"]["temperature"]
    assert meta["calibration"]["fitted_on"] == "PublicTest" and meta["calibration"]["count"] == 40
    after = OnnxClassifier(model).predict(np.full((2, 48, 48), 90, np.uint8))
    from moodlens.evaluation.calibration import tempered

    assert after == pytest.approx(tempered(before, temperature), abs=1e-5)
