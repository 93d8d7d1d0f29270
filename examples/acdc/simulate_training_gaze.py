"""Simulated gaze for the 70 ACDC training patients (ACDC has no public gaze; every row using it is labelled
"simulated gaze").

1. stack the SSL4MIS training slices ``data/slices/<volume>_slice_K.h5`` of each of the 140 training volumes
   (70 patients x ED/ES) into ``WORK/train_volumes/<volume>.h5`` (``image``/``label`` [D, H, W], slice K at
   index K - 1), so that stimulus ids and slice indices are the ones `hgdtgl train` joins by;
2. ``gazekit simulate WORK/train_volumes/*.h5 -o WORK/session --seed 0`` (default reader statistics fitted to the
   real Kvasir gaze, 300 Hz, 0.5 deg accuracy, 0.03 deg precision);
3. ``gazekit convert WORK/session -o WORK/fixations.parquet``;
4. ``gazekit render-heatmaps WORK/fixations.parquet -o WORK/store --stimuli WORK/train_volumes
   --sigma-frac 0.05 --scales 1,2,4,8,16`` (sigma = 5 % of the image width/height, fixed, not tuned:
   the converted simulated table carries no screen geometry for --sigma-deg).

    python examples/acdc/simulate_training_gaze.py [--acdc ../shared/data/ACDC] [--work runs/acdc] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import h5py
import numpy as np


def training_volumes(acdc: Path) -> dict[str, list[tuple[int, Path]]]:
    """Volume id -> [(0-based slice index, slice file)] from train_slices.list."""
    vols: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for name in (acdc / "train_slices.list").read_text().split():
        m = re.fullmatch(r"(.+)_slice_(\d+)", name.strip())
        if not m:
            raise SystemExit(f"{acdc / 'train_slices.list'}: {name!r} is not <volume>_slice_K")
        vols[m.group(1)].append((int(m.group(2)) - 1, acdc / "data" / "slices" / f"{name}.h5"))
    return vols


def stack_volume(slices: list[tuple[int, Path]], out: Path) -> None:
    """Write the slices (indices 0..D-1, all present) as one ``image``/``label`` [D, H, W] HDF5 volume."""
    slices = sorted(slices)
    if [k for k, _ in slices] != list(range(len(slices))):
        raise SystemExit(f"{out.stem}: slice indices {[k for k, _ in slices]} are not 0..{len(slices) - 1}")
    imgs, labs = [], []
    for _, p in slices:
        with h5py.File(p, "r") as f:
            imgs.append(f["image"][:])
            labs.append(f["label"][:])
    tmp = out.with_suffix(".tmp")
    with h5py.File(tmp, "w") as f:
        f["image"] = np.stack(imgs).astype(np.float32)
        f["label"] = np.stack(labs).astype(np.uint8)
    tmp.rename(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--acdc", default=os.path.join(os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"), "ACDC"))
    ap.add_argument("--work", default="runs/acdc")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    acdc, work = Path(a.acdc), Path(a.work)
    vol_dir = work / "train_volumes"
    vol_dir.mkdir(parents=True, exist_ok=True)
    vols = training_volumes(acdc)
    for vid, slices in vols.items():
        if not (vol_dir / f"{vid}.h5").is_file():
            stack_volume(slices, vol_dir / f"{vid}.h5")
    patients = {v.split("_")[0] for v in vols}
    print(f"{vol_dir}: {len(vols)} training volumes of {len(patients)} patients, {sum(map(len, vols.values()))} slices")
    gk = [sys.executable, "-m", "gazekit"]
    files = [str(vol_dir / f"{v}.h5") for v in sorted(vols)]
    steps = [
        [*gk, "simulate", *files, "-o", str(work / "session"), "--seed", str(a.seed)],
        [*gk, "convert", str(work / "session"), "-o", str(work / "fixations.parquet")],
        [*gk, "render-heatmaps", str(work / "fixations.parquet"), "-o", str(work / "store"), "--stimuli", str(vol_dir)]
        + ["--sigma-frac", "0.05", "--scales", "1,2,4,8,16"],
    ]
    for cmd in steps:
        print("$", " ".join(cmd[2:3]), " ".join(cmd[3:6]), "...", flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
