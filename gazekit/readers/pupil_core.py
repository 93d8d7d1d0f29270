"""Pupil Labs Pupil Core exports from Pupil Player: ``fixations.csv`` and ``gaze_positions.csv``.

Times are Pupil time in seconds (``start_timestamp`` / ``gaze_timestamp``), fixation ``duration`` in
ms; ``norm_pos_x/y`` are normalised with the origin at the BOTTOM-left, so ``y`` is flipped to the
top-left convention (``y_norm = 1 - norm_pos_y``). Gaze samples with ``confidence`` below
``opts.min_confidence`` (Pupil Player's default 0.6) are invalid. Times are ms from the first row.
Positions come out normalised (to the world camera image, or a surface when the export is mapped).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.readers.base import ReadOptions, Recording, normalised_samples, read_csv_text

NAME = "pupil-core"
FIXATION_COLS = ("start_timestamp", "duration", "norm_pos_x", "norm_pos_y")
GAZE_COLS = ("gaze_timestamp", "confidence", "norm_pos_x", "norm_pos_y")


def sniff(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0].split(",")
    return all(c in first for c in FIXATION_COLS) or all(c in first for c in GAZE_COLS)


def read(path: Path, opts: ReadOptions) -> Recording:
    """Parse a Pupil Player fixations.csv (vendor fixations) or gaze_positions.csv (samples)."""
    warn: list[str] = []
    df = read_csv_text(path, warn)
    sid = path.stem
    if all(c in df.columns for c in FIXATION_COLS):
        t_s = _number(df, "start_timestamp", path)
        t0 = float(np.min(t_s)) if len(t_s) else 0.0
        fix = pd.DataFrame(
            {
                "session_id": sid,
                "t_start_ms": (t_s - t0) * 1000.0,
                "duration_ms": _number(df, "duration", path),
                "screen_x_norm": _number(df, "norm_pos_x", path),
                "screen_y_norm": 1.0 - _number(df, "norm_pos_y", path),
                "eye": "both",
                "pupil": np.nan,
            }
        )
        session = {"reader_id": "", "pupil_time_start_s": t0}
        return Recording(source_format=NAME, fixations=fix, sessions={sid: session}, warnings=warn)
    missing = [c for c in GAZE_COLS if c not in df.columns]
    if missing:
        raise GazekitError(path, "header", f"expected Pupil Player columns {', '.join(missing)}")
    t_s = _number(df, "gaze_timestamp", path)
    t0 = float(np.min(t_s)) if len(t_s) else 0.0
    x = _number(df, "norm_pos_x", path)
    y = 1.0 - _number(df, "norm_pos_y", path)
    valid = (_number(df, "confidence", path) >= opts.min_confidence) & np.isfinite(x) & np.isfinite(y)
    samples = normalised_samples((t_s - t0) * 1000.0, x, y, valid, np.nan, "both")
    samples.insert(0, "session_id", sid)
    samples = samples.sort_values("t_ms", kind="stable").reset_index(drop=True)
    session = {"reader_id": "", "pupil_time_start_s": t0, "min_confidence": opts.min_confidence}
    return Recording(source_format=NAME, samples=samples, sessions={sid: session}, warnings=warn)


def _number(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    raw = df[col].astype(str).str.strip()
    v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(v)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(path, f"line {df.index[i]}, column {col!r}", f"expected a number, got {df[col].iloc[i]!r}")
    return v
