#!/usr/bin/env bash
# The learning rate of the cpu protocol, chosen on the validation split (never on a test set):
#   bash examples/choose_lr.sh [DATASETS="kvasir acdc"]     # candidates LRS="0.001 0.003 0.01", SWEEP_ITERS=1000
# Trains the supervised row (10 % labels, seed 0) of each dataset with AdamW at each candidate learning rate on the
# cpu protocol shortened to SWEEP_ITERS iterations (examples/run_rows.py, resumable;
# results/<dataset>/lr_sweep/lr_<LR>/), writes results/lr_sweep.csv (dataset, lr, validation Dice) and the best
# rate per dataset to results/<dataset>/cpu_lr.txt, which the row scripts pass to every row of that dataset.
# Needs the Kvasir split (examples/kvasir/make_split.py).
set -euo pipefail
PY=${PYTHON:-python}
DATASETS=${1:-"kvasir acdc"}
LRS=${LRS:-"0.001 0.003 0.01"}
SWEEP_ITERS=${SWEEP_ITERS:-1000}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
pids=()
for ds in $DATASETS; do
  for lr in $LRS; do
    "$PY" examples/run_rows.py --dataset "$ds" --schedule cpu --rows supervised --seeds 0 --iters "$SWEEP_ITERS" \
      --lr "$lr" --results "results/$ds/lr_sweep/lr_$lr" --runs "runs/$ds/lr_sweep/lr_$lr" &
    pids+=($!)
    if [ ${#pids[@]} -ge "${JOBS:-2}" ]; then wait "${pids[0]}"; pids=("${pids[@]:1}"); fi
  done
done
wait
"$PY" - "$DATASETS" <<'PY'
import csv
import sys
from pathlib import Path

rows = []
for ds in sys.argv[1].split():
    for p in sorted(Path(f"results/{ds}/lr_sweep").glob("lr_*/summary.csv")):
        for r in csv.DictReader(open(p)):
            dice = float(r["dice"] if "dice" in r else r["dice_mean"])
            rows.append({"dataset": ds, "row": r["row"], "labeled": r["labeled"], "lr": p.parent.name[3:], "dice": dice})
with open("results/lr_sweep.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["dataset", "row", "labeled", "lr", "dice"])
    w.writeheader()
    w.writerows(rows)
for ds in sys.argv[1].split():
    mine = [r for r in rows if r["dataset"] == ds]
    for r in mine:
        print(f"{ds} supervised, AdamW lr {r['lr']}: val Dice {r['dice'] * 100:.2f}")
    if mine:
        best = max(mine, key=lambda r: r["dice"])["lr"]
        Path(f"results/{ds}/cpu_lr.txt").write_text(best + "\n")
        print(f"{ds}: chosen lr {best} -> results/{ds}/cpu_lr.txt")
PY
