"""Small datasets for the hgdtgl tests: crops of the shared ACDC slices in the SSL4MIS layout, a gaze store
written with gazekit.store (synthetic heatmaps: a Gaussian on the foreground centroid), image folders."""

from __future__ import annotations

from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd

from gazekit.store import npz_name, write_index, write_npz
from tests.conftest import shared_path

CROP = 96


def _crop(a: np.ndarray) -> np.ndarray:
    h, w = a.shape[-2:]
    y, x = (h - CROP) // 2, (w - CROP) // 2
    return a[..., y : y + CROP, x : x + CROP]


def make_acdc(root: Path, patients: int = 4, slices_per_patient: int = 4, val_cases: int = 2) -> Path:
    """An SSL4MIS folder with central 96x96 crops of the first ``patients`` patients of train_slices.list."""
    acdc = shared_path("ACDC")
    names = (acdc / "train_slices.list").read_text().split()
    chosen: dict[str, list[str]] = {}
    for n in names:
        p = n.split("_")[0]
        if p in chosen or len(chosen) < patients:
            chosen.setdefault(p, [])
            if len(chosen[p]) < slices_per_patient:
                chosen[p].append(n)
    (root / "data" / "slices").mkdir(parents=True, exist_ok=True)
    lines = [n for group in chosen.values() for n in group]
    for n in lines:
        with (
            h5py.File(acdc / "data" / "slices" / f"{n}.h5") as src,
            h5py.File(root / "data" / "slices" / f"{n}.h5", "w") as dst,
        ):
            dst["image"] = _crop(src["image"][:])
            dst["label"] = _crop(src["label"][:])
    (root / "train_slices.list").write_text("\n".join(lines) + "\n")
    vals = (acdc / "val.list").read_text().split()[:val_cases]
    for v in vals:
        with h5py.File(acdc / "data" / f"{v}.h5") as src, h5py.File(root / "data" / f"{v}.h5", "w") as dst:
            dst["image"] = _crop(src["image"][:4])
            dst["label"] = _crop(src["label"][:4])
    (root / "val.list").write_text("\n".join(vals) + "\n")
    return root


def blob(label: np.ndarray, sigma_px: float = 6.0) -> np.ndarray:
    """A Gaussian density centred on the foreground's centroid (image centre if no foreground)."""
    h, w = label.shape
    ys, xs = np.nonzero(label)
    cy, cx = (ys.mean() + 0.5, xs.mean() + 0.5) if len(ys) else (h / 2, w / 2)
    yy, xx = np.mgrid[0:h, 0:w] + 0.5
    g = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma_px**2))
    return g / g.sum()


def make_store(root: Path, maps: dict[tuple[str, int | None], np.ndarray], scales=(1, 2, 4)) -> Path:
    """A real heatmap store (gazekit.store.write_npz + write_index) of the given full-resolution maps."""
    by_stim: dict[str, list[tuple[int, np.ndarray]]] = {}
    for (sid, sl), m in maps.items():
        by_stim.setdefault(sid, []).append((-1 if sl is None else sl, m))
    rows = []
    for sid, items in by_stim.items():
        items.sort()
        pyr = {}
        for s in scales:
            pyr[s] = np.stack(
                [
                    cv2.resize(m, (m.shape[1] // s, m.shape[0] // s), interpolation=cv2.INTER_AREA) * s * s
                    for _, m in items
                ]
            ).astype(np.float32)
        write_npz(root / npz_name(sid), pyr, np.array([sl for sl, _ in items]))
        for sl, m in items:
            rows.append(
                {
                    "stimulus_id": sid,
                    "slice_index": None if sl == -1 else sl,
                    "height": m.shape[0],
                    "width": m.shape[1],
                    "n_fixations": 3,
                    "total_duration_ms": 900.0,
                    "n_readers": 1,
                    "file": npz_name(sid),
                }
            )
    manifest = pd.DataFrame(rows)
    manifest["slice_index"] = manifest["slice_index"].astype("Int64")
    write_index(root, manifest, {"scales": list(scales), "sigma_px": 6.0, "normalisation": "sum"})
    return root


def acdc_store(data_root: Path, store_root: Path, skip_every: int = 0) -> Path:
    """Synthetic gaze for every training slice of an SSL4MIS folder (every ``skip_every``-th slice left out)."""
    maps = {}
    for i, n in enumerate((data_root / "train_slices.list").read_text().split()):
        if skip_every and i % skip_every == 0:
            continue
        case, k = n.rsplit("_slice_", 1)
        with h5py.File(data_root / "data" / "slices" / f"{n}.h5") as f:
            maps[(case, int(k) - 1)] = blob(f["label"][:])
    return make_store(store_root, maps)


def make_images(root: Path, n: int = 12, size: int = 40) -> Path:
    """An images/ + masks/ folder (RGB JPEG images, binary JPEG masks, a val.list) with a bright disc per image."""
    rng = np.random.default_rng(0)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        yy, xx = np.mgrid[0:size, 0 : size + 6]
        cy, cx, r = rng.integers(12, 28), rng.integers(12, 30), rng.integers(6, 10)
        mask = ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8) * 255
        img = np.stack([mask * 0.7 + 40, mask * 0.3 + 60, np.full_like(mask, 90)], -1) + rng.normal(
            0, 8, (size, size + 6, 3)
        )
        cv2.imwrite(str(root / "images" / f"img{i:02d}.jpg"), np.clip(img, 0, 255).astype(np.uint8))
        cv2.imwrite(str(root / "masks" / f"img{i:02d}.jpg"), mask)
    (root / "val.list").write_text("img10\nimg11\n")
    return root


def make_label_maps(root: Path, n: int = 8, size: int = 36) -> Path:
    """Grey PNG images with 3-class PNG label maps (0 background, 1 left box, 2 right box, 3 a bar at the top)."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    for i in range(n):
        lab = np.zeros((size, size), np.uint8)
        lab[10:30, 4 : 12 + i % 3] = 1
        lab[12:28, 20:32] = 2
        lab[2:6, 6:30] = 3
        img = lab * 60.0 + 20 + rng.normal(0, 5, lab.shape)
        cv2.imwrite(str(root / "images" / f"c{i}.png"), np.clip(img, 0, 255).astype(np.uint8))
        cv2.imwrite(str(root / "masks" / f"c{i}.png"), lab)
    return root
