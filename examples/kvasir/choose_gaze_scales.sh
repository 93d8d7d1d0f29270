#!/usr/bin/env bash
# Which decoder levels enter the gaze loss, chosen on the validation split (CPU schedule, seed 0):
#   bash examples/kvasir/choose_gaze_scales.sh            # SCALES="1 8" by default
# Trains the full HG-DTGL row with `--gaze-scales S` for each candidate S (examples/run_rows.py, resumable,
# results under results/kvasir/scale_choice/scales_S/) and writes results/kvasir/scale_choice.csv, with the
# default 1,2,4,8 taken from the hgdtgl row of results/kvasir/summary.csv (the same command).
set -euo pipefail
PY=${PYTHON:-python}
SCALES=${SCALES:-"1 8"}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for s in $SCALES; do
  tag=scales_${s//,/-}
  "$PY" examples/run_rows.py --dataset kvasir --schedule cpu --gaze-dir runs/kvasir/store --rows hgdtgl \
    --labeled 81 --seeds 0 --train-args "--gaze-scales $s" \
    --results "results/kvasir/scale_choice/$tag" --runs "runs/kvasir/scale_choice/$tag"
done
"$PY" - <<'PY'
import csv
from pathlib import Path

out = [("1,2,4,8", Path("results/kvasir/summary.csv"))]
out += [(p.name[len("scales_"):].replace("-", ","), p / "summary.csv")
        for p in sorted(Path("results/kvasir/scale_choice").glob("scales_*"))]
rows = []
for scales, summary in out:
    for r in csv.DictReader(open(summary)) if summary.is_file() else []:
        if (r["row"], r["labeled"], r["seed"], r["schedule"]) == ("hgdtgl", "81", "0", "cpu"):
            rows.append({"gaze_scales": scales, "dice": r["dice"], "iou": r["iou"]})
with open("results/kvasir/scale_choice.csv", "w", newline="") as f:
    w = csv.DictWriter(f, fieldnames=["gaze_scales", "dice", "iou"])
    w.writeheader()
    w.writerows(rows)
for r in rows:
    print(f"--gaze-scales {r['gaze_scales']}: val Dice {float(r['dice']) * 100:.2f}")
PY
