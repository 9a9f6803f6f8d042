#!/usr/bin/env bash
# From a finished single-head crowd run (e.g. configs/vgg_s_crowd_student.toml) to a candidate for
# the shipped `crowd` model, following the protocol of docs/training.md: PublicTest chooses between
# the run and the model shipped now (FERPlus-majority accuracy; a tie keeps the shipped one) and fits
# the temperature; PrivateTest is then measured once and recorded in the JSON.
#
#   bash scripts/ship_crowd.sh RUN_DIR [FER2013_CSV] [FERPLUS_CSV]
#
# Writes runs/ship_crowd/crowd.onnx (+ .json) and the evaluation reports beside it when PublicTest
# prefers the run; copying it into src/moodlens/models/ is left to the person shipping (after
# benchmarks/bench_classifier.py shows the speed the issue asks for).
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?a training run folder}
FER=${2:-../shared/data/fer2013/fer2013.csv.gz}
FERPLUS=${3:-../shared/data/ferplus/fer2013new.csv}
SHIPPED=src/moodlens/models/crowd.onnx
OUT=runs/ship_crowd
mkdir -p "$OUT"

moodlens export "$RUN" --out "$OUT/run-float.onnx" --quantize --data "$FER"
mv "$OUT/run-float-int8.onnx" "$OUT/run.onnx"
mv "$OUT/run-float-int8.json" "$OUT/run.json"

# Selection on PublicTest only (temperature does not change the arg-max, so raw accuracies compare).
moodlens evaluate --model "$OUT/run.onnx" --data "$FER" --ferplus "$FERPLUS" --split PublicTest --out "$OUT/public-run"
moodlens evaluate --model "$SHIPPED" --data "$FER" --ferplus "$FERPLUS" --split PublicTest --out "$OUT/public-shipped"
choice=$(python - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
run = json.load(open(f"{out}/public-run/metrics.json"))["accuracy"]
shipped = json.load(open(f"{out}/public-shipped/metrics.json"))["accuracy"]
print(f"PublicTest FERPlus-majority: run {run:.4f}, shipped {shipped:.4f}", file=sys.stderr)
print("run" if run > shipped else "shipped")
EOF
)
echo "PublicTest prefers the $choice crowd model"
if [ "$choice" != run ]; then
  exit 0
fi
cp "$OUT/run.onnx" "$OUT/crowd.onnx"

python - "$OUT" "$RUN" "$SHIPPED" <<'EOF'
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from moodlens.classification.metadata import load_metadata, save_metadata
out, run, shipped = sys.argv[1:]
meta = load_metadata(f"{out}/run.onnx")
training = dict(meta.training, labels="FERPlus crowd votes (vote shares, FERPlus's outlier rule)",
                scored_on="FERPlus majority", shipped_by=f"bash scripts/ship_crowd.sh {run}")
started = json.loads((Path(run) / "config.json").read_text())
config = started["config"]
# The summary names the command of the last process (a resume); the run began with this one.
training["command"] = " ".join(started["command"])
commands = Path(run) / "commands.log"
if commands.exists():
    training["resumed_with"] = [line for line in commands.read_text().splitlines() if line.strip()]
teachers = config.get("teachers") or ([config["teacher"]] if config.get("teacher") else [])
if teachers:
    # The teacher's own provenance is the model shipped before this one: name it and its compute.
    previous = load_metadata(shipped)
    training["distilled_from"] = {
        "checkpoints": teachers,
        "network": config.get("teacher_network"),
        "head": config.get("teacher_head"),
        "alpha": config.get("distill_alpha"),
        "temperature": config.get("distill_temperature"),
        "shipped_as": f"{shipped} (sha256 {hashlib.sha256(Path(shipped).read_bytes()).hexdigest()})",
        "teacher_training": previous.training,
    }
# Figures measured for another file (the float export) do not carry over.
save_metadata(replace(meta, name="crowd", training=training, metrics={}, temperature=1.0, calibration={}),
              f"{out}/crowd.onnx")
EOF

# Temperature fitted on PublicTest against the crowd labels.
moodlens calibrate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS"

# PublicTest figures for the record, then PrivateTest once (crowd labels and FER2013 labels).
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS" --split PublicTest --out "$OUT/public-crowd" --record
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS" --split PrivateTest --out "$OUT/private-crowd" --record
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --split PrivateTest --out "$OUT/private-crowd-fer" --record
