"""The shared Kvasir gaze (GazeMedSeg fixation report) as a fixation table, with plain pandas.

Stand-in until ``gazekit convert`` reads the EyeLink fixation report (issue 2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def kvasir_fixations(csv: Path) -> pd.DataFrame:
    """fixations.csv -> fixation table (one session per image; x_px = CURRENT_FIX_X * IMAGE_WIDTH)."""
    raw = pd.read_csv(csv)
    sid = raw["IMAGE"].str.replace(r"\.[^.]+$", "", regex=True)
    df = pd.DataFrame(
        {
            "session_id": sid,
            "reader_id": "gazemedseg",
            "stimulus_id": sid,
            "slice_index": pd.array([pd.NA] * len(raw), dtype="Int64"),
            "fixation_index": 0,
            "t_start_ms": raw["CURRENT_FIX_START"].astype(float),
            "duration_ms": raw["CURRENT_FIX_DURATION"].astype(float),
            "x_px": raw["CURRENT_FIX_X"] * raw["IMAGE_WIDTH"],
            "y_px": raw["CURRENT_FIX_Y"] * raw["IMAGE_HEIGHT"],
            "screen_x_px": np.nan,
            "screen_y_px": np.nan,
            "on_image": True,
            "eye": "both",
            "pupil": raw["CURRENT_FIX_PUPIL"].astype(float),
            "source_format": "eyelink_fixation_report",
            "detector": "vendor",
            "image_width_px": raw["IMAGE_WIDTH"].astype(int),
            "image_height_px": raw["IMAGE_HEIGHT"].astype(int),
        }
    )
    df = df.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    df["fixation_index"] = df.groupby("session_id").cumcount()
    return df


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
