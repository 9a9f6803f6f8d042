#!/usr/bin/env bash
# CI stage: the installs users make, each in a fresh venv, outside the development one.
#  1. `pip install .` (no -e, no extras): the README's first command, then image, video (with --out
#     and --timeline) and evaluate on the real media and a small FER2013 slice.
#  2. `pip install '.[serve]'` alone: `moodlens serve` starts and answers.
# Media and data come from ../shared (or MOODLENS_MEDIA / MOODLENS_FER2013); without them those
# smokes are skipped with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
MEDIA=${MOODLENS_MEDIA:-$ROOT/../shared/media}
FER=${MOODLENS_FER2013:-$ROOT/../shared/data/fer2013/fer2013.csv.gz}
work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
step() { echo "== user install: $*"; }

step "pip install . (inference only) and the README's first command"
MOODLENS_VENV="$work/user" bash scripts/demo.sh
user="$work/user/bin"
"$user/python" - <<'PY'
import importlib.util, sys
extras = [m for m in ("torch", "onnx", "sqlalchemy", "fastapi", "uvicorn", "matplotlib") if importlib.util.find_spec(m)]
if extras:
    sys.exit(f"the inference-only install pulled in extras: {extras}")
import moodlens, pathlib
if "site-packages" not in pathlib.Path(moodlens.__file__).as_posix():
    sys.exit(f"moodlens is not a plain install: {moodlens.__file__}")
PY
cd "$work"
if [ -f "$MEDIA/MANIFEST.csv" ]; then
  step "moodlens image on the real photos"
  "$user/moodlens" image "$MEDIA/obama.jpg" "$MEDIA/friends_group6.jpg" --out "$work/drawn" | tee "$work/image.txt"
  grep -q "apparent" "$work/image.txt"
  step "moodlens video --out --timeline on the real clip"
  "$user/moodlens" video "$MEDIA/short_hamilton_clip.mp4" --out "$work/clip.mp4" --timeline "$work/timeline.csv" \
    --summary "$work/summary.json"
  test -s "$work/clip.mp4" && test -s "$work/timeline.csv" && test -s "$work/summary.json"
  "$user/moodlens" camera --device "$MEDIA/short_hamilton_clip.mp4" --view none --seconds 3 --summary "$work/cam.json"
else
  echo "skipped: no media at $MEDIA (set MOODLENS_MEDIA)"
fi
if [ -f "$FER" ]; then
  step "moodlens evaluate on a FER2013 slice"
  "$user/python" - "$FER" "$work/slice.csv" <<'PY'
import csv, gzip, sys
source, target = sys.argv[1], sys.argv[2]
opener = gzip.open if source.endswith(".gz") else open
with opener(source, "rt", newline="") as src, open(target, "w", newline="") as dst:
    rows = csv.reader(src); out = csv.writer(dst); out.writerow(next(rows)); n = 0
    for row in rows:
        if row[2] == "PrivateTest":
            out.writerow(row); n += 1
            if n == 300:
                break
PY
  "$user/moodlens" evaluate --data "$work/slice.csv" --split PrivateTest --out "$work/report" | tee "$work/eval.txt"
  grep -q "accuracy" "$work/eval.txt"
else
  echo "skipped: no FER2013 at $FER (set MOODLENS_FER2013)"
fi
"$user/moodlens" info
"$user/moodlens" train --list-networks >/dev/null
cd "$ROOT"

step "pip install '.[serve]' alone, moodlens serve answers"
python3 -m venv "$work/serve"
"$work/serve/bin/python" -m pip install --quiet --upgrade pip
"$work/serve/bin/python" -m pip install --quiet ".[serve]"
port=$("$work/serve/bin/python" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])")
(cd "$work" && exec "$work/serve/bin/moodlens" serve --port "$port" --db "sqlite:///$work/h.sqlite3") &
server_pid=$!
for _ in $(seq 60); do
  if "$work/serve/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/api/v1/health', timeout=1)" 2>/dev/null; then
    break
  fi
  sleep 1
done
"$work/serve/bin/python" - "$port" <<'PY'
import json, sys, urllib.request
base = f"http://127.0.0.1:{sys.argv[1]}"
health = json.loads(urllib.request.urlopen(base + "/api/v1/health", timeout=5).read())
assert health.get("status") == "ok", health
import re
for path in ("/", "/dashboard", "/docs", "/redoc", "/openapi.json", "/docs-assets/swagger-ui-bundle.js"):
    page = urllib.request.urlopen(base + path, timeout=10)
    assert page.status == 200, path
    # Every script and stylesheet a page names must have been installed with the package.
    for asset in re.findall(r'(?:src|href)="(/(?:static|docs-assets)/[^"]+)"', page.read().decode("utf-8", "replace")):
        assert urllib.request.urlopen(base + asset, timeout=10).status == 200, (path, asset)
print("serve answers:", health)
PY
echo "== user installs: ok"
