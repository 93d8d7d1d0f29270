"""Step 1 of the SCR (JSRT chest X-ray) study: SCR ships no split, so a seeded split of its 200 images by image.

Writes into OUT (default results/scr/splits):
  val.list        40 image stems (the only split used for choices)
  train.list      160 stems in seeded order; its first 16 lines are the 10 % labeled set, its first 8 the 5 % set,
                  so `hgdtgl train --train-list train.list --labeled 16` (or 8) selects them
  labeled_10.list / labeled_5.list   the same labeled sets, for the record
  classes.json    the class names (0 background, 1 lungs, 2 heart, 3 clavicles), read by `hgdtgl train` from next
                  to the training list

The images stay in the shared folder: `hgdtgl train --data $SHARED/scr --train-list OUT/train.list
--val-split OUT/val.list` reads them from there.

    python examples/scr/make_split.py [--shared-data DIR] [--seed 0] [-o results/scr/splits]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
from pathlib import Path

_spec = importlib.util.spec_from_file_location("kvasir_split", Path(__file__).parents[1] / "kvasir" / "make_split.py")
kvasir_split = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(kvasir_split)  # the Kvasir split rule (seeded permutation by image), reused as it is

N_VAL = 40
LABELED = {"10": 16, "5": 8}
CLASSES = {"background": 0, "lungs": 1, "heart": 2, "clavicles": 3}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-data", default=os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/scr/splits")
    args = ap.parse_args()
    images = Path(args.shared_data) / "scr" / "images"
    if not images.is_dir():
        raise SystemExit(f"{images}: not a folder (set --shared-data or GAZEKIT_SHARED_DATA)")
    stems = kvasir_split.image_stems(images)
    train, val = kvasir_split.make_split(stems, args.seed, N_VAL)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    kvasir_split.write_list(out / "val.list", val)
    kvasir_split.write_list(out / "train.list", train)
    for pct, n in LABELED.items():
        kvasir_split.write_list(out / f"labeled_{pct}.list", train[:n])
    (out / "classes.json").write_text(json.dumps({"labels": CLASSES}, indent=1) + "\n")
    sizes = f"val {len(val)}, train {len(train)}, labeled 10 % = {LABELED['10']}, 5 % = {LABELED['5']}"
    print(f"{out}: {len(stems)} images -> {sizes} (seed {args.seed})")


if __name__ == "__main__":
    main()
