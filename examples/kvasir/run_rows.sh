#!/usr/bin/env bash
# Step 3 of the Kvasir-SEG study: the resumable row runner (rows already in results/kvasir/summary.csv are
# skipped; an interrupted row resumes from its checkpoint). At most two rows at a time, one thread each:
#   bash examples/kvasir/run_rows.sh [cpu|gpu] [10|5] [extra options of examples/run_rows.py]
# 10 (81 labeled): supervised, mt, bcp, hgdtgl, the two HG-DTGL ablations and the all-mask bound with seed 0 (their
# best students exported to results/kvasir/models/), then seeds 1 and 2 of supervised, mt, bcp, hgdtgl, then
# supervised_matched (supervised with the 4 labeled images per step of the semi-supervised rows) with seeds 0-2.
# 5 (41 labeled): supervised, mt, bcp, hgdtgl with seed 0.
# cpu on Kvasir: 12000 iterations in bf16 (schedule cpu-12000-bf16; 3000 leave the all-mask bound at 52.8 % val
# Dice, 12000 reach 81.0 %); ITERS / AMP override (ITERS=3000 AMP=none: the float32 3000-iteration rows).
# Needs the split (make_split.py), the store (make_gaze.sh -> runs/kvasir/store), the gaze-loss levels
# (choose_gaze_scales.sh -> results/kvasir/gaze_scales.txt) and, for cpu, the learning rate chosen on validation
# (examples/choose_lr.sh -> results/kvasir/cpu_lr.txt).
set -euo pipefail
SCHEDULE=${1:-cpu}
BUDGET=${2:-10}
shift 2 || shift $#
PY=${PYTHON:-python}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
SCALES=$(cat results/kvasir/gaze_scales.txt 2>/dev/null || echo 1,2,4,8)
LR=()
if [ "$SCHEDULE" = cpu ]; then export ITERS=${ITERS:-12000} AMP=${AMP:-auto}; fi
if [ "$SCHEDULE" = cpu ] && [ -f results/kvasir/cpu_lr.txt ]; then LR=(--lr "$(cat results/kvasir/cpu_lr.txt)"); fi
R="$PY examples/run_rows.py --dataset kvasir --schedule $SCHEDULE --gaze-dir runs/kvasir/store --gaze-scales $SCALES"
if [ "$BUDGET" = 10 ]; then
  $R --labeled 81 --rows supervised,mt,bcp,hgdtgl,hgdtgl_no_gazemix,hgdtgl_no_gazeloss,supervised_all --seeds 0 \
    --jobs 2 --export "${LR[@]}" "$@"
  $R --labeled 81 --rows supervised,mt,bcp,hgdtgl --seeds 1,2 --jobs 2 "${LR[@]}" "$@"
  $R --labeled 81 --rows supervised_matched --seeds 0,1,2 --jobs 2 "${LR[@]}" "$@"
else
  $R --labeled 41 --rows supervised,mt,bcp,hgdtgl --seeds 0 --jobs 2 "${LR[@]}" "$@"
fi
