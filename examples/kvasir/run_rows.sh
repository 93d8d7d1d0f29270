#!/usr/bin/env bash
# Step 3 of the Kvasir-SEG study: the resumable row runner (rows already in results/kvasir/summary.csv are
# skipped; an interrupted row resumes from its checkpoint). CPU schedule, at most two rows at a time:
#   bash examples/kvasir/run_rows.sh [cpu|gpu] [extra options of examples/run_rows.py]
# Order: the 10 % rows supervised, mt, hgdtgl (seed 0), the ablations, the upper bound, then seeds 1 and 2 of
# supervised, mt, hgdtgl, then the 5 % budget (41 labeled) for supervised, mt, hgdtgl, seeds 0-2.
# Needs the split (make_split.py), the store (make_gaze.sh -> runs/kvasir/store) and the gaze-loss levels
# (choose_gaze_scales.sh -> results/kvasir/gaze_scales.txt).
set -euo pipefail
SCHEDULE=${1:-cpu}
shift || true
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# the gaze-loss levels chosen on validation by choose_gaze_scales.sh (the default 1,2,4,8 when it has not run)
SCALES=$(cat results/kvasir/gaze_scales.txt 2>/dev/null || echo 1,2,4,8)
R="$PY examples/run_rows.py --dataset kvasir --schedule $SCHEDULE --gaze-dir runs/kvasir/store --labeled 81 --gaze-scales $SCALES"
$R --rows supervised,mt,hgdtgl,bcp,hgdtgl_no_gazemix,hgdtgl_no_gazeloss,supervised_all --seeds 0 --jobs 2 "$@"
$R --rows supervised,mt,hgdtgl --seeds 1,2 --jobs 2 "$@"
$R --rows supervised,mt,hgdtgl --seeds 0,1,2 --jobs 2 "$@" --labeled 41
