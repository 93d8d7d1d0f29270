"""Write a small synthetic segmentation dataset (images/ + masks/ + train/val lists) for the demo.

Each grey image shows a textured background with one bright "organ" (class 1) and, in most images, a
darker "lesion" inside it (class 2); the masks are the label maps. Seeded, so every run is the same.

    python examples/make_demo_data.py OUT_DIR [--n 48] [--size 128] [--seed 0]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np


def ellipse_mask(shape: tuple[int, int], cy: float, cx: float, ry: float, rx: float, angle_rad: float) -> np.ndarray:
    """Boolean mask of a rotated ellipse (centre, radii in px, angle in radians)."""
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    u = ((xx - cx) * c + (yy - cy) * s) / rx
    v = (-(xx - cx) * s + (yy - cy) * c) / ry
    return u**2 + v**2 <= 1.0


def make_case(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """One (image uint8 [size, size], label uint8 [size, size]) pair."""
    label = np.zeros((size, size), np.uint8)
    organ = ellipse_mask(
        label.shape,
        rng.uniform(0.35, 0.65) * size,
        rng.uniform(0.35, 0.65) * size,
        rng.uniform(0.18, 0.3) * size,
        rng.uniform(0.18, 0.3) * size,
        rng.uniform(0, np.pi),
    )
    label[organ] = 1
    if rng.random() < 0.8:
        ys, xs = np.nonzero(organ)
        k = rng.integers(len(ys))
        lesion = ellipse_mask(label.shape, ys[k], xs[k], *(rng.uniform(0.05, 0.1, 2) * size), 0.0) & organ
        label[lesion] = 2
    noise = cv2.GaussianBlur(rng.normal(0, 1, label.shape).astype(np.float32), (0, 0), 3)
    image = 0.3 + 0.08 * noise + 0.35 * (label == 1) + 0.1 * (label == 2) + rng.normal(0, 0.03, label.shape)
    return (np.clip(image, 0, 1) * 255).astype(np.uint8), label


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--n", type=int, default=48)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--val", type=int, default=8, help="images in the validation list")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    for sub in ("images", "masks"):
        (args.out / sub).mkdir(parents=True, exist_ok=True)
    names = [f"case{i:03d}" for i in range(args.n)]
    for name in names:
        image, label = make_case(rng, args.size)
        cv2.imwrite(str(args.out / "images" / f"{name}.png"), image)
        cv2.imwrite(str(args.out / "masks" / f"{name}.png"), label)
    (args.out / "val.list").write_text("\n".join(names[: args.val]) + "\n")
    (args.out / "train.list").write_text("\n".join(names[args.val :]) + "\n")
    print(f"{args.out}: {args.n} images {args.size}x{args.size} ({args.n - args.val} train, {args.val} val)")


if __name__ == "__main__":
    main()
