"""The prepared GPU results script, dry-run on the CPU with tiny sizes (GPU_DEVICE=cpu): it trains the rows it is
given from a packed dataset, evaluates them on the packed validation split, and writes the files it hands back."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import cv2

from tests.hgdtgl_testdata import blob, make_images, make_store

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_results_script_dry_run_on_cpu(tmp_path):
    data = make_images(tmp_path / "data", n=12, size=40)
    maps = {}
    for mask in sorted((data / "masks").iterdir()):
        maps[(mask.stem, None)] = blob(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) > 127)
    store = make_store(tmp_path / "store", maps)
    npz = tmp_path / "small.npz"
    pack = [sys.executable, "-m", "hgdtgl", "pack", str(data), "--gaze-dir", str(store), "--size", "32", "-o", str(npz)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(pack, check=True, capture_output=True, env=env, cwd=ROOT)
    out = tmp_path / "out"
    env.update(
        GPU_DEVICE="cpu",
        ITERS="3",
        LABELED="4",
        ROWS="supervised,hgdtgl",
        TRAIN_S="600",
        OUT=str(out),
        GPU_RUNS=str(tmp_path / "gpu_runs"),
        PYTHON=sys.executable,
    )
    r = subprocess.run(["bash", "examples/gpu_results.sh", str(npz)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    summary = list(csv.DictReader(open(out / "kvasir_gpu_summary.csv")))
    runs = list(csv.DictReader(open(out / "kvasir_gpu_runs.csv")))
    assert sorted(s["row"] for s in summary) == ["hgdtgl", "supervised"]
    assert {s["schedule"] for s in summary} == {"gpu"}  # ran to the end: full rows, not partial ones
    assert all(0.0 <= float(s["dice"]) <= 1.0 for s in summary)
    # hgdtgl: 3 self-training iterations after 1 of pre-training; supervised: 3
    assert {r_["row"]: int(r_["iterations"]) for r_ in runs} == {"supervised": 3, "hgdtgl": 4}
    assert (out / "kvasir_gpu_results.tgz").stat().st_size > 0
