"""The shipped model files are the ones their JSON and docs/model-card.md describe (no data needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from moodlens.classification import SHIPPED_MODELS, load_classifier, model_path

CARD = Path(__file__).resolve().parents[1] / "docs" / "model-card.md"
#: The PrivateTest figure each model is promised on, in its JSON.
SCORED_ON = {"crowd": "PrivateTest FERPlus", "fer2013": "PrivateTest"}


@pytest.mark.parametrize("name", list(SHIPPED_MODELS))
def test_the_shipped_file_is_the_one_its_json_describes(name: str) -> None:
    digest = hashlib.sha256(model_path(name).read_bytes()).hexdigest()
    recorded = load_classifier(name).metadata.training.get("onnx_sha256")
    assert recorded == digest, (
        f"{name}.onnx was replaced without its JSON (ship it with scripts/ship_model.sh)"
    )


@pytest.mark.parametrize("name", list(SHIPPED_MODELS))
def test_the_model_card_quotes_the_recorded_privatetest_figure(name: str) -> None:
    metrics = load_classifier(name).metadata.metrics[SCORED_ON[name]]
    figure = f"**{100 * metrics['accuracy']:.2f}%**"
    assert figure in CARD.read_text(encoding="utf-8"), f"docs/model-card.md does not quote {name}'s {figure}"
