"""Step 1 of the CAMUS study: list files from the shipped CAMUS split, labeled sets chosen BY PATIENT.

Writes into OUT (default results/camus/splits):
  val.list        the shipped val.list (200 images, 50 patients; the only split used for choices)
  train.list      the shipped train.list (1600 images, 400 patients) reordered: the patients in a seeded
                  permutation, each patient's images together in their shipped order, so a labeled set of whole
                  patients is a prefix: `hgdtgl train --train-list train.list --labeled 160` = 40 patients (10 %),
                  `--labeled 80` = 20 patients (5 %)
  labeled_10.list / labeled_5.list   the same labeled sets, for the record
  classes.json    the class names (0 background, 1 lv endocardium, 2 myocardium, 3 left atrium), read by
                  `hgdtgl train` from next to the training list

The images stay in the shared folder: `hgdtgl train --data $SHARED/camus --train-list OUT/train.list
--val-split OUT/val.list` reads them from there.

    python examples/camus/make_split.py [--shared-data DIR] [--seed 0] [-o results/camus/splits]
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path

import numpy as np

LABELED_SHARE = {"10": 0.10, "5": 0.05}
CLASSES = {"background": 0, "lv": 1, "myo": 2, "la": 3}
PATIENT_RE = re.compile(r"^(patient\d+)_")


def patient_of(name: str) -> str:
    """``patient0001`` of ``patient0001_2CH_ED``."""
    m = PATIENT_RE.match(name)
    if not m:
        raise SystemExit(f"{name!r}: not a CAMUS image name patientNNNN_...")
    return m.group(1)


def patient_order(names: list[str], seed: int) -> tuple[list[str], list[str]]:
    """(images, patients): the patients of ``names`` in a seeded permutation (first appearance order permuted)
    and the images regrouped patient by patient, each patient's images in their original order."""
    patients = list(dict.fromkeys(patient_of(n) for n in names))
    perm = [patients[i] for i in np.random.default_rng(seed).permutation(len(patients))]
    by = {p: [n for n in names if patient_of(n) == p] for p in patients}
    return [n for p in perm for n in by[p]], perm


def read_names(path: Path) -> list[str]:
    if not path.is_file():
        raise SystemExit(f"{path}: not a file (set --shared-data or GAZEKIT_SHARED_DATA)")
    return [re.sub(r"\.png$", "", s) for s in path.read_text().split() if s]


def write_list(path: Path, names: list[str]) -> None:
    path.write_text("".join(f"{n}\n" for n in names))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shared-data", default=os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", default="results/camus/splits")
    args = ap.parse_args()
    root = Path(args.shared_data) / "camus"
    train, patients = patient_order(read_names(root / "train.list"), args.seed)
    val = read_names(root / "val.list")
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    write_list(out / "val.list", val)
    write_list(out / "train.list", train)
    sizes = []
    for pct, share in LABELED_SHARE.items():
        chosen = set(patients[: round(share * len(patients))])
        labeled = [n for n in train if patient_of(n) in chosen]
        assert labeled == train[: len(labeled)]
        write_list(out / f"labeled_{pct}.list", labeled)
        sizes.append(f"labeled {pct} % = {len(chosen)} patients / {len(labeled)} images")
    (out / "classes.json").write_text(json.dumps({"labels": CLASSES}, indent=1) + "\n")
    print(
        f"{out}: val {len(val)}, train {len(train)} ({len(patients)} patients), {', '.join(sizes)} (seed {args.seed})"
    )


if __name__ == "__main__":
    main()
