#!/usr/bin/env bash
# The benchmark extra: fer 25.10.3 and what its default pipeline really imports (TensorFlow CPU,
# OpenCV 4 headless, pandas/moviepy for its video pipeline), in .venv-bench.
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${MOODLENS_BENCH_VENV:-.venv-bench}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/python" -m pip install --quiet "tensorflow-cpu" "opencv-python-headless<5" requests "setuptools<81" \
  pandas "moviepy<2.0" ffmpeg-python matplotlib Pillow tqdm
"$VENV/bin/python" -m pip install --quiet --no-deps "fer==25.10.3"
"$VENV/bin/python" -c "import fer; print('fer', fer.__version__ if hasattr(fer, '__version__') else 'ok')"
