"""Build ``src/moodlens/models/face_embedder.onnx`` from the npm package @vladmandic/face-api@1.7.15.

The package (MIT) ships face-api.js's FaceRecognitionNet as TF.js weights, uint8-quantized
(``model/face_recognition_model.bin`` + ``model/face_recognition_model-weights_manifest.json``):
a port of Davis King's dlib_face_recognition_resnet_model_v1 (public domain), a ResNet that maps
a 150x150 RGB face chip to a 128-D embedding. This script:

1. reads the package tarball (``npm pack @vladmandic/face-api@1.7.15`` makes it) and checks the
   sha256 of the two weight files against the values pinned below;
2. decodes the weights as TF.js does (``value = q * scale + min`` for uint8 entries, float32
   otherwise);
3. writes an ONNX graph with ``onnx.helper`` that keeps the uint8 values (so the file stays the
   size of the package's .bin) and dequantizes them inside the graph (ONNX Runtime folds those
   constants once, when the session is created);
4. checks the graph against :func:`reference_forward`, a plain numpy forward written straight
   from the package's TypeScript (``src/faceRecognitionNet/*.ts``), on random input.

Usage::

    npm pack @vladmandic/face-api@1.7.15
    python scripts/convert_face_embedder.py vladmandic-face-api-1.7.15.tgz [--check-js]

``--check-js`` also runs face-api.js's own forward (the package's bundled TF.js, CPU backend) with
Node.js on a random batch and compares it with the ONNX graph.

Needs numpy, onnx and onnxruntime (``pip install -e '.[dev]'``); no torch, no TensorFlow.
The model's input is ``image``: float32 (N, 150, 150, 3), RGB, pixel values 0..255 (NHWC, as
face-api.js feeds it); its output ``embedding`` is float32 (N, 128), unnormalised, as dlib's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "@vladmandic/face-api"
VERSION = "1.7.15"
BIN_PATH = "package/model/face_recognition_model.bin"
MANIFEST_PATH = "package/model/face_recognition_model-weights_manifest.json"
BIN_SHA256 = "b413e420d6840b2775fba32008db6f3cddb07d485967fb42cfcf379c16a8c589"
MANIFEST_SHA256 = "cbaffa501b0b9275a12b63357a6843e7e30c054e1c9151e1a5f879b26e32986b"
#: The tarball npm served for 1.7.15 when this was written (reported, not required: the two
#: files above are what the model is made of).
TARBALL_SHA256 = "0d77fffeef362ef9c0939cf6c567f3a2e8e177f114fa257a3270cbd2e509b031"

INPUT_SIZE = 150
EMBEDDING_SIZE = 128
#: FaceRecognitionNet.ts: ``normalize(batchTensor, meanRgb).div(255)``.
MEAN_RGB = (122.782, 117.001, 104.298)
PIXEL_DIVISOR = 255.0

#: The network, in the order of FaceRecognitionNet.forwardInput: (name, kind).
BLOCKS = (
    ("conv32_1", "residual"),
    ("conv32_2", "residual"),
    ("conv32_3", "residual"),
    ("conv64_down", "residual_down"),
    ("conv64_1", "residual"),
    ("conv64_2", "residual"),
    ("conv64_3", "residual"),
    ("conv128_down", "residual_down"),
    ("conv128_1", "residual"),
    ("conv128_2", "residual"),
    ("conv256_down", "residual_down"),
    ("conv256_1", "residual"),
    ("conv256_2", "residual"),
    ("conv256_down_out", "residual_down"),
)

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "src" / "moodlens" / "models" / "face_embedder.onnx"


@dataclass(frozen=True)
class Entry:
    """One weight as the manifest stores it: uint8 values with TF.js's (scale, min), or float32."""

    name: str
    shape: tuple[int, ...]
    values: npt.NDArray[Any]
    scale: float | None = None
    minimum: float | None = None

    @property
    def quantized(self) -> bool:
        return self.scale is not None

    def dequantized(self) -> npt.NDArray[np.float32]:
        """TF.js's decodeWeights: ``q * scale + min`` in double precision, stored as float32."""
        if self.scale is None or self.minimum is None:
            return np.asarray(self.values, dtype=np.float32)
        return (self.values.astype(np.float64) * self.scale + self.minimum).astype(np.float32)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_package(tarball: Path) -> tuple[bytes, bytes]:
    """The weights (.bin) and the manifest from the npm tarball, checked against the pins."""
    with tarfile.open(tarball, "r:gz") as tar:
        files = {}
        for path in (BIN_PATH, MANIFEST_PATH, "package/package.json"):
            member = tar.extractfile(path)
            if member is None:
                raise SystemExit(f"{tarball}: {path} is missing; is this {PACKAGE}@{VERSION}?")
            files[path] = member.read()
    package = json.loads(files["package/package.json"])
    if (package.get("name"), package.get("version")) != (PACKAGE, VERSION):
        raise SystemExit(
            f"{tarball}: is {package.get('name')}@{package.get('version')}, not {PACKAGE}@{VERSION}"
        )
    for path, pinned in ((BIN_PATH, BIN_SHA256), (MANIFEST_PATH, MANIFEST_SHA256)):
        digest = sha256(files[path])
        if digest != pinned:
            raise SystemExit(f"{tarball}: {path} has sha256 {digest}, expected {pinned}")
    return files[BIN_PATH], files[MANIFEST_PATH]


def decode_weights(data: bytes, manifest: bytes) -> dict[str, Entry]:
    """Every weight of the manifest, in TF layout (filters HWIO), read from the .bin in order."""
    groups = json.loads(manifest)
    entries: dict[str, Entry] = {}
    offset = 0
    for group in groups:
        for spec in group["weights"]:
            shape = tuple(int(d) for d in spec["shape"])
            count = int(np.prod(shape))
            quant = spec.get("quantization")
            if spec["dtype"] != "float32":
                raise SystemExit(f"unexpected dtype {spec['dtype']} for {spec['name']}")
            if quant is None:
                values = np.frombuffer(data, dtype="<f4", count=count, offset=offset).reshape(shape)
                entries[spec["name"]] = Entry(spec["name"], shape, values.astype(np.float32))
                offset += 4 * count
            elif quant["dtype"] == "uint8":
                values = np.frombuffer(data, dtype=np.uint8, count=count, offset=offset).reshape(shape)
                entries[spec["name"]] = Entry(
                    spec["name"], shape, values.copy(), float(quant["scale"]), float(quant["min"])
                )
                offset += count
            else:
                raise SystemExit(f"unexpected quantization {quant} for {spec['name']}")
    if offset != len(data):
        raise SystemExit(f"the manifest describes {offset} bytes, the .bin has {len(data)}")
    return entries


# --- the numpy reference, written from the TypeScript (NHWC, as TF.js computes) -----------------


def _conv2d(
    x: npt.NDArray[np.float32], filters: npt.NDArray[np.float32], stride: int, padding: str
) -> npt.NDArray[np.float32]:
    """tf.conv2d: x (N,H,W,C), filters (kh,kw,C,O); 'same' (stride 1 here) or 'valid'."""
    kh, kw = filters.shape[:2]
    if padding == "same":
        # TF 'same' with stride 1 and an odd kernel: (k - 1) / 2 zeros on each side.
        ph, pw = (kh - 1) // 2, (kw - 1) // 2
        x = np.pad(x, ((0, 0), (ph, kh - 1 - ph), (pw, kw - 1 - pw), (0, 0)))
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    # windows: (N, H', W', C, kh, kw)
    out = np.einsum("nhwcij,ijco->nhwo", windows, filters, optimize=True)
    return out.astype(np.float32)


def _pool(x: npt.NDArray[np.float32], size: int, stride: int, op: str) -> npt.NDArray[np.float32]:
    """tf.maxPool / tf.avgPool with 'valid' padding."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (size, size), axis=(1, 2))[:, ::stride, ::stride]
    reduced = windows.max(axis=(4, 5)) if op == "max" else windows.mean(axis=(4, 5))
    return reduced.astype(np.float32)


def _conv_layer(
    x: npt.NDArray[np.float32],
    w: dict[str, npt.NDArray[np.float32]],
    prefix: str,
    *,
    stride: int,
    relu: bool,
    padding: str,
) -> npt.NDArray[np.float32]:
    """convLayer.ts: conv2d, + bias, scale layer (x * weights + biases), optional relu."""
    out = _conv2d(x, w[f"{prefix}/conv/filters"], stride, padding)
    out = out + w[f"{prefix}/conv/bias"]
    out = out * w[f"{prefix}/scale/weights"] + w[f"{prefix}/scale/biases"]
    return np.maximum(out, 0) if relu else out


def _residual(
    x: npt.NDArray[np.float32], w: dict[str, npt.NDArray[np.float32]], prefix: str
) -> npt.NDArray[np.float32]:
    out = _conv_layer(x, w, f"{prefix}/conv1", stride=1, relu=True, padding="same")
    out = _conv_layer(out, w, f"{prefix}/conv2", stride=1, relu=False, padding="same")
    return np.maximum(out + x, 0)


def _residual_down(
    x: npt.NDArray[np.float32], w: dict[str, npt.NDArray[np.float32]], prefix: str
) -> npt.NDArray[np.float32]:
    """residualLayer.ts residualDown: the shortcut is a 2x2 average pool, zero-padded in channels;
    when the strided conv comes out one row/column short, zeros are appended at the bottom/right."""
    out = _conv_layer(x, w, f"{prefix}/conv1", stride=2, relu=True, padding="valid")
    out = _conv_layer(out, w, f"{prefix}/conv2", stride=1, relu=False, padding="same")
    pooled = _pool(x, 2, 2, "avg")
    if pooled.shape[1:3] != out.shape[1:3]:
        out = np.pad(out, ((0, 0), (0, 1), (0, 1), (0, 0)))
    if pooled.shape[3] != out.shape[3]:
        pooled = np.concatenate([pooled, np.zeros_like(pooled)], axis=3)
    return np.maximum(pooled + out, 0)


def reference_forward(
    weights: dict[str, npt.NDArray[np.float32]], images: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """FaceRecognitionNet.forwardInput on (N,150,150,3) RGB 0..255; weights in TF layout."""
    x = ((images.astype(np.float32) - np.asarray(MEAN_RGB, np.float32)) / np.float32(PIXEL_DIVISOR)).astype(
        np.float32
    )
    out = _conv_layer(x, weights, "conv32_down", stride=2, relu=True, padding="valid")
    out = _pool(out, 3, 2, "max")
    for name, kind in BLOCKS:
        out = _residual(out, weights, name) if kind == "residual" else _residual_down(out, weights, name)
    pooled = out.mean(axis=(1, 2), dtype=np.float32)
    return np.asarray(pooled @ weights["fc"], dtype=np.float32)


# --- the ONNX graph --------------------------------------------------------------------------


def _onnx_layout(entry: Entry) -> npt.NDArray[Any]:
    """Filters HWIO -> OIHW; per-channel vectors -> (1,C,1,1) so they broadcast over NCHW; the
    conv bias and fc stay as they are. Pure reordering: the stored uint8 values are unchanged."""
    values = entry.values
    if values.ndim == 4:
        return np.ascontiguousarray(values.transpose(3, 2, 0, 1))
    if entry.name.endswith("/scale/weights") or entry.name.endswith("/scale/biases"):
        return values.reshape(1, -1, 1, 1)
    return values


class GraphBuilder:
    """Nodes and initializers of one ONNX graph, with unique names."""

    def __init__(self) -> None:
        import onnx
        from onnx import helper, numpy_helper

        self.onnx, self.helper, self.numpy_helper = onnx, helper, numpy_helper
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def constant(self, name: str, value: npt.NDArray[Any]) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str | None = None, **attrs: Any) -> str:
        self._count += 1
        out = name or f"{op.lower()}_{self._count}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], name=f"{op}_{self._count}", **attrs))
        return out

    def weight(self, entry: Entry) -> str:
        """A float32 tensor for one manifest entry: uint8 dequantized in the graph (exactly as
        TF.js: in double precision, then float32), or the float32 values themselves."""
        values = _onnx_layout(entry)
        if entry.scale is None or entry.minimum is None:
            return self.constant(entry.name, values.astype(np.float32))
        q = self.constant(f"{entry.name}:q", values.astype(np.uint8))
        scale = self.constant(f"{entry.name}:scale", np.asarray(entry.scale, np.float64))
        minimum = self.constant(f"{entry.name}:min", np.asarray(entry.minimum, np.float64))
        as_double = self.node("Cast", [q], to=self.onnx.TensorProto.DOUBLE)
        value = self.node("Add", [self.node("Mul", [as_double, scale]), minimum])
        return self.node("Cast", [value], name=entry.name, to=self.onnx.TensorProto.FLOAT)


def build_model(entries: dict[str, Entry]) -> Any:
    """The ONNX model (opset 17, IR 8: ONNX Runtime >= 1.17 loads it)."""
    import onnx

    g = GraphBuilder()
    helper = g.helper
    # The input's nodes come first: the Transpose's zero bytes near the start of the file make
    # git (and other tools that sniff the first 8 kB) treat the file as binary, never as text.
    image = helper.make_tensor_value_info("image", onnx.TensorProto.FLOAT, ["N", INPUT_SIZE, INPUT_SIZE, 3])
    mean = g.constant("mean_rgb", np.asarray(MEAN_RGB, np.float32).reshape(1, 1, 1, 3))
    divisor = g.constant("pixel_divisor", np.asarray(PIXEL_DIVISOR, np.float32))
    x = g.node("Div", [g.node("Sub", ["image", mean]), divisor])
    x = g.node("Transpose", [x], perm=[0, 3, 1, 2])  # NHWC -> NCHW
    w = {name: g.weight(entry) for name, entry in entries.items()}

    def conv_layer(x: str, prefix: str, stride: int, relu: bool, same: bool) -> str:
        k = entries[f"{prefix}/conv/filters"].shape[0]
        pad = (k - 1) // 2 if same else 0
        out = g.node(
            "Conv",
            [x, w[f"{prefix}/conv/filters"], w[f"{prefix}/conv/bias"]],
            kernel_shape=[k, k],
            strides=[stride, stride],
            pads=[pad, pad, pad, pad],
        )
        out = g.node("Mul", [out, w[f"{prefix}/scale/weights"]])
        out = g.node("Add", [out, w[f"{prefix}/scale/biases"]])
        return g.node("Relu", [out]) if relu else out

    size = INPUT_SIZE
    x = conv_layer(x, "conv32_down", 2, True, same=False)
    size = (size - 7) // 2 + 1
    x = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])
    size = (size - 3) // 2 + 1
    channels = 32
    for name, kind in BLOCKS:
        if kind == "residual":
            out = conv_layer(x, f"{name}/conv1", 1, True, same=True)
            out = conv_layer(out, f"{name}/conv2", 1, False, same=True)
            x = g.node("Relu", [g.node("Add", [out, x])])
            continue
        out = conv_layer(x, f"{name}/conv1", 2, True, same=False)
        out = conv_layer(out, f"{name}/conv2", 1, False, same=True)
        pooled = g.node("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
        conv_size, pool_size = (size - 3) // 2 + 1, (size - 2) // 2 + 1
        if conv_size != pool_size:  # residualDown's shape adjust: a zero row and column
            pads = g.constant(f"{name}/adjust_pads", np.asarray([0, 0, 0, 0, 0, 0, 1, 1], np.int64))
            out = g.node("Pad", [out, pads])
        out_channels = entries[f"{name}/conv2/conv/filters"].shape[3]
        if out_channels != channels:  # zero channels appended to the shortcut
            pads = g.constant(
                f"{name}/channel_pads", np.asarray([0, 0, 0, 0, 0, out_channels - channels, 0, 0], np.int64)
            )
            pooled = g.node("Pad", [pooled, pads])
        x = g.node("Relu", [g.node("Add", [pooled, out])])
        size, channels = pool_size, out_channels
    x = g.node("ReduceMean", [x], axes=[2, 3], keepdims=0)
    g.node("MatMul", [x, w["fc"]], name="embedding")

    embedding = helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, ["N", EMBEDDING_SIZE])
    graph = helper.make_graph(g.nodes, "face_embedder", [image], [embedding], g.initializers)
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17)],
        producer_name="moodlens scripts/convert_face_embedder.py",
        doc_string=(
            "FaceRecognitionNet (face-api.js port of dlib_face_recognition_resnet_model_v1): "
            "150x150 RGB face chip (0..255, NHWC) -> 128-D embedding. "
            f"Weights from npm {PACKAGE}@{VERSION} (MIT); dlib model: public domain."
        ),
    )
    model.ir_version = 8
    helper.set_model_props(
        model,
        {
            "source": f"npm:{PACKAGE}@{VERSION}",
            "source_bin_sha256": BIN_SHA256,
            "source_manifest_sha256": MANIFEST_SHA256,
            "licence": "MIT (face-api.js, @vladmandic/face-api); dlib model released into the public domain",
            "input": "image: float32 (N,150,150,3) RGB 0..255",
            "output": "embedding: float32 (N,128), unnormalised",
            "mean_rgb": json.dumps(MEAN_RGB),
            "pixel_divisor": str(PIXEL_DIVISOR),
        },
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def weights_from_onnx(model: Any) -> dict[str, npt.NDArray[np.float32]]:
    """The float32 weights in TF layout, recomputed from the ONNX file's stored values (the test
    runs :func:`reference_forward` on them, so it needs no tarball)."""
    from onnx import numpy_helper

    stored = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    out: dict[str, npt.NDArray[np.float32]] = {}
    names = {n.split(":")[0] for n in stored if "/" in n and not n.endswith("_pads")}
    for name in names:
        if f"{name}:q" in stored:
            q = stored[f"{name}:q"].astype(np.float64)
            value = (q * float(stored[f"{name}:scale"]) + float(stored[f"{name}:min"])).astype(np.float32)
        else:
            value = stored[name].astype(np.float32)
        if value.ndim == 4 and name.endswith("/filters"):
            value = value.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        elif name.endswith("/scale/weights") or name.endswith("/scale/biases"):
            value = value.reshape(-1)
        out[name] = value
    fc = stored["fc:q"].astype(np.float64) * float(stored["fc:scale"]) + float(stored["fc:min"])
    out["fc"] = fc.astype(np.float32)
    return out


def check(model_bytes: bytes, weights: dict[str, npt.NDArray[np.float32]], seed: int = 0) -> float:
    """Max |ONNX - reference| on a random batch of 2 images; raises when it is not tiny."""
    import onnxruntime as ort

    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(2, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (got,) = session.run(["embedding"], {"image": images})
    want = reference_forward(weights, images)
    diff = float(np.abs(got - want).max())
    scale = float(np.abs(want).max())
    if not diff <= 1e-4 * max(scale, 1.0):
        raise SystemExit(f"the ONNX graph disagrees with the numpy reference: max |diff| {diff:g}")
    return diff


#: Runs face-api.js's own FaceRecognitionNet (its bundled TF.js, CPU backend) on ``input.f32``.
#: The ESM bundle's Node platform shim needs ``require('util')``, which an ES module lacks, so the
#: script presents itself as a browser (TF.js then uses the global TextEncoder); nothing else
#: of the browser is used.
_JS_CHECK = """
globalThis.window = globalThis;
globalThis.document = { createElement: () => ({}) };
const fs = await import('fs');
const faceapi = await import(process.argv[2] + '/dist/face-api.esm.js');
const tf = faceapi.tf;
await tf.setBackend('cpu');
await tf.ready();
const model = process.argv[2] + '/model/face_recognition_model';
const manifest = JSON.parse(fs.readFileSync(model + '-weights_manifest.json'));
const bin = fs.readFileSync(model + '.bin');
const buffer = bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength);
const net = new faceapi.FaceRecognitionNet();
net.loadFromWeightMap(tf.io.decodeWeights(buffer, manifest[0].weights));
const raw = fs.readFileSync(process.argv[3]);
const x = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
const n = x.length / (150 * 150 * 3);
const out = [];
for (let i = 0; i < n; i++) {
  const t = tf.tensor4d(x.slice(i * 67500, (i + 1) * 67500), [1, 150, 150, 3]);
  const y = net.forwardInput(await faceapi.toNetInput(t));
  out.push(...(await y.data()));
}
fs.writeFileSync(process.argv[4], Buffer.from(new Float32Array(out).buffer));
"""


def check_with_face_api_js(tarball: Path, model_bytes: bytes, seed: int = 1) -> float:
    """Max |ONNX - face-api.js| on a random batch, face-api.js run by Node from the tarball itself."""
    import shutil
    import subprocess
    import tempfile

    import onnxruntime as ort

    node = shutil.which("node")
    if node is None:
        raise SystemExit("--check-js needs Node.js (node) on PATH")
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 255, size=(2, INPUT_SIZE, INPUT_SIZE, 3)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        with tarfile.open(tarball, "r:gz") as tar:
            wanted = [m for m in tar.getmembers() if m.name.startswith(("package/dist/", "package/model/"))]
            tar.extractall(root, members=wanted, filter="data")
        (root / "check.mjs").write_text(_JS_CHECK)
        images.tofile(root / "input.f32")
        subprocess.run(
            [
                node,
                str(root / "check.mjs"),
                str(root / "package"),
                str(root / "input.f32"),
                str(root / "out.f32"),
            ],
            check=True,
            capture_output=True,
            timeout=600,
        )
        want = np.fromfile(root / "out.f32", dtype=np.float32).reshape(len(images), EMBEDDING_SIZE)
    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    (got,) = session.run(["embedding"], {"image": images})
    diff = float(np.abs(got - want).max())
    if not diff <= 1e-4:
        raise SystemExit(f"the ONNX graph disagrees with face-api.js: max |diff| {diff:g}")
    return diff


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("tarball", type=Path, help=f"the npm tarball of {PACKAGE}@{VERSION}")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument(
        "--check-js",
        action="store_true",
        help="also compare with face-api.js itself, run by Node.js from the tarball (needs node)",
    )
    args = parser.parse_args(argv)
    data, manifest = read_package(args.tarball)
    print(f"{args.tarball}: tarball sha256 {sha256(args.tarball.read_bytes())} (npm served {TARBALL_SHA256})")
    entries = decode_weights(data, manifest)
    quantized = sum(e.quantized for e in entries.values())
    print(
        f"{len(entries)} weights ({quantized} uint8, {len(entries) - quantized} float32); "
        ".bin and manifest match the pinned sha256"
    )
    model = build_model(entries)
    model_bytes = model.SerializeToString()
    weights = {name: entry.dequantized() for name, entry in entries.items()}
    if weights_from_onnx(model).keys() != weights.keys():
        raise SystemExit("the ONNX file does not hold every weight of the manifest")
    diff = check(model_bytes, weights)
    print(f"ONNX Runtime vs numpy reference (random input, batch 2): max |diff| {diff:.3g}")
    if args.check_js:
        diff = check_with_face_api_js(args.tarball, model_bytes)
        print(f"ONNX Runtime vs face-api.js 1.7.15 on Node (TF.js CPU backend): max |diff| {diff:.3g}")
    args.out.write_bytes(model_bytes)
    print(f"wrote {args.out}: {len(model_bytes)} bytes, sha256 {sha256(model_bytes)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
