#!/usr/bin/env bash
# Result rows of a 2D dataset with SIMULATED gaze (CAMUS, SCR), resumable (rows already in
# results/DATASET/summary.csv are skipped; an interrupted row resumes from its checkpoint):
#   bash examples/simulated_rows.sh DATASET [SCHEDULE=cpu] [extra options of examples/run_rows.py]
# Rows: supervised, mt, bcp, hgdtgl at 10 % labels (the default --labeled of DATASETS in examples/run_rows.py:
# CAMUS 160 images = the first 40 patients of results/camus/splits/train.list, SCR 16 images), then supervised_all
# (all masks, the upper bound); seed 0, SEEDS=0,1,2 for more. The seed-0 students are exported (fp16) to
# results/DATASET/models/<row>.pt. The schedule's options are in ONE place: schedule_args in examples/run_rows.py.
# Gaze: runs/DATASET/store, made by examples/simulated_gaze.sh when missing.
set -euo pipefail
DATASET=${1:?usage: bash examples/simulated_rows.sh camus|scr [SCHEDULE] [options]}
SCHEDULE=${2:-cpu}
shift 2 || shift $#
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
[ -d "runs/$DATASET/store" ] || bash examples/simulated_gaze.sh "$DATASET"
"$PY" examples/run_rows.py --dataset "$DATASET" --schedule "$SCHEDULE" --gaze-dir "runs/$DATASET/store" \
  --rows supervised,mt,bcp,hgdtgl,supervised_all --seeds "${SEEDS:-0}" --jobs 2 --export "$@"
