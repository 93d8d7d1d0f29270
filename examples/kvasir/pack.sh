#!/usr/bin/env bash
# Pack the Kvasir-SEG training split (images + masks + real-gaze heatmaps at SIZE px) and the validation split
# (original size) into one .npz for the GPU machine (examples/gpu_results.sh), then re-encode its images as
# JPEG (examples/kvasir/jpeg_pack.py) so that it fits the carry budget (PNG: 112 MiB at 256 px, 31 MiB of it
# the validation images; JPEG q90: 27 MiB at 256 px):
#   bash examples/kvasir/pack.sh [SIZE=224] [OUT=.carry/kvasir.npz] [QUALITY=90]
set -euo pipefail
SIZE=${1:-224}
NPZ=${2:-.carry/kvasir.npz}
QUALITY=${3:-90}
SHARED=${GAZEKIT_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
mkdir -p "$(dirname "$NPZ")" runs/kvasir
"$PY" -m hgdtgl pack "$SHARED/kvasir-seg" --format images --gaze-dir runs/kvasir/store --size "$SIZE" \
  --train-list results/kvasir/splits/train.list --val-split results/kvasir/splits/val.list \
  -o "runs/kvasir/pack_png_$SIZE.npz"
"$PY" examples/kvasir/jpeg_pack.py "runs/kvasir/pack_png_$SIZE.npz" "$NPZ" --quality "$QUALITY"
