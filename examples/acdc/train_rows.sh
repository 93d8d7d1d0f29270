#!/usr/bin/env bash
# ACDC results rows (SSL4MIS split; evaluation on val.list, 20 volumes, per-volume Dice / HD95 / ASD in px, the
# DESIGN.md protocol), resumable: rows already in results/acdc/summary.csv are skipped.
#   bash examples/acdc/train_rows.sh [cpu|gpu] [10|5] [extra options of examples/run_rows.py]
# 10 = 7 labeled patients (136 slices): supervised, mt, bcp, hgdtgl, the two HG-DTGL ablations and the all-mask
# bound with seed 0 (best students exported to results/acdc/models/), then seeds 1 and 2 of the four main rows, then
# supervised_matched (supervised with the 4 labeled images per step of the semi-supervised rows) with seeds 0-2.
# 5 = 3 patients (68 slices): the four main rows, seed 0. The gaze rows use SIMULATED gaze
# (examples/acdc/simulate_training_gaze.py -> runs/acdc/store); cpu uses results/acdc/cpu_lr.txt (choose_lr.sh).
set -euo pipefail
SCHEDULE=${1:-cpu}
BUDGET=${2:-10}
shift 2 || shift $#
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d runs/acdc/store ] || "$PY" examples/acdc/simulate_training_gaze.py
LR=()
if [ "$SCHEDULE" = cpu ] && [ -f results/acdc/cpu_lr.txt ]; then LR=(--lr "$(cat results/acdc/cpu_lr.txt)"); fi
JOBS=2
[ "$SCHEDULE" = cpu ] || JOBS=7
R="$PY examples/run_rows.py --dataset acdc --schedule $SCHEDULE --gaze-dir runs/acdc/store"
if [ "$BUDGET" = 10 ]; then
  $R --labeled 7 --rows supervised,mt,bcp,hgdtgl,hgdtgl_no_gazemix,hgdtgl_no_gazeloss,supervised_all --seeds 0 \
    --jobs $JOBS --export "${LR[@]}" "$@"
  $R --labeled 7 --rows supervised,mt,bcp,hgdtgl --seeds 1,2 --jobs $JOBS "${LR[@]}" "$@"
  $R --labeled 7 --rows supervised_matched --seeds 0,1,2 --jobs $JOBS "${LR[@]}" "$@"
else
  $R --labeled 3 --rows supervised,mt,bcp,hgdtgl --seeds 0 --jobs $JOBS "${LR[@]}" "$@"
fi
