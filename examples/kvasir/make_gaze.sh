#!/usr/bin/env bash
# Step 2 of the Kvasir-SEG study: real GazeMedSeg fixations -> heatmap stores, sigma chosen on validation.
#   bash examples/kvasir/make_gaze.sh [WORK=runs/kvasir]
# Converts the fixation report, renders one store per candidate sigma (fraction of the image width/height;
# 256x256 grid, scales 1,2,4,8,16, duration-weighted, min-max normalised), measures on the 90 validation
# images the Dice of the heatmap thresholded at 0.5 against the mask (results/kvasir/sigma_choice.csv), and
# links WORK/store to the best one. The gaze-only row of the table is that best value.
set -euo pipefail
WORK=${1:-runs/kvasir}
SHARED=${GAZEKIT_SHARED_DATA:-../shared/data}
PY=${PYTHON:-python}
SIGMAS=${SIGMAS:-"0.05 0.0911 0.15"}
mkdir -p "$WORK" results/kvasir
"$PY" -m gazekit convert "$SHARED/kvasir-seg/fixations.csv" -o "$WORK/fixations.parquet"
stores=()
for s in $SIGMAS; do
  "$PY" -m gazekit render-heatmaps "$WORK/fixations.parquet" -o "$WORK/store_sigma$s" \
    --stimuli "$SHARED/kvasir-seg/images" --sigma-frac "$s" --norm minmax --scales 1,2,4,8,16 --size 256
  stores+=(--store "$WORK/store_sigma$s")
done
"$PY" examples/kvasir/gaze_only.py "${stores[@]}" --val-list results/kvasir/splits/val.list \
  --shared-data "$SHARED" -o results/kvasir/sigma_choice.csv
best=$("$PY" -c "import csv,sys; r=max(csv.DictReader(open('results/kvasir/sigma_choice.csv')), key=lambda r: float(r['dice'])); print(r['store'])")
ln -sfn "$(basename "$best")" "$WORK/store"
echo "chosen: $best -> $WORK/store"
