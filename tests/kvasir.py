"""The shared Kvasir gaze (GazeMedSeg EyeLink fixation report) as a fixation table, and GazeMedSeg's recipe."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def kvasir_fixations(csv: Path) -> pd.DataFrame:
    """fixations.csv through ``gazekit convert`` (x_px = CURRENT_FIX_X * IMAGE_WIDTH, one session per image)."""
    from gazekit.convert import pipeline as conv

    fix, _ = conv.convert([Path(csv)])
    return fix


def gazemedseg_heatmap(
    x_norm: np.ndarray, y_norm: np.ndarray, duration_ms: np.ndarray, height: int, width: int
) -> np.ndarray:
    """GazeMedSeg's recipe, naively (their notebook): duration impulses at rounded positions on a 768x768
    canvas (index round(768 x) - 1), scipy gaussian_filter sigma 70 (reflect), min-max, cubic resize."""
    import cv2
    from scipy import ndimage

    canvas = np.zeros((768, 768), np.float32)
    for px, py, d in zip(x_norm, y_norm, duration_ms, strict=True):
        canvas[round(py * 768) - 1, round(px * 768) - 1] += d
    canvas = ndimage.gaussian_filter(canvas, 70)
    canvas = (canvas - canvas.min()) / (canvas.max() - canvas.min())
    return cv2.resize(canvas, (width, height), interpolation=cv2.INTER_CUBIC)


def kvasir_mask(path: Path) -> np.ndarray:
    """A Kvasir-SEG mask (JPEG) thresholded at 128."""
    import cv2

    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) >= 128
