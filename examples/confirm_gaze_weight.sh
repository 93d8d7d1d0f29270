#!/usr/bin/env bash
# After examples/choose_gaze_weight.sh: HG-DTGL at the chosen gaze-loss weight on seeds 1 and 2, and the row without
# the gaze loss on the same seeds, so that the weight's effect is paired over three seeds (seed 0 of both exists):
#   bash examples/confirm_gaze_weight.sh DATASET [SCHEDULE=cpu]     # DATASET = kvasir | acdc | camus | scr
# The weight is the best of results/DATASET/gaze_weight.csv (env WEIGHT overrides). HG-DTGL rows go to
# results/DATASET/chosen_gaze_weight/w_W/ (runs/DATASET/chosen_gaze_weight/w_W/), the rows without the gaze loss to
# the dataset's table (results/DATASET/summary.csv). Resumable; two runs at a time, one thread each. Kvasir's rows
# ran with ITERS=12000 AMP=bf16, the schedule of its table.
set -euo pipefail
DATASET=${1:?usage: bash examples/confirm_gaze_weight.sh kvasir|acdc|camus|scr [SCHEDULE]}
SCHEDULE=${2:-cpu}
PY=${PYTHON:-python}
SEEDS=${SEEDS:-1,2}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
W=${WEIGHT:-$("$PY" -c "import csv,sys; print(max(csv.DictReader(open(sys.argv[1])), key=lambda r: float(r['dice']))['gaze_loss_weight'])" "results/$DATASET/gaze_weight.csv")}
EXTRA=()
if [ "$SCHEDULE" = cpu ] && [ -f "results/$DATASET/cpu_lr.txt" ]; then EXTRA+=(--lr "$(cat "results/$DATASET/cpu_lr.txt")"); fi
if [ -f "results/$DATASET/gaze_scales.txt" ]; then EXTRA+=(--gaze-scales "$(cat "results/$DATASET/gaze_scales.txt")"); fi
R=("$PY" examples/run_rows.py --dataset "$DATASET" --schedule "$SCHEDULE" --gaze-dir "runs/$DATASET/store" --seeds "$SEEDS"
   --jobs 2 "${EXTRA[@]}")
echo "gaze-loss weight $W: HG-DTGL and HG-DTGL without the gaze loss, seeds $SEEDS"
"${R[@]}" --rows hgdtgl --gaze-loss-weight "$W" --results "results/$DATASET/chosen_gaze_weight/w_$W" \
  --runs "runs/$DATASET/chosen_gaze_weight/w_$W"
"${R[@]}" --rows hgdtgl_no_gazeloss
