#!/usr/bin/env bash
# From a finished two-head training run to the two shipped models, following the protocol of
# docs/training.md: PublicTest chooses (the FER2013 model: the run's fer2013 head or the previous
# model, whichever PublicTest prefers) and fits the temperatures; PrivateTest is then measured once
# per model and recorded in its JSON.
#
#   bash scripts/ship_models.sh RUN_DIR PREVIOUS_FER2013_ONNX [FER2013_CSV] [FERPLUS_CSV]
#
# Writes runs/ship/{crowd,fer2013}.onnx (+ .json) and the evaluation reports under runs/ship/;
# copying them into src/moodlens/models/ is left to the person shipping.
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?a training run folder}
PREVIOUS=${2:?the previous FER2013 model (.onnx with its .json)}
FER=${3:-../shared/data/fer2013/fer2013.csv.gz}
FERPLUS=${4:-../shared/data/ferplus/fer2013new.csv}
OUT=runs/ship
mkdir -p "$OUT"

for head in crowd fer2013; do
  moodlens export "$RUN" --head "$head" --out "$OUT/$head-float.onnx" --quantize --data "$FER"
  mv "$OUT/$head-float-int8.onnx" "$OUT/$head-run.onnx"
  mv "$OUT/$head-float-int8.json" "$OUT/$head-run.json"
done
cp "$PREVIOUS" "$OUT/fer2013-previous.onnx"
cp "${PREVIOUS%.onnx}.json" "$OUT/fer2013-previous.json"

# Selection on PublicTest only.
moodlens evaluate --model "$OUT/fer2013-run.onnx" --data "$FER" --split PublicTest --out "$OUT/public-fer2013-run"
moodlens evaluate --model "$OUT/fer2013-previous.onnx" --data "$FER" --split PublicTest --out "$OUT/public-fer2013-previous"
choice=$(python - "$OUT" <<'EOF'
import json, sys
out = sys.argv[1]
run = json.load(open(f"{out}/public-fer2013-run/metrics.json"))["accuracy"]
previous = json.load(open(f"{out}/public-fer2013-previous/metrics.json"))["accuracy"]
print("run" if run > previous else "previous")
EOF
)
echo "PublicTest prefers the $choice FER2013 model"
cp "$OUT/fer2013-$choice.onnx" "$OUT/fer2013.onnx"
cp "$OUT/fer2013-$choice.json" "$OUT/fer2013.json"
cp "$OUT/crowd-run.onnx" "$OUT/crowd.onnx"
cp "$OUT/crowd-run.json" "$OUT/crowd.json"

python - "$OUT" "$RUN" "$choice" <<'EOF'
import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path
from moodlens.classification.metadata import load_metadata, save_metadata
out, run, choice = sys.argv[1:]
for name, labels in (("crowd", "FERPlus crowd votes (vote shares, FERPlus's outlier rule)"),
                     ("fer2013", "FER2013 labels")):
    meta = load_metadata(f"{out}/{name}.onnx")
    training = dict(meta.training, labels=labels)
    config = json.loads((Path(run) / "config.json").read_text())["config"]
    if config.get("init_from") and (name == "crowd" or choice == "run"):
        # The run started from another model's weights: name it, with the compute it took.
        start = Path(config["init_from"])
        parent = load_metadata(start).training
        training["initialised_from"] = {
            "file": str(start),
            "sha256": hashlib.sha256(start.read_bytes()).hexdigest(),
            "command": parent.get("command"),
            "train_seconds": parent.get("train_seconds"),
            "stages": parent.get("stages", []),
        }
    if name == "crowd" or choice == "run":
        training["shipped_by"] = f"bash scripts/ship_models.sh {run} ..."
    # Figures measured for another file (the float export, the previous calibration) do not carry over.
    save_metadata(replace(meta, name=name, training=training, metrics={}, temperature=1.0, calibration={}),
                  f"{out}/{name}.onnx")
EOF

# Temperatures fitted on PublicTest, each model against the labels it is scored on.
moodlens calibrate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS"
moodlens calibrate --model "$OUT/fer2013.onnx" --data "$FER"

# PublicTest figures for the record, then PrivateTest once per model.
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS" --split PublicTest --out "$OUT/public-crowd" --record
moodlens evaluate --model "$OUT/fer2013.onnx" --data "$FER" --split PublicTest --out "$OUT/public-fer2013" --record
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --ferplus "$FERPLUS" --split PrivateTest --out "$OUT/private-crowd" --record
moodlens evaluate --model "$OUT/crowd.onnx" --data "$FER" --split PrivateTest --out "$OUT/private-crowd-fer" --record
moodlens evaluate --model "$OUT/fer2013.onnx" --data "$FER" --split PrivateTest --out "$OUT/private-fer2013" --record
moodlens evaluate --model "$OUT/fer2013.onnx" --data "$FER" --ferplus "$FERPLUS" --split PrivateTest --out "$OUT/private-fer2013-ferplus" --record
