#!/usr/bin/env bash
# SIMULATED gaze for a 2D dataset without recorded gaze (CAMUS, SCR): every row that uses it says "simulated".
#   bash examples/simulated_gaze.sh DATASET [WORK=runs/DATASET]         # DATASET = camus | scr
# 1. WORK/train_masks: links to the masks of the training list (results/DATASET/splits/train.list, written by
#    examples/DATASET/make_split.py), so only training label maps are read (validation images get no gaze);
# 2. gazekit simulate WORK/train_masks --images $SHARED/DATASET/images --seed 0 (default reader statistics: the fit
#    to the real Kvasir gaze, 300 Hz, 0.5 deg accuracy, 0.03 deg precision);
# 3. gazekit convert -> WORK/fixations.parquet;
# 4. gazekit render-heatmaps ... --sigma-frac 0.05 --scales 1,2,4,8,16 -> WORK/store (the ACDC settings:
#    examples/acdc/simulate_training_gaze.py).
set -euo pipefail
DATASET=${1:?usage: bash examples/simulated_gaze.sh camus|scr [WORK]}
WORK=${2:-runs/$DATASET}
SHARED=${GAZEKIT_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
LIST=results/$DATASET/splits/train.list
[ -f "$LIST" ] || { echo "$LIST: missing (run examples/$DATASET/make_split.py first)" >&2; exit 2; }
mkdir -p "$WORK"
rm -rf "$WORK/train_masks"
mkdir "$WORK/train_masks"
masks=$(cd "$SHARED/$DATASET/masks" && pwd)
while read -r name; do
  [ -n "$name" ] && ln -s "$masks/$name.png" "$WORK/train_masks/$name.png"
done < "$LIST"
"$PY" -m gazekit simulate "$WORK/train_masks" --images "$SHARED/$DATASET/images" -o "$WORK/session" --seed 0
"$PY" -m gazekit convert "$WORK/session" -o "$WORK/fixations.parquet"
"$PY" -m gazekit render-heatmaps "$WORK/fixations.parquet" -o "$WORK/store" --stimuli "$SHARED/$DATASET/images" \
  --sigma-frac 0.05 --scales 1,2,4,8,16
