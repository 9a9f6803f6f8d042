"""The shipped classifier models, chosen by name; a path to any model that follows the contract
(``docs/model-contract.md``) is accepted wherever a name is."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from moodlens.classification.onnx import OnnxClassifier
from moodlens.errors import ModelError

#: Shipped model names -> files inside ``moodlens/models``. What each was trained on and how it
#: scores is in its JSON (``moodlens info`` prints it).
SHIPPED_MODELS: dict[str, str] = {
    "crowd": "crowd.onnx",  # what people see: trained on the FERPlus crowd's votes
    "fer2013": "fer2013.onnx",  # FER2013's own labels, for comparison with the literature
}
#: The model used when none is named.
DEFAULT_MODEL_NAME = "crowd"


def model_path(model: str | Path | None = None) -> Path:
    """The file of a shipped model name (default: :data:`DEFAULT_MODEL_NAME`) or of a given path."""
    chosen = DEFAULT_MODEL_NAME if model is None else model
    if isinstance(chosen, str) and chosen in SHIPPED_MODELS:
        path = Path(str(resources.files("moodlens.models").joinpath(SHIPPED_MODELS[chosen])))
        if not path.is_file():
            raise ModelError(f"the shipped model {chosen!r} is missing ({path}); reinstall moodlens")
        return path
    path = Path(chosen)
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        return path
    names = ", ".join(SHIPPED_MODELS)
    raise ModelError(f"unknown model {str(chosen)!r}: name one of {names}, or give the path of an .onnx file")


def is_shipped(path: str | Path) -> bool:
    """True for a file of the installed package's models folder: its metadata is part of the
    install (another user's, or a read-only one) and commands never rewrite it in place."""
    shipped = Path(str(resources.files("moodlens.models"))).resolve()
    return Path(path).resolve().parent == shipped


def load_classifier(
    model: str | Path | None = None, *, threads: int = 0, batch_size: int = 64
) -> OnnxClassifier:
    """A classifier for a shipped model name or a model file (loads it now; build once, reuse)."""
    return OnnxClassifier(model_path(model), threads=threads, batch_size=batch_size)
