"""Per-session and per-stimulus figures of a fixation table (counts, dwell, share on image, quality)."""

from __future__ import annotations

import numpy as np
import pandas as pd

SHORT_MS = 80.0  # fixations shorter than this are flagged as a quality figure


def session_figures(fix: pd.DataFrame, meta: dict) -> pd.DataFrame:
    """One row per session: fixations, on-image share, dwell and durations, missing positions, and the
    numeric quality entries of the session's metadata (e.g. calibration/validation accuracy in deg)."""
    rows = []
    sessions = meta.get("sessions") or {}
    for sid, g in fix.groupby("session_id", sort=True):
        dur = g["duration_ms"].to_numpy(float)
        x = g["x_px"].to_numpy(float, na_value=np.nan)
        y = g["y_px"].to_numpy(float, na_value=np.nan)
        on = g["on_image"].to_numpy(bool)
        assigned = g["stimulus_id"].ne("").to_numpy()
        end = (g["t_start_ms"] + g["duration_ms"]).max()
        row = {
            "session_id": sid,
            "reader_id": str(g["reader_id"].iloc[0]),
            "n_fixations": len(g),
            "n_stimuli": int(g.loc[assigned, "stimulus_id"].nunique()),
            "share_on_image": float(on.mean()),
            "share_no_stimulus": float((~assigned).mean()),
            "share_missing_position": float((~(np.isfinite(x) & np.isfinite(y))).mean()),
            "dwell_on_image_ms": float(dur[on].sum()),
            "mean_duration_ms": float(dur.mean()),
            "median_duration_ms": float(np.median(dur)),
            "share_short": float((dur < SHORT_MS).mean()),
            "time_span_s": float(end - g["t_start_ms"].min()) / 1000.0,
        }
        info = sessions.get(sid, {})
        quality = {**info, **(info.get("quality") or {})}
        for key, value in sorted(quality.items()):
            if isinstance(value, int | float) and not isinstance(value, bool) and key not in row:
                row[key] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


def stimulus_figures(fix: pd.DataFrame) -> pd.DataFrame:
    """One row per (stimulus_id, slice_index) looked at: fixations, readers, dwell, on-image share."""
    use = fix[fix["stimulus_id"] != ""].assign(_slice=fix["slice_index"].astype("Int64"))
    rows = []
    for (sid, sl), g in use.groupby(["stimulus_id", "_slice"], sort=True, dropna=False):
        on = g["on_image"].to_numpy(bool)
        rows.append(
            {
                "stimulus_id": sid,
                "slice_index": None if pd.isna(sl) else int(sl),
                "n_fixations": int(on.sum()),
                "n_readers": int(g["reader_id"].nunique()),
                "n_sessions": int(g["session_id"].nunique()),
                "dwell_ms": float(g.loc[on, "duration_ms"].sum()),
                "share_on_image": float(on.mean()),
                "mean_duration_ms": float(g["duration_ms"].mean()),
            }
        )
    out = pd.DataFrame(rows)
    if len(out):
        out["slice_index"] = pd.array(out["slice_index"], dtype="Int64")
    return out
