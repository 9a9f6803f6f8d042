#!/usr/bin/env bash
# The FER2013 model plan of docs/training.md, step by step, across sessions: each call runs the
# first unfinished step and continues it where the last session stopped (--resume), so the same
# command is all the next session needs, on a machine that kept runs/ (runs/ is not committed: a
# new machine starts the plan again). A step is finished when its run wrote its summary.
#
#   bash scripts/train_fer2013.sh [FER2013_CSV] [FERPLUS_CSV] [EXTRA TRAIN ARGS...]
#   bash scripts/train_fer2013.sh ../shared/data/fer2013/fer2013.csv.gz \
#     ../shared/data/ferplus/fer2013new.csv --device cuda          # on a machine with a GPU
#
# Steps: (1) the vgg_l two-head teacher; (2) its fer2013 head exported (INT8), the ensemble's second
# teacher; (3) the vgg_s student of the ensemble; (4) the vgg_m student. Shipping stays a person's
# decision: the script ends by printing the ship_model.sh commands (PublicTest chooses).
set -euo pipefail
cd "$(dirname "$0")/.."
FER=${1:-../shared/data/fer2013/fer2013.csv.gz}
FERPLUS=${2:-../shared/data/ferplus/fer2013new.csv}
shift $(( $# < 2 ? $# : 2 ))
for f in "$FER" "$FERPLUS"; do
  [ -f "$f" ] || { echo "train_fer2013.sh: $f does not exist" >&2; exit 2; }
done

train() {  # train CONFIG OUT DONE_FILE [ARGS...]: run or continue one training run
  local config=$1 out=$2 done=$3
  shift 3
  if [ -f "$out/$done" ]; then
    echo "== $out: finished"
    return
  fi
  local resume=()
  [ -f "$out/last.pt" ] && resume=(--resume)
  echo "== $out: ${resume[*]:-start}"
  moodlens train --config "$config" --data "$FER" --out "$out" "${resume[@]}" "$@"
}

train configs/vgg_l_two_heads.toml runs/vgg_l_2h summary-fer2013.json --ferplus "$FERPLUS" "$@"
if [ ! -f runs/vgg_l_2h/fer2013-int8.onnx ]; then
  moodlens export runs/vgg_l_2h --head fer2013 --out runs/vgg_l_2h/fer2013.onnx --quantize --data "$FER"
fi
# A student seldom passes its teachers: once the student run has scored them (teachers.json, on
# PublicTest), go on only if their ensemble passes its best member, the shipped model among them.
python - runs/vgg_s_fer2013_ensemble/teachers.json <<'PY'
import json, sys
from pathlib import Path
path = Path(sys.argv[1])
try:  # absent or unreadable: not scored yet (the student run scores its teachers again)
    scored = json.loads(path.read_text())["PublicTest"]
except (OSError, ValueError, KeyError):
    scored = None
if scored:
    ensemble = scored["ensemble"]["accuracy"]
    best = max(scored["members"], key=lambda m: m["accuracy"])
    if ensemble <= best["accuracy"]:
        sys.exit(f"train_fer2013.sh: the teachers' ensemble scores {ensemble:.4f} on PublicTest, not above "
                 f"{best['path']} alone ({best['accuracy']:.4f}); a student of it cannot pass the shipped "
                 "model. Add a stronger teacher (docs/training.md) and remove runs/vgg_s_fer2013_ensemble.")
PY
train configs/vgg_s_fer2013_ensemble.toml runs/vgg_s_fer2013_ensemble summary.json "$@"
train configs/vgg_m_fer2013_ensemble.toml runs/vgg_m_fer2013_ensemble summary.json "$@"
echo "All steps finished. PublicTest chooses what ships:"
echo "  bash scripts/ship_model.sh fer2013 runs/vgg_s_fer2013_ensemble"
echo "  bash scripts/ship_model.sh fer2013 runs/vgg_m_fer2013_ensemble"
