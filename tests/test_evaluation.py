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
    assert "PrivateTest: 7 faces" in capsys.readouterr().out
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
