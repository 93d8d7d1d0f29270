"""Evaluation protocol and metrics (DESIGN.md section 5).

Per-case inference is slice-wise at the training size: each slice is resized (bilinear) to size x size,
segmented, and the logits resized back to the case size (bilinear) before the argmax (BCP / nnU-Net style; the
older argmax-then-nearest-neighbour loses ~0.7 Dice on an ideal 256 px map). Per case and foreground class:
Dice, Jaccard, HD95 and ASD with medpy semantics -- surfaces are the mask minus its erosion (face
connectivity, the array border counts as outside); HD95 is the 95th percentile of the pooled surface
distances of both directions, ASD the mean distance from the prediction's surface to the ground truth's.
An empty prediction (ground truth not empty) scores 0 on every metric and is counted in ``empty_pred``.
Both empty: Dice = Jaccard = 1, HD95 = ASD = 0. Empty ground truth with a prediction: Dice = Jaccard = 0,
HD95 = ASD = NaN (undefined; left out of the means).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext

import cv2
import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from scipy import ndimage
from scipy.spatial import cKDTree

from hgdtgl.data.formats.base import Case

COLUMNS = ["case", "class", "dice", "jaccard", "hd95", "asd", "empty_pred"]


def _surface_points(mask: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    structure = ndimage.generate_binary_structure(mask.ndim, 1)
    border = mask & ~ndimage.binary_erosion(mask, structure=structure, iterations=1, border_value=0)
    return np.argwhere(border) * spacing


def surface_distances(a: np.ndarray, b: np.ndarray, spacing: Sequence[float] | None = None) -> np.ndarray:
    """Distance from every surface voxel of mask ``a`` to the nearest surface voxel of mask ``b`` (units of
    ``spacing``, default pixels); both masks must be non-empty."""
    sp = np.ones(a.ndim) if spacing is None else np.asarray(spacing, dtype=np.float64)
    pa, pb = _surface_points(a.astype(bool), sp), _surface_points(b.astype(bool), sp)
    return cKDTree(pb).query(pa, k=1)[0]


def binary_metrics(pred: np.ndarray, gt: np.ndarray, spacing: Sequence[float] | None = None) -> dict[str, float]:
    """Dice, Jaccard, HD95, ASD and empty_pred (0/1) of two binary masks of the same shape."""
    pred, gt = pred.astype(bool), gt.astype(bool)
    p, g = int(pred.sum()), int(gt.sum())
    if p == 0:
        both = g == 0
        v = 1.0 if both else 0.0
        return {"dice": v, "jaccard": v, "hd95": 0.0, "asd": 0.0, "empty_pred": 1}
    if g == 0:
        return {"dice": 0.0, "jaccard": 0.0, "hd95": float("nan"), "asd": float("nan"), "empty_pred": 0}
    inter = int((pred & gt).sum())
    d_pg, d_gp = surface_distances(pred, gt, spacing), surface_distances(gt, pred, spacing)
    return {
        "dice": 2.0 * inter / (p + g),
        "jaccard": inter / (p + g - inter),
        "hd95": float(np.percentile(np.hstack([d_pg, d_gp]), 95)),
        "asd": float(d_pg.mean()),
        "empty_pred": 0,
    }


def case_metrics(
    name: str, pred: np.ndarray, gt: np.ndarray, class_names: Sequence[str], spacing: Sequence[float] | None = None
) -> list[dict]:
    """One row per foreground class k = 1..K-1 (``class_names[k-1]``); a 2D case is [1,H,W] -> 2D metrics."""
    if pred.shape[0] == 1:
        pred, gt = pred[0], gt[0]
        spacing = None if spacing is None else list(spacing)[-2:]
    return [
        {"case": name, "class": cname, **binary_metrics(pred == k, gt == k, spacing)}
        for k, cname in enumerate(class_names, 1)
    ]


def summarise(rows: list[dict]) -> pd.DataFrame:
    """Per-case rows + a ``mean`` row and a ``std`` row per class (empty_pred of the mean row = count)."""
    df = pd.DataFrame(rows, columns=COLUMNS)
    extra = []
    for cname, grp in df.groupby("class", sort=False):
        for stat in ("mean", "std"):
            row = {"case": stat, "class": cname}
            for col in ("dice", "jaccard", "hd95", "asd"):
                vals = grp[col].to_numpy(dtype=float)
                row[col] = float(np.nanmean(vals)) if stat == "mean" else float(np.nanstd(vals))
            row["empty_pred"] = int(grp["empty_pred"].sum()) if stat == "mean" else 0
            extra.append(row)
    return pd.concat([df, pd.DataFrame(extra, columns=COLUMNS)], ignore_index=True)


@torch.no_grad()
def predict_case(
    model: torch.nn.Module,
    image: np.ndarray,
    size: int,
    device: torch.device,
    batch_size: int = 16,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> np.ndarray:
    """Label map [D,H,W] uint8 of a case image [D,C,H,W] in [0,1]: slice-wise at size x size, the logits
    up-sampled (bilinear) to the case size, then the argmax (DESIGN.md section 4)."""
    d, c, h, w = image.shape
    slices = np.stack(
        [
            np.stack([cv2.resize(ch.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for ch in s])
            for s in image
        ]
    )
    out = np.zeros((d, h, w), dtype=np.uint8)
    was_training = model.training
    model.eval()
    autocast = torch.autocast(device.type, dtype=amp_dtype) if amp_dtype is not None else nullcontext()
    for i in range(0, d, batch_size):
        x = torch.from_numpy(slices[i : i + batch_size]).to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = model(x)[0]
        logits = logits.float()
        if (h, w) != (size, size):
            logits = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
        out[i : i + len(x)] = logits.argmax(dim=1).to(torch.uint8).cpu().numpy()
    model.train(was_training)
    return out


@torch.no_grad()
def perception_case(model: torch.nn.Module, image: np.ndarray, size: int, device: torch.device) -> np.ndarray:
    """Fused MGP perception map [D,H,W] float32 of a case (each slice a density over the training-size grid,
    resized back bilinearly): where the model expects a reader to look. Needs a model with MGP heads."""
    from hgdtgl.losses import fused_perception

    d, _, h, w = image.shape
    was_training = model.training
    model.eval()
    out = np.zeros((d, h, w), dtype=np.float32)
    for i in range(d):
        x = np.stack(
            [cv2.resize(ch.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for ch in image[i]]
        )
        perception = model(torch.from_numpy(x)[None].to(device))[1]
        fused = fused_perception(perception, size)[0].float().cpu().numpy()
        out[i] = cv2.resize(fused, (w, h), interpolation=cv2.INTER_LINEAR)
    model.train(was_training)
    return out


def evaluate_cases(
    model: torch.nn.Module,
    cases: Sequence[Case],
    class_names: Sequence[str],
    size: int,
    device: torch.device,
    spacing: Sequence[float] | None = None,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
) -> pd.DataFrame:
    """metrics table (COLUMNS) of a model on labelled cases, with mean/std rows per class."""
    from tqdm import tqdm

    rows: list[dict] = []
    for case in tqdm(cases, desc="evaluate", leave=False, disable=not progress):
        pred = predict_case(model, case.image, size, device, amp_dtype=amp_dtype, channels_last=channels_last)
        rows += case_metrics(case.name, pred, case.label, class_names, spacing)
    return summarise(rows)


def mean_dice(table: pd.DataFrame) -> float:
    """Mean over classes of the per-class mean Dice."""
    return float(table.loc[table["case"] == "mean", "dice"].mean())
