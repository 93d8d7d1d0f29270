"""Gaze-only reference on the Kvasir-SEG validation split: each validation image's heatmap (min-max normalised,
bilinearly resized to the mask size) thresholded at 0.5 is the prediction; mean per-image Dice and IoU against
the mask (thresholded at 128). Used to choose sigma (on validation only) and as the table's "gaze only" row.

    python examples/kvasir/gaze_only.py --store STORE [--store STORE2 ...] --val-list results/kvasir/splits/val.list
        [--shared-data DIR] [--threshold 0.5[,0.3,...]] -o results/kvasir/gaze_only.csv [--cases CASES.csv]

With several thresholds, one row per store and threshold: how good a pseudo-mask each level of the gaze-supervised
rows (`hgdtgl train --method gazesup`, GazeMedSeg's levels 0.5 and 0.3) is on validation images, before training.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import cv2
import numpy as np

import gazekit
from gazekit.qc import metrics


def gaze_mask(heat: np.ndarray, shape: tuple[int, int], threshold: float) -> np.ndarray:
    """Boolean mask: the heatmap resized to ``shape`` (H, W), then min-max normalised and ``>= threshold``
    (:func:`gazekit.qc.metrics.heatmap_mask`, the rule of every "heatmap Dice at 0.5")."""
    h = cv2.resize(heat.astype(np.float32), (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return metrics.heatmap_mask(h, threshold)


def score_images(store_dir: str, names: list[str], masks_dir: Path, threshold: float) -> list[dict]:
    """Per image of ``names``: case, Dice, IoU and whether it has no gaze (then scored 0)."""
    store = gazekit.open_store(store_dir)
    rows = []
    for name in names:
        gt = cv2.imread(str(masks_dir / f"{name}.jpg"), cv2.IMREAD_GRAYSCALE) >= 128
        heat = store.get(name, None, 1)
        if heat is None:
            rows.append({"case": name, "dice": 0.0, "iou": 0.0, "no_gaze": 1})
            continue
        pred = gaze_mask(heat, gt.shape, threshold)
        rows.append({"case": name, "dice": metrics.dice(pred, gt), "iou": metrics.iou(pred, gt), "no_gaze": 0})
    return rows


def write_csv(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--store", action="append", required=True, help="heatmap store (repeat to compare)")
    ap.add_argument("--val-list", default="results/kvasir/splits/val.list")
    ap.add_argument("--shared-data", default=os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data"))
    ap.add_argument("--threshold", default="0.5", help="heatmap threshold(s), comma-separated, of the max-scaled map")
    ap.add_argument("-o", "--output", required=True)
    ap.add_argument("--cases", help="also write every image's scores (store, threshold, case, dice, iou, no_gaze) here")
    args = ap.parse_args()
    names = [n.strip() for n in Path(args.val_list).read_text().splitlines() if n.strip()]
    masks = Path(args.shared_data) / "kvasir-seg" / "masks"
    rows, cases = [], []
    for s in args.store:
        for t in (float(x) for x in args.threshold.split(",")):
            per_image = score_images(s, names, masks, t)
            cases += [{"store": s, "threshold": t, **r} for r in per_image]
            d = float(np.mean([r["dice"] for r in per_image]))
            j = float(np.mean([r["iou"] for r in per_image]))
            miss = sum(r["no_gaze"] for r in per_image)
            rows.append({"store": s, "n": len(names), "threshold": t, "dice": d, "iou": j, "no_gaze": miss})
            print(f"{s} at {t:g}: val n={len(names)} dice {d:.4f} iou {j:.4f} (no gaze: {miss})")
    write_csv(Path(args.output), rows)
    if args.cases:
        write_csv(Path(args.cases), cases)


if __name__ == "__main__":
    main()
