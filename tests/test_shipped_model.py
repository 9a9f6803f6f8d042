"""The shipped models on FER2013's PrivateTest split: the figures users are promised.

- ``crowd`` (the default) is scored against the FERPlus majority (microsoft/FERPlus's rule: 3,137
  PrivateTest faces); target >= 85%.
- ``fer2013`` is scored against FER2013's own labels (3,589 faces); target >= 72%.
- Both are calibrated on PublicTest; the ECE recorded in each model's JSON is recomputed here, and
  must be at most 0.03.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from moodlens.classification import DEFAULT_MODEL_NAME, SHIPPED_MODELS, default_classifier, load_classifier
from moodlens.data import load_dataset
from moodlens.evaluation import Evaluation, evaluate

pytestmark = [pytest.mark.data, pytest.mark.slow]

#: name -> (labels it is scored on, PrivateTest accuracy target)
TARGETS = {"crowd": ("FERPlus majority", 0.85), "fer2013": ("FER2013", 0.72)}
MAX_ECE = 0.03
#: ONNX Runtime's INT8 kernels differ by CPU (VNNI/AMX or plain AVX2), and with them the last digits
#: of an INT8 model's probabilities: the shipped fer2013 model's PrivateTest ECE is 0.0252 on an AVX2
#: host and 0.0269 on an AMX one, its accuracy 70.13% and 70.16%. Figures recorded on one host are
#: checked on another within these bounds.
ACC_TOL = 0.002
ECE_TOL = 0.004


@pytest.fixture(scope="module")
def privatetest(fer_path: Path, ferplus: Path) -> dict[str, Evaluation]:
    fer = load_dataset(fer_path)
    crowd = load_dataset(fer_path, ferplus=ferplus)
    return {
        "crowd": evaluate(load_classifier("crowd"), crowd, "PrivateTest"),
        "fer2013": evaluate(load_classifier("fer2013"), fer, "PrivateTest"),
    }


def test_both_models_ship_and_crowd_is_the_default() -> None:
    assert set(SHIPPED_MODELS) == set(TARGETS)
    assert DEFAULT_MODEL_NAME == "crowd"
    assert default_classifier().metadata.name == "crowd"
    for name in TARGETS:
        training = load_classifier(name).metadata.training
        assert training.get("labels"), f"{name}: the JSON does not say what it was trained on"


@pytest.mark.parametrize("name", list(TARGETS))
def test_recorded_figures_are_the_measured_ones(privatetest: dict[str, Evaluation], name: str) -> None:
    """Accuracy, macro-F1 and ECE in the model's JSON are what evaluation measures now."""
    result = privatetest[name]
    labels, _ = TARGETS[name]
    assert result.extra["labels_from"] == labels
    assert result.metrics.count == (3137 if name == "crowd" else 3589)
    key = "PrivateTest FERPlus" if name == "crowd" else "PrivateTest"
    recorded = load_classifier(name).metadata.metrics[key]
    assert recorded["accuracy"] == pytest.approx(result.metrics.accuracy, abs=ACC_TOL)
    assert recorded["macro_f1"] == pytest.approx(result.metrics.macro_f1, abs=ACC_TOL)
    assert recorded["ece"] == pytest.approx(result.extra["calibration"]["ece"], abs=ECE_TOL)
    if "balanced_accuracy" in recorded:  # recorded since crowd v2.3
        assert recorded["balanced_accuracy"] == pytest.approx(result.metrics.balanced_accuracy, abs=0.01)


@pytest.mark.parametrize("name", list(TARGETS))
def test_calibration_was_fitted_on_publictest_and_holds_on_privatetest(
    privatetest: dict[str, Evaluation], name: str
) -> None:
    meta = load_classifier(name).metadata
    assert meta.calibration.get("fitted_on") == "PublicTest"
    assert meta.calibration.get("labels") == TARGETS[name][0]
    assert meta.temperature != 1.0
    ece = privatetest[name].extra["calibration"]["ece"]
    before = privatetest[name].extra["calibration_without_temperature"]["ece"]
    assert ece <= MAX_ECE, f"{name}: PrivateTest ECE {ece:.4f} > {MAX_ECE} (before temperature: {before:.4f})"


@pytest.mark.parametrize("name", list(TARGETS))
def test_the_stored_calibration_figure_is_recomputed_on_publictest(
    fer_path: Path, ferplus: Path, name: str
) -> None:
    """The ECE after calibration stored in the JSON is what the shipped model does on PublicTest."""
    classifier = load_classifier(name)
    data = load_dataset(fer_path, ferplus=ferplus if name == "crowd" else None)
    result = evaluate(classifier, data, "PublicTest")
    stored = classifier.metadata.calibration
    assert result.metrics.count == stored["count"]
    assert result.extra["calibration"]["ece"] == pytest.approx(stored["ece_after"], abs=ECE_TOL)
    assert result.extra["calibration_without_temperature"]["ece"] == pytest.approx(
        stored["ece_before"], abs=ECE_TOL
    )


#: What the shipped files measured on PrivateTest (once, when shipped): 85.40% (crowd v2.3: v2.2, vgg_s
#: student) and 70.13%. A floor a little under them catches a regression without failing on ONNX
#: Runtime's rounding.
SHIPPED = {"crowd": 0.851, "fer2013": 0.700}
#: Models that do not meet issue 10's accuracy target yet (docs/training.md).
BELOW_TARGET = {"fer2013"}


@pytest.mark.parametrize("name", list(TARGETS))
def test_privatetest_accuracy_does_not_fall_below_the_shipped_figure(
    privatetest: dict[str, Evaluation], name: str
) -> None:
    accuracy = privatetest[name].metrics.accuracy
    assert accuracy >= SHIPPED[name], f"{name}: PrivateTest accuracy {accuracy:.4f} < {SHIPPED[name]}"


@pytest.mark.parametrize(
    "name",
    [
        pytest.param(
            name,
            marks=pytest.mark.xfail(
                strict=True,
                reason=f"issue 10's target ({TARGETS[name][1]:.0%}) is not met yet by the shipped {name} "
                "model (docs/training.md); an XPASS means it is: take it out of BELOW_TARGET",
            ),
        )
        if name in BELOW_TARGET
        else name
        for name in TARGETS
    ],
)
def test_privatetest_accuracy_meets_the_issue_target(privatetest: dict[str, Evaluation], name: str) -> None:
    labels, target = TARGETS[name]
    accuracy = privatetest[name].metrics.accuracy
    assert accuracy >= target, f"{name}: PrivateTest accuracy ({labels} labels) {accuracy:.4f} < {target}"
