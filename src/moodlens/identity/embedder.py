"""Face embeddings: the ``FaceEmbedder`` protocol, the shipped ONNX model, and a fake.

The shipped model (``moodlens/models/face_embedder.onnx``) is dlib's
dlib_face_recognition_resnet_model_v1 as ported to TF.js by face-api.js, converted from the npm
package @vladmandic/face-api@1.7.15 by ``scripts/convert_face_embedder.py`` (MIT and public
domain; see ``moodlens/models/LICENSE-face-embedder``). It maps a 150x150 aligned face chip to a
128-D vector; two chips of one person lie close (dlib: Euclidean distance below 0.6).

What is kept: nothing. Embeddings are returned to the caller, which holds them in memory for one
run at most (to link the tracks of one person, ``moodlens.identity.linking``) and then drops them;
no chip, embedding or landmark is written, logged or sent.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from moodlens.errors import ModelError
from moodlens.identity.align import CHIP_SIZE, face_chips
from moodlens.results import Detection

MODEL_FILE = "face_embedder.onnx"
EMBEDDING_SIZE = 128
_INPUT = "image"
_OUTPUT = "embedding"


@runtime_checkable
class FaceEmbedder(Protocol):
    """Maps the faces found in an image to identity embeddings, one row per detection."""

    def embed(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection]) -> npt.NDArray[np.float32]:
        """``image``: uint8 BGR (H, W, 3); returns float32 (len(detections), 128)."""
        ...


def default_model_path() -> Path:
    path = Path(str(resources.files("moodlens.models").joinpath(MODEL_FILE)))
    if not path.is_file():
        raise ModelError(f"the shipped face embedding model is missing ({path}); reinstall moodlens")
    return path


class OnnxFaceEmbedder:
    """The shipped embedder on ONNX Runtime (CPU). The session is created on the first call, so
    building one costs nothing until a face is embedded; it is safe to share between threads."""

    name = "dlib-resnet-v1"

    def __init__(self, model: str | Path | None = None, *, threads: int = 1, batch_size: int = 32) -> None:
        """``threads``: ONNX Runtime intra-op threads (0 = ONNX Runtime's choice; 1 by default,
        as the detector: the pipeline's stages share the cores)."""
        if threads < 0:
            raise ValueError(f"threads must be >= 0, got {threads}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model_path = Path(model) if model is not None else default_model_path()
        if not self.model_path.is_file():
            raise ModelError(f"{self.model_path}: no such face embedding model file")
        self.threads = threads
        self.batch_size = batch_size
        self._session: Any = None
        self._lock = threading.Lock()

    def _get_session(self) -> Any:
        with self._lock:
            if self._session is None:
                import onnxruntime as ort

                options = ort.SessionOptions()
                options.intra_op_num_threads = self.threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                try:
                    session = ort.InferenceSession(
                        str(self.model_path), options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:  # ORT raises its own exception types for corrupt graphs
                    raise ModelError(
                        f"{self.model_path}: ONNX Runtime cannot load the model ({exc})"
                    ) from None
                inputs = {i.name: i.shape for i in session.get_inputs()}
                outputs = {o.name for o in session.get_outputs()}
                if _INPUT not in inputs or _OUTPUT not in outputs:
                    raise ModelError(
                        f"{self.model_path}: not a face embedding model "
                        f"(inputs {sorted(inputs)}, outputs {sorted(outputs)})"
                    )
                if list(inputs[_INPUT][1:]) != [CHIP_SIZE, CHIP_SIZE, 3]:
                    raise ModelError(
                        f"{self.model_path}: input shape {inputs[_INPUT]}, expected (N, 150, 150, 3)"
                    )
                self._session = session
            return self._session

    def embed_chips(self, chips: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Embeddings of aligned chips: uint8 BGR (n, 150, 150, 3) -> float32 (n, 128)."""
        if chips.dtype != np.uint8 or chips.ndim != 4 or chips.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(
                f"chips must be uint8 (n, {CHIP_SIZE}, {CHIP_SIZE}, 3), got {chips.dtype} {chips.shape}"
            )
        if len(chips) == 0:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        session = self._get_session()
        out = []
        for start in range(0, len(chips), self.batch_size):
            rgb = chips[start : start + self.batch_size, :, :, ::-1].astype(np.float32)
            (result,) = session.run([_OUTPUT], {_INPUT: rgb})
            out.append(np.asarray(result, dtype=np.float32))
        embeddings = np.concatenate(out)
        if embeddings.shape != (len(chips), EMBEDDING_SIZE):
            raise ModelError(
                f"{self.model_path}: expected output (n, {EMBEDDING_SIZE}), got {embeddings.shape}"
            )
        return embeddings

    def embed(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection]) -> npt.NDArray[np.float32]:
        """One unnormalised 128-D embedding per detection, from its aligned 150x150 chip."""
        return self.embed_chips(face_chips(image, detections))


class FakeEmbedder:
    """Returns fixed vectors: the i-th detection of every call gets ``vectors[i % len(vectors)]``
    (by default one vector, so every face looks like the same person)."""

    name = "fake"

    def __init__(self, vectors: npt.ArrayLike | None = None) -> None:
        if vectors is None:
            values = np.zeros((1, EMBEDDING_SIZE), dtype=np.float32)
            values[0, 0] = 1.0
        else:
            values = np.asarray(vectors, dtype=np.float32)
            if values.ndim == 1:
                values = values[None]
        if values.ndim != 2 or values.shape[0] == 0 or values.shape[1] != EMBEDDING_SIZE:
            raise ValueError(f"vectors must be (k, {EMBEDDING_SIZE}) with k >= 1, got {values.shape}")
        if not np.all(np.isfinite(values)):
            raise ValueError("vectors must be finite")
        self.vectors = values
        self.calls = 0

    def embed(self, image: npt.NDArray[np.uint8], detections: Sequence[Detection]) -> npt.NDArray[np.float32]:
        self.calls += 1
        rows = [self.vectors[i % len(self.vectors)] for i in range(len(detections))]
        if not rows:
            return np.zeros((0, EMBEDDING_SIZE), dtype=np.float32)
        return np.stack(rows).astype(np.float32)
