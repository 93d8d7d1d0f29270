#!/usr/bin/env bash
# GPU schedule of the Kvasir-SEG results table, one prepared command for one H100 (about 6 minutes of wall time):
# the seven rows (supervised, mt, bcp, hgdtgl_no_gazemix, hgdtgl_no_gazeloss, hgdtgl, supervised_all; 10 %
# labels = 81 images, seed 0; `python -m experiments campaign kvasir --schedule gpu`) train AT THE SAME TIME as
# seven processes on the one GPU (the U-Net is small, so
# one process leaves most of the GPU idle), each stopped at TRAIN_S seconds at the latest (then its best
# checkpoint so far is used), evaluated on the 90 validation images, and written as schedule-`gpu` rows.
#
# Usage, from the repository root on the GPU machine (installs nothing, needs no network):
#   bash examples/gpu_results.sh [KVASIR.npz=.carry/kvasir.npz]
# where KVASIR.npz was made on the CPU machine (examples/kvasir/pack.sh) and carried over (carry: .carry).
# Outputs (three files, as the device tool returns at most 8 files, 2 folders deep): $OUT/kvasir_gpu_summary.csv,
# $OUT/kvasir_gpu_runs.csv and $OUT/kvasir_gpu_results.tgz (results/kvasir/{summary.csv,runs.csv,gpu/<row>/*,logs/});
# merge with `tar xzf kvasir_gpu_results.tgz` + appending the csv rows to results/kvasir/. Checkpoints stay
# under $GPU_RUNS (default /tmp/gpu_runs).
# Variables: ITERS (default 5000: ~25 it/s per process assumed with seven sharing an H100, batch 24, plus five
# validations), TRAIN_S (default 270), ROWS, SEEDS (default 0), LABELED (default 81), SIZE (read from the .npz),
# GPU_DEVICE=cpu for a dry run (`GPU_DEVICE=cpu ITERS=4 LABELED=4 OUT=/tmp/o bash examples/gpu_results.sh s.npz`).
set -uo pipefail
NPZ=${1:-.carry/kvasir.npz}
PY=${PYTHON:-python}
OUT=${OUT:-/tmp/gpu_out}
ITERS=${ITERS:-5000}
TRAIN_S=${TRAIN_S:-270}
SEEDS=${SEEDS:-0}
LABELED=${LABELED:-81}
ROWS=${ROWS:-supervised,mt,bcp,hgdtgl_no_gazemix,hgdtgl_no_gazeloss,hgdtgl,supervised_all}
GPU_RUNS=${GPU_RUNS:-/tmp/gpu_runs}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLCONFIGDIR=${MPLCONFIGDIR:-/tmp/mpl}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
T0=$(date +%s)
[ -f "$NPZ" ] || { echo "$NPZ: no such file (pack it with examples/kvasir/pack.sh and carry it)"; exit 2; }
SIZE=$("$PY" -c "import json, sys, numpy as np; print(json.loads(str(np.load(sys.argv[1])['meta']))['size'])" "$NPZ")
N_ROWS=$(echo "$ROWS" | tr ',' '\n' | wc -l)
N_SEEDS=$(echo "$SEEDS" | tr ',' '\n' | wc -l)
JOBS=$((N_ROWS * N_SEEDS))
echo "== $(nvidia-smi --query-gpu=name,memory.total --format=csv,noheader 2>/dev/null || echo no nvidia-smi)"
echo "== $NPZ ($(du -h "$NPZ" | cut -f1)), size $SIZE px, $JOBS processes, $ITERS iterations, stop at ${TRAIN_S} s"
RES="$GPU_RUNS/results/kvasir"
mkdir -p "$RES" "$OUT"
"$PY" -m experiments campaign kvasir --schedule gpu --data "$NPZ" --rows "$ROWS" --seeds "$SEEDS" \
  --labeled "$LABELED" --iters "$ITERS" --jobs "$JOBS" --train-timeout "$TRAIN_S" \
  --results "$RES" --runs "$GPU_RUNS" --size "$SIZE" --device "${GPU_DEVICE:-cuda}"
RC=$?
for d in "$GPU_RUNS"/gpu/*/; do
  [ -f "$d/log.txt" ] && { echo "-- $(basename "$d")"; grep -v "it/s\]\|s/it\]" "$d/log.txt" | tail -3; }
done
mkdir -p "$RES/logs"
for d in "$GPU_RUNS"/gpu/*/; do
  [ -f "$d/log.txt" ] && grep -v "it/s\]\|s/it\]" "$d/log.txt" | tail -40 > "$RES/logs/$(basename "$d").txt"
done
cp "$RES/summary.csv" "$OUT/kvasir_gpu_summary.csv" 2>/dev/null
cp "$RES/runs.csv" "$OUT/kvasir_gpu_runs.csv" 2>/dev/null
tar czf "$OUT/kvasir_gpu_results.tgz" -C "$GPU_RUNS" results
echo "== summary"; cat "$RES/summary.csv" 2>/dev/null
echo "== runs"; cut -d, -f1-7 "$RES/runs.csv" 2>/dev/null
echo "== exit $RC, total $(( $(date +%s) - T0 )) s; outputs: $(ls "$OUT" | tr '\n' ' ')"
exit $RC
