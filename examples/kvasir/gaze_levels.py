"""Which gaze density should the gaze loss see at each decoder level: the store's own scale at that level's grid,
or the training-size map sum-pooled after augmentation? Measured on the real Kvasir gaze; it fixed the trainer's
choice (``hgdtgl.data.gaze.store_scale_at`` + ``hgdtgl.losses.gaze_pyramid``).

    python examples/kvasir/gaze_levels.py --fixations runs/kvasir/fixations.parquet --store runs/kvasir/store \
        [--size 128] [--levels 1,2,4,8] [--images 200] [--seed 0] [-o results/kvasir/gaze_levels.csv]

Reference ("what a perfect pipeline gives"): the same Gaussians rendered on a grid 4x finer than the store's
(min-max normalised like the store), warped there by the trainer's augmentation affine and block-summed to
each level. Candidates, each warped by the same affine (``hgdtgl.data.augment.apply_affines``):
``resized``  the store's scale-1 map resized to the training size (``hgdtgl.data.gaze.heatmap_at``), warped,
             then sum-pooled to the level (``hgdtgl.losses.gaze_pyramid``);
``trainer``  the same from the store's scale on the training grid (``store_scale_at``): what the trainer does;
``store``    the store's scale whose grid equals the level's grid, normalised to sum 1, warped at that grid.
Printed and written: mean KL(reference || candidate) (the gaze loss's divergence, nats) and mean total
variation (half the L1 distance, 0..1) per level, over images with gaze.
"""

from __future__ import annotations

import argparse
import csv

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

import gazekit
from gazekit.heatmaps.render import normalise, render
from hgdtgl.data.augment import apply_affines, random_affines
from hgdtgl.data.gaze import heatmap_at, store_scale_at
from hgdtgl.losses import gaze_pyramid

FINE = 4  # reference grid = FINE x the store's scale-1 grid


def as_density(m: torch.Tensor) -> torch.Tensor:
    """[B,H,W] clipped at 0 and normalised to sum 1 per map."""
    m = m.clamp_min(0)
    return m / m.flatten(1).sum(1).clamp_min(1e-12)[:, None, None]


def warp(theta: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """The trainer's warp of a density [B,H,W] (bilinear, renormalised)."""
    img = torch.zeros(heat.shape[0], 1, *heat.shape[1:])
    return apply_affines(theta, img, heat=heat)[2]


def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """KL(p || q) per map [B] (nats); q floored at 1e-12 like a softmax never reaches 0."""
    p, q = p.flatten(1), q.flatten(1).clamp_min(1e-12)
    return (torch.xlogy(p, p) - p * q.log()).sum(1)


def reference_map(fix: pd.DataFrame, grid: int, sigma_frac: float) -> np.ndarray:
    """The store's min-max map of one image rendered on a grid x grid canvas (image resized to a square)."""
    w, h = float(fix.image_width_px.iloc[0]), float(fix.image_height_px.iloc[0])
    x = fix.x_px.to_numpy() * grid / w
    y = fix.y_px.to_numpy() * grid / h
    sigma = np.full(len(fix), sigma_frac * grid)
    m = render(x, y, fix.duration_ms.to_numpy(np.float64), sigma, sigma, grid, grid)
    return normalise(m, "minmax")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixations", required=True)
    ap.add_argument("--store", required=True)
    ap.add_argument("--size", type=int, default=128, help="training size (px)")
    ap.add_argument("--levels", default="1,2,4,8", help="decoder levels (down-sampling factors of the size)")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rot-deg", type=float, default=20.0)
    ap.add_argument("-o", "--out", default=None)
    args = ap.parse_args()

    store = gazekit.open_store(args.store)
    params = store.params
    grid = int(params["size"][0])
    levels = [int(s) for s in args.levels.split(",")]
    store_scale = {s: store_scale_at(params, store.scales, args.size // s) for s in levels}  # the trainer's rule
    missing = [s for s, k in store_scale.items() if args.size % s or grid != k * (args.size // s)]
    if missing:
        raise SystemExit(f"{args.store}: no store scale matches level(s) {missing} at size {args.size}")
    fixations = pd.read_parquet(args.fixations)
    fixations = fixations[fixations.on_image]
    ids = sorted(fixations.stimulus_id.unique())
    rng = np.random.default_rng(args.seed)
    ids = [ids[i] for i in sorted(rng.choice(len(ids), size=min(args.images, len(ids)), replace=False))]
    theta = random_affines(len(ids), torch.Generator().manual_seed(args.seed), args.rot_deg, (0.9, 1.1))
    by_id = dict(list(fixations.groupby("stimulus_id")))

    fine = grid * FINE
    ref_fine = torch.from_numpy(np.stack([reference_map(by_id[i], fine, float(params["sigma_frac"])) for i in ids]))
    ref_warped = warp(theta, as_density(ref_fine))
    pooled = {}
    for name, k in (("resized", 1), ("trainer", store_scale_at(params, store.scales, args.size))):
        fine_in = torch.from_numpy(np.stack([heatmap_at(store.get(i, None, k), args.size) for i in ids]))
        pooled[name] = gaze_pyramid(warp(theta, fine_in), levels)
    rows = []
    for s in levels:
        factor = fine // (args.size // s)
        reference = F.avg_pool2d(ref_warped[:, None], factor)[:, 0] * factor * factor
        coarse = np.stack([store.get(i, None, store_scale[s]) for i in ids])
        from_store = warp(theta, as_density(torch.from_numpy(coarse)))
        candidates = {name: as_density(p[s]) for name, p in pooled.items()} | {"store": from_store}
        for name, cand in candidates.items():
            rows.append(
                {
                    "level": s,
                    "grid_px": args.size // s,
                    "candidate": name,
                    "images": len(ids),
                    "kl_mean": float(kl(reference, cand).mean()),
                    "tv_mean": float(0.5 * (reference - cand).abs().flatten(1).sum(1).mean()),
                }
            )
    for r in rows:
        print(
            f"level {r['level']} ({r['grid_px']} px) {r['candidate']:7s}: KL {r['kl_mean']:.2e} nats, "
            f"TV {r['tv_mean']:.2e}"
        )
    if args.out:
        with open(args.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)


if __name__ == "__main__":
    main()
