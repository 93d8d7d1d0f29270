#!/usr/bin/env bash
# Step 2b of the Kvasir-SEG study: which decoder levels enter the gaze loss, chosen on the validation split.
#   bash examples/kvasir/choose_gaze_scales.sh            # candidates SCALES="1 8 1,2,4,8"
# Trains the full HG-DTGL row (CPU schedule, 81 labeled, seed 0) with `--gaze-scales S` for each candidate
# (examples/run_rows.py, resumable; results/kvasir/scale_choice/scales_S/), writes
# results/kvasir/scale_choice.csv and the best to results/kvasir/gaze_scales.txt, which examples/kvasir/run_rows.sh
# passes to the gaze-loss rows.
set -euo pipefail
PY=${PYTHON:-python}
SCALES=${SCALES:-"1 8 1,2,4,8"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for s in $SCALES; do
  tag=scales_${s//,/-}
  "$PY" examples/run_rows.py --dataset kvasir --schedule cpu --gaze-dir runs/kvasir/store --rows hgdtgl \
    --labeled 81 --seeds 0 --gaze-scales "$s" \
    --results "results/kvasir/scale_choice/$tag" --runs "runs/kvasir/scale_choice/$tag"
done
"$PY" - <<'PY'
import csv
from pathlib import Path

rows = []
for p in sorted(Path("results/kvasir/scale_choice").glob("scales_*/summary.csv")):
    for r in csv.DictReader(open(p)):
        rows.append({"gaze_scales": p.parent.name[len("scales_"):].replace("-", ","), "dice": r["dice"], "iou": r["iou"]})
with open("results/kvasir/scale_choice.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["gaze_scales", "dice", "iou"])
    w.writeheader()
    w.writerows(rows)
for r in rows:
    print(f"--gaze-scales {r['gaze_scales']}: val Dice {float(r['dice']) * 100:.2f}")
best = max(rows, key=lambda r: float(r["dice"]))["gaze_scales"]
Path("results/kvasir/gaze_scales.txt").write_text(best + "\n")
print("chosen:", best, "-> results/kvasir/gaze_scales.txt")
PY
