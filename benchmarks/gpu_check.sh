#!/usr/bin/env bash
# GPU readiness check of hgdtgl, one command, under 8 minutes on one H100:
#   1. the CUDA tests (AMP bf16/fp16, channels-last, torch.compile, GPU vs CPU) on synthetic data;
#   2. a timed ACDC hgdtgl run (AMP bf16, 256x256, batch 24 = 12 labeled + 12 unlabeled, 7 labeled patients)
#      from a packed dataset, then prints iterations/s, data-wait share and peak GPU memory.
# Usage, from the repository root on the GPU machine (installs nothing):
#   bash benchmarks/gpu_check.sh DATA.npz [ITERATIONS=3000]
# where DATA.npz = `hgdtgl pack ../shared/data/ACDC --gaze-dir STORE --size 256 -o DATA.npz` (made on the CPU
# machine and carried over). Outputs go to $GPU_CHECK_OUT (default: $OUT/hgdtgl_gpu_check or /tmp/...);
# $GPU_CHECK_ARGS is appended to the train command (later options win, e.g. "--device cpu" for a dry run).
set -uo pipefail
DATA=${1:?usage: bash benchmarks/gpu_check.sh DATA.npz [ITERATIONS]}
ITERS=${2:-3000}
PY=${PYTHON:-python}
DEST=${GPU_CHECK_OUT:-${OUT:-/tmp}/hgdtgl_gpu_check}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export MPLCONFIGDIR=${MPLCONFIGDIR:-/tmp/mpl}
rm -rf "$DEST/run" && mkdir -p "$DEST"
T0=$(date +%s)

echo "== environment"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null
"$PY" - <<'PYEOF'
import importlib.util
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
      "bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
need = ["numpy", "scipy", "cv2", "h5py", "pandas", "click", "tqdm", "yaml", "pytest", "hypothesis", "pyarrow", "matplotlib",
        "tensorboard", "nibabel"]
missing = [m for m in need if importlib.util.find_spec(m) is None]
print("missing python modules:", ", ".join(missing) if missing else "none")
PYEOF

echo "== CUDA tests"
timeout 180 "$PY" -m pytest -q -p no:cacheprovider tests/test_hgdtgl_cuda.py 2>&1 | tail -15
echo "(tests took $(( $(date +%s) - T0 )) s)"

echo "== timed ACDC hgdtgl run: $ITERS iterations from $DATA"
T1=$(date +%s)
timeout 270 "$PY" -m hgdtgl train --data "$DATA" --method hgdtgl --labeled 7 --iterations "$ITERS" \
  --pretrain-iterations $((ITERS / 4)) --rampup-iterations "$ITERS" --val-every 500 --device cuda --amp bf16 \
  --out "$DEST/run" ${GPU_CHECK_ARGS:-} 2> "$DEST/train.log"
RC=$?
grep -v "it/s\]\|s/it\]" "$DEST/train.log" | tail -12
echo "(train exit $RC, wall $(( $(date +%s) - T1 )) s)"

"$PY" - "$DEST/run/metrics.csv" <<'PYEOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
if not rows:
    sys.exit("no metrics.csv rows")
f = lambda k: [float(r[k]) for r in rows if r.get(k) not in (None, "")]
its, wait, mem = f("it_per_s"), f("data_wait_share"), f("gpu_mem_max_mib")
print(f"iterations done: {rows[-1]['iteration']}")
print(f"iterations/s per window: {', '.join(f'{v:.1f}' for v in its)} (median {statistics.median(its):.1f})")
if wait:
    print(f"data-wait share (gather + augment on GPU, sampled every 10th step): median {statistics.median(wait):.1%}")
if mem:
    print(f"peak GPU memory: {max(mem):.0f} MiB")
print(f"val Dice (mean of RV/Myo/LV): {', '.join(f'{v:.4f}' for v in f('val_dice_mean'))}")
PYEOF
echo "== total $(( $(date +%s) - T0 )) s; run directory $DEST/run"
