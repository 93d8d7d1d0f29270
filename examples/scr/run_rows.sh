#!/usr/bin/env bash
# Step 3 of the SCR (JSRT chest X-ray) study: the resumable row runner (rows already in results/scr/summary.csv
# are skipped; an interrupted row resumes from its checkpoint):
#   bash examples/scr/run_rows.sh [SCHEDULE=cpu] [extra options of examples/run_rows.py]
# SCHEDULE is a schedule of examples/run_rows.py (its options are in ONE place: schedule_args there; `cpu` is the
# schedule the Kvasir CPU rows use; ITERS=N overrides its iterations). SEEDS=0,1,2 for more seeds (default 0).
# Rows: supervised, mt, bcp, hgdtgl at 10 % labels (16 images = the first 16 lines of
# results/scr/splits/train.list, make_split.py), then supervised_all (all 160 masks, the upper bound).
# Validation: val.list (40 images, seeded, make_split.py), per-class Dice / HD95 / ASD (lungs, heart, clavicles).
# The gaze rows use SIMULATED gaze (make_gaze.sh -> runs/scr/store, made here when missing).
set -euo pipefail
DATASET=scr
LABELED=16
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
