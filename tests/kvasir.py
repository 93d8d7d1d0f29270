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
