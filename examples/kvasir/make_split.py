"""Step 1 of the Kvasir-SEG study: a fixed seeded split of the shared images into list files.

Writes into OUT (default results/kvasir/splits):
  val.list        90 image stems (the only split used for choices)
  train.list      810 stems; its first 81 lines are the 10 % labeled set, its first 41 the 5 % set, so
                  `hgdtgl train --train-list train.list --labeled 81` (or 41) selects them
  labeled_10.list / labeled_5.list   the same labeled sets, for the record

The images stay in the shared folder: `hgdtgl train --data $SHARED/kvasir-seg --train-list OUT/train.list
--val-split OUT/val.list` reads them from there.

    python examples/kvasir/make_split.py [--shared-data DIR] [--seed 0] [-o results/kvasir/splits]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

N_VAL = 90
LABELED = {"10": 81, "5": 41}


def image_stems(images_dir: Path) -> list[str]:
    """Sorted stems of the image files in ``images_dir``."""
    exts = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
    return sorted(p.stem for p in images_dir.iterdir() if p.suffix.lower() in exts)


def make_split(stems: list[str], seed: int, n_val: int = N_VAL) -> tuple[list[str], list[str]]:
    """(train, val): a seeded permutation of ``stems``; the first ``n_val`` are validation, the rest training
    (in permuted order, so a labeled set is a prefix of the training list)."""
    order = np.random.default_rng(seed).permutation(len(stems))
    shuffled = [stems[i] for i in order]
    return shuffled[n_val:], sorted(shuffled[:n_val])


def write_list(path: Path, names: list[str]) -> None:
    path.write_text("".join(f"{n}\n" for n in names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-data", default=os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/kvasir/splits")
    args = ap.parse_args()
    images = Path(args.shared_data) / "kvasir-seg" / "images"
    if not images.is_dir():
        raise SystemExit(f"{images}: not a folder (set --shared-data or GAZEKIT_SHARED_DATA)")
    stems = image_stems(images)
    train, val = make_split(stems, args.seed)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_list(out / "val.list", val)
    write_list(out / "train.list", train)
    for pct, n in LABELED.items():
        write_list(out / f"labeled_{pct}.list", train[:n])
    sizes = f"val {len(val)}, train {len(train)}, labeled 10 % = {LABELED['10']}, 5 % = {LABELED['5']}"
    print(f"{out}: {len(stems)} images -> {sizes} (seed {args.seed})")


if __name__ == "__main__":
    main()
