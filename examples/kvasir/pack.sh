#!/usr/bin/env bash
# Pack the Kvasir-SEG training split (images + masks + real-gaze heatmaps at SIZE px) and the validation split
# into one .npz for the GPU machine (examples/gpu_results.sh):
#   bash examples/kvasir/pack.sh [SIZE=224] [OUT=.carry/kvasir.npz]
set -euo pipefail
SIZE=${1:-224}
NPZ=${2:-.carry/kvasir.npz}
SHARED=${GAZEKIT_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
mkdir -p "$(dirname "$NPZ")"
"$PY" -m hgdtgl pack "$SHARED/kvasir-seg" --format images --gaze-dir runs/kvasir/store --size "$SIZE" \
  --train-list results/kvasir/splits/train.list --val-split results/kvasir/splits/val.list -o "$NPZ"
du -h "$NPZ"
