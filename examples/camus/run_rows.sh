#!/usr/bin/env bash
# Step 3 of the CAMUS study: the resumable row runner (rows already in results/camus/summary.csv are skipped; an
# interrupted row resumes from its checkpoint):
#   bash examples/camus/run_rows.sh [SCHEDULE=cpu] [extra options of examples/run_rows.py]
# SCHEDULE is a schedule of examples/run_rows.py (its options are in ONE place: schedule_args there; `cpu` is the
# schedule the Kvasir CPU rows use; ITERS=N overrides its iterations). SEEDS=0,1,2 for more seeds (default 0).
# Rows: supervised, mt, bcp, hgdtgl at 10 % labels (160 images = the first 40 patients of
# results/camus/splits/train.list, make_split.py), then supervised_all (all 1600 masks, the upper bound).
# Validation: the shipped val.list (200 images, 50 patients), per-class Dice / HD95 / ASD (lv, myo, la).
# The gaze rows use SIMULATED gaze (make_gaze.sh -> runs/camus/store, made here when missing).
set -euo pipefail
DATASET=camus
LABELED=160
SCHEDULE=${1:-cpu}
shift || true
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d "runs/$DATASET/store" ] || bash "examples/$DATASET/make_gaze.sh"
R="$PY examples/run_rows.py --dataset $DATASET --schedule $SCHEDULE --gaze-dir runs/$DATASET/store --labeled $LABELED"
$R --rows supervised,mt,bcp,hgdtgl,supervised_all --seeds "${SEEDS:-0}" --jobs 2 "$@"
# Weights (issue 15 item 4): the best student weights of the hgdtgl and supervised rows, fp16 student only, go to
# results/$DATASET/models/<row>.pt with the `export` command of issue 12 (not here yet), from
# runs/$DATASET/$SCHEDULE/{hgdtgl,supervised}_l${LABELED}_s0/checkpoint_best.pt.
