"""Join gaze heatmaps from a gazekit heatmap store to the training images (by stimulus id and slice)."""

from __future__ import annotations

import cv2
import numpy as np

from hgdtgl.data.formats import TrainData


def heatmap_at(m: np.ndarray, size: int) -> np.ndarray:
    """A heatmap resized to size x size (bilinear), clipped at 0 and normalised to sum 1 (zeros if empty)."""
    r = cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) if m.shape != (size, size) else m
    r = np.clip(r.astype(np.float32), 0, None)
    total = float(r.sum())
    return r / total if total > 0 else np.zeros_like(r)


def store_scale_at(params: dict, scales: list[int], size: int) -> int:
    """The store scale whose grid is exactly ``size`` x ``size`` (read as it is), else 1 (resized).

    Only a store rendered on a square grid (``render-heatmaps --size G``) has one: G = size * s. The coarser
    decoder levels are sum-pooled from this map after augmentation (``hgdtgl.losses.gaze_pyramid``), which
    measures closer to the exact warped gaze than warping the store's coarse scales (docs/training.md)."""
    grid = params.get("size")
    if grid and grid[0] == grid[1] and grid[0] % size == 0 and grid[0] // size in scales:
        return int(grid[0] // size)
    return 1


def join_gaze(data: TrainData, store_dir: str) -> TrainData:
    """Fill ``data.heat`` / ``data.has_gaze`` from the store (``gazekit.store.open``): its scale on the
    training grid when it has one, else its scale-1 maps resized (:func:`store_scale_at`)."""
    import gazekit.store  # pyarrow/pandas: only needed when a store is read

    store = gazekit.store.open(store_dir)
    scale = store_scale_at(store.params, store.scales, data.size)
    heat = np.zeros((len(data.keys), data.size, data.size), dtype=np.float16)
    has = np.zeros(len(data.keys), dtype=bool)
    for i, (sid, sl) in enumerate(data.keys):
        if (sid, sl) not in store:  # no gaze on this image (or not in the store)
            continue
        m = store.get(sid, sl, scale)
        h = heatmap_at(m, data.size)
        if h.sum() > 0:
            heat[i] = (h * h.size).astype(np.float16)  # mean 1: float16 keeps its precision
            has[i] = True
    data.heat, data.has_gaze = heat, has
    return data
