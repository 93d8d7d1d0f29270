#!/usr/bin/env bash
# The main job on data the project makes itself (what `make demo` runs), under 5 minutes on a 2-core CPU:
#   1. a synthetic Tobii Pro Lab export -> gazekit convert            (vendor export -> fixation table)
#   2. a synthetic segmentation dataset -> gazekit simulate           (label maps -> reading session)
#   3. gazekit convert SESSION -> render-heatmaps -> qc                (fixations -> heatmap store -> report)
#   4. hgdtgl train (short, CPU) -> hgdtgl evaluate                    (gaze-guided training -> metrics)
# Usage: bash examples/demo.sh [OUT_DIR=demo_out]   (gazekit and hgdtgl on PATH, e.g. from .venv/bin)
set -euo pipefail
OUT=${1:-demo_out}
ITERS=${DEMO_ITERATIONS:-200}
rm -rf "$OUT" && mkdir -p "$OUT"
here=$(cd "$(dirname "$0")" && pwd)
T0=$(date +%s)
step() { printf '\n== %s (%ss)\n' "$1" "$(( $(date +%s) - T0 ))"; }

step "1. vendor export -> fixation table"
python "$here/make_tobii_export.py" "$OUT/tobii_export.tsv"
gazekit convert "$OUT/tobii_export.tsv" -o "$OUT/tobii_fixations.parquet"

step "2. synthetic dataset (images + label maps) and simulated reading sessions"
python "$here/make_demo_data.py" "$OUT/data" --n 48 --size 128
gazekit simulate "$OUT/data/masks" --images "$OUT/data/images" -o "$OUT/session" --seed 0

step "3. session -> fixations -> heatmap store -> QC report"
gazekit convert "$OUT/session" -o "$OUT/fixations.parquet"  # prints the table's summary (= gazekit inspect)
gazekit render-heatmaps "$OUT/fixations.parquet" --stimuli "$OUT/data/images" --sigma-deg 1.0 \
  --scales 1,2,4,8 --size 64 -o "$OUT/store"
gazekit qc "$OUT/fixations.parquet" --stimuli "$OUT/data/images" --labels "$OUT/data/masks" --sigma-deg 1.0 \
  -o "$OUT/qc"

step "4. hgdtgl: gaze-guided semi-supervised training (short CPU schedule) and evaluation"
hgdtgl train --data "$OUT/data" --format images --gaze-dir "$OUT/store" --method hgdtgl --labeled-ratio 0.25 \
  --iterations "$ITERS" --pretrain-iterations $(( ITERS / 3 )) --rampup-iterations "$ITERS" --batch-size 8 \
  --labeled-bs 4 --size 64 --base-channels 8 --lr 0.03 --val-every 50 --device cpu --seed 0 --out "$OUT/run"
hgdtgl evaluate "$OUT/run/checkpoint_best.pt" --data "$OUT/data" --split val -o "$OUT/metrics.csv"

step "done"
cat <<TXT
outputs:
  vendor export fixations  $OUT/tobii_fixations.parquet
  simulated session        $OUT/session/
  fixation table           $OUT/fixations.parquet
  heatmap store            $OUT/store/ (manifest.parquet, heatmaps/*.npz, store.json)
  QC report                $OUT/qc/index.html
  training run             $OUT/run/ (config.yaml, metrics.csv, curves.png, checkpoint_best.pt)
  validation metrics       $OUT/metrics.csv (its mean rows printed by hgdtgl evaluate above)
TXT
