#!/usr/bin/env bash
# ACDC results rows (SSL4MIS split; evaluation on val.list, 20 volumes, per-volume Dice / HD95 / ASD in px, the
# DESIGN.md protocol), resumable: rows already in results/acdc/summary.csv are skipped.
#   bash examples/acdc/train_rows.sh [cpu|gpu] [extra options of examples/run_rows.py]
# The cpu schedule is REDUCED (128 px, 8-128 U-Net, batch 8, 800 iterations, one seed; all seven rows at 7
# patients, supervised / mt / hgdtgl at 3); the
# gaze rows use SIMULATED gaze (examples/acdc/simulate_training_gaze.py -> runs/acdc/store).
# 10 % = 7 labeled patients (136 slices), 5 % = 3 patients (68 slices): the first patients of train_slices.list.
set -euo pipefail
SCHEDULE=${1:-cpu}
shift || true
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d runs/acdc/store ] || "$PY" examples/acdc/simulate_training_gaze.py
R="$PY examples/run_rows.py --dataset acdc --schedule $SCHEDULE --gaze-dir runs/acdc/store"
if [ "$SCHEDULE" = cpu ]; then
  $R --labeled 7 --jobs 2 "$@"
  $R --rows supervised,mt,hgdtgl --labeled 3 --jobs 2 "$@"
else
  $R --labeled 7 --jobs 7 "$@"
  $R --rows supervised,mt,bcp,hgdtgl --labeled 3 --jobs 4 "$@"
fi
