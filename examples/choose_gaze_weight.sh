#!/usr/bin/env bash
# The weight of the gaze loss, chosen on the validation split (when the gaze loss hurts at the default 0.1):
#   bash examples/choose_gaze_weight.sh DATASET [SCHEDULE=cpu]     # DATASET = kvasir | acdc | camus | scr
# Trains the full HG-DTGL row (10 % labels, seed 0) with --gaze-loss-weight W for W in WEIGHTS (default
# "0.01 0.03 0.1 0.3"; examples/run_rows.py, resumable; results/DATASET/gaze_weight/w_W/), writes
# results/DATASET/gaze_weight.csv and prints the best weight. Two runs at a time, one thread each.
set -euo pipefail
DATASET=${1:?usage: bash examples/choose_gaze_weight.sh kvasir|acdc|camus|scr [SCHEDULE]}
SCHEDULE=${2:-cpu}
PY=${PYTHON:-python}
WEIGHTS=${WEIGHTS:-"0.01 0.03 0.1 0.3"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
EXTRA=()
if [ "$SCHEDULE" = cpu ] && [ -f "results/$DATASET/cpu_lr.txt" ]; then EXTRA+=(--lr "$(cat "results/$DATASET/cpu_lr.txt")"); fi
if [ -f "results/$DATASET/gaze_scales.txt" ]; then EXTRA+=(--gaze-scales "$(cat "results/$DATASET/gaze_scales.txt")"); fi
pids=()
for w in $WEIGHTS; do
  "$PY" examples/run_rows.py --dataset "$DATASET" --schedule "$SCHEDULE" --gaze-dir "runs/$DATASET/store" --rows hgdtgl \
    --seeds 0 --gaze-loss-weight "$w" --results "results/$DATASET/gaze_weight/w_$w" \
    --runs "runs/$DATASET/gaze_weight/w_$w" "${EXTRA[@]}" &
  pids+=($!)
  if [ ${#pids[@]} -ge "${JOBS:-2}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
done
wait
"$PY" - "$DATASET" <<'PY'
import csv
import sys
from pathlib import Path

ds = sys.argv[1]
rows = []
for p in sorted(Path(f"results/{ds}/gaze_weight").glob("w_*/summary.csv")):
    for r in csv.DictReader(open(p)):
        rows.append({"gaze_loss_weight": p.parent.name[2:], "dice": float(r.get("dice") or r["dice_mean"])})
with open(f"results/{ds}/gaze_weight.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["gaze_loss_weight", "dice"])
    w.writeheader()
    w.writerows(rows)
for r in rows:
    print(f"{ds} hgdtgl --gaze-loss-weight {r['gaze_loss_weight']}: val Dice {r['dice'] * 100:.2f}")
if rows:
    print("best:", max(rows, key=lambda r: r["dice"])["gaze_loss_weight"])
PY
