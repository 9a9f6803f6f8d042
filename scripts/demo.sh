#!/usr/bin/env bash
# Install moodlens (inference only: no extras) and analyse a photo with the shipped default model.
# Without an argument it uses NASA's public-domain astronaut portrait, taken from the
# scikit-image wheel on PyPI (only that one file is extracted).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MOODLENS_VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# A plain install, as a user gets it, of this checkout (again on every run, so that a `git pull`
# is what runs); a development venv (scripts/setup.sh: an editable install) is kept as it is.
if ! "$VENV/bin/python" -m pip show moodlens 2>/dev/null | grep -q "^Editable project location:"; then
  "$VENV/bin/python" -m pip install --quiet .
fi
photo=${1:-}
if [ -z "$photo" ]; then
  mkdir -p demo
  if [ ! -f demo/astronaut.png ]; then
    tmp=$(mktemp -d)
    "$VENV/bin/python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" "scikit-image==0.26.0"
    "$VENV/bin/python" - "$tmp" <<'PY'
import pathlib, sys, zipfile
wheel = next(pathlib.Path(sys.argv[1]).glob("scikit_image-*.whl"))
with zipfile.ZipFile(wheel) as archive:
    pathlib.Path("demo/astronaut.png").write_bytes(archive.read("skimage/data/astronaut.png"))
PY
    rm -rf "$tmp"
  fi
  photo=demo/astronaut.png
fi
out="demo/$(basename "${photo%.*}")_moodlens.jpg"
mkdir -p demo
"$VENV/bin/moodlens" image "$photo" --out "$out"
