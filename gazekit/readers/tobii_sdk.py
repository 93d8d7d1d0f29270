"""Tobii Pro SDK (``tobii_research``) gaze data: the callback dictionaries saved as CSV or JSON lines.

Columns/keys used: ``device_time_stamp`` (µs; ``system_time_stamp`` when absent),
``{left,right}_gaze_point_on_display_area`` (normalised display coordinates, origin top-left, as
``"(x, y)"`` strings, lists or tuples; ``(nan, nan)`` when lost; values outside 0..1 are off-screen),
``{left,right}_gaze_point_validity`` (1 valid), ``{left,right}_pupil_diameter`` [mm] with
``{left,right}_pupil_validity``. Raw samples only (no fixations): use ``--detect ivt|idt``.
Positions come out normalised (``x_norm, y_norm``); the screen resolution turns them into px.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.readers.base import ReadOptions, Recording, cut_warning, normalised_samples, read_csv_text

NAME = "tobii-sdk"
KEY = "left_gaze_point_on_display_area"
PAIR = r"^\s*[\(\[]\s*([^,\s]+)\s*,\s*([^,\)\]\s]+)\s*[\)\]]\s*$"


def sniff(head: str) -> bool:
    return KEY in head[:8192] and "gaze_point_validity" in head[:8192]


def read(path: Path, opts: ReadOptions) -> Recording:
    """Parse a CSV (header row) or JSON-lines file of tobii_research gaze dictionaries."""
    warn: list[str] = []
    df = _load(path, warn)
    time_col = next((c for c in ("device_time_stamp", "system_time_stamp") if c in df.columns), None)
    if time_col is None:
        raise GazekitError(path, "header", "expected a device_time_stamp or system_time_stamp column")
    t_us = pd.to_numeric(df[time_col], errors="coerce").to_numpy(dtype=float)
    if len(t_us) == 0:
        raise GazekitError(path, None, "no gaze samples in the file")
    bad = ~np.isfinite(t_us)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(
            path, f"line {df.index[i]}, column {time_col!r}", f"expected a time in µs, got {df[time_col].iloc[i]!r}"
        )
    t_ms = (t_us - t_us.min()) / 1000.0
    eyes = [e for e in ("left", "right") if opts.eye in ("both", "average", e)]
    parts = []
    for eye in eyes:
        col = f"{eye}_gaze_point_on_display_area"
        if col not in df.columns:
            raise GazekitError(path, "header", f"expected a column {col!r}")
        x, y = _pairs(df[col], path, col)
        validity = _number(df, f"{eye}_gaze_point_validity", path, default=1.0)
        valid = (validity == 1) & np.isfinite(x) & np.isfinite(y)
        pupil = _number(df, f"{eye}_pupil_diameter", path, default=np.nan)
        pupil_ok = _number(df, f"{eye}_pupil_validity", path, default=1.0) == 1
        parts.append(normalised_samples(t_ms, x, y, valid, np.where(pupil_ok & (pupil > 0), pupil, np.nan), eye))
    sid = path.stem
    samples = pd.concat(parts, ignore_index=True)
    samples.insert(0, "session_id", sid)
    session = {"reader_id": "", "time_column": time_col, "tracker_start_time_us": float(t_us.min())}
    return Recording(source_format=NAME, fixations=None, samples=samples, sessions={sid: session}, warnings=warn)


def _load(path: Path, warn: list[str]) -> pd.DataFrame:
    """The rows of a JSON-lines or CSV file (index = file line number)."""
    with open(path, encoding="utf-8-sig", errors="replace") as fh:
        first = fh.readline().lstrip()
    if first.startswith("{"):
        rows, numbers = [], []
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            for i, line in enumerate(fh):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)  # json accepts NaN
                except json.JSONDecodeError as exc:
                    if not line.endswith(("\n", "\r")):  # the file stops inside its last line
                        warn.append(cut_warning(path, "is not a complete JSON object"))
                        continue
                    raise GazekitError(path, f"line {i + 1}", f"expected a JSON object ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise GazekitError(path, f"line {i + 1}", "expected a JSON object")
                rows.append(row)
                numbers.append(i + 1)
        return pd.DataFrame(rows, index=numbers)
    return read_csv_text(path, warn)


def _pairs(col: pd.Series, path: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``"(x, y)"`` strings or [x, y] lists -> two float arrays (NaN for nan/None)."""
    if col.map(lambda v: isinstance(v, list | tuple)).all():
        ok = col.map(len).eq(2).all()
        if not ok:
            raise GazekitError(path, f"column {name!r}", "expected [x, y] pairs")
        arr = np.array([[np.nan if v is None else v for v in pair] for pair in col], dtype=float)
        return arr[:, 0], arr[:, 1]
    s = col.astype(str)
    parts = s.str.extract(PAIR)
    x = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=float)
    y = pd.to_numeric(parts[1], errors="coerce").to_numpy(dtype=float)
    # a field that is neither a pair of numbers nor "(nan, nan)" is an error
    lost = parts[0].str.lower().isin(["nan", "none", "null"]) | parts[1].str.lower().isin(["nan", "none", "null"])
    bad = parts[0].isna().to_numpy() | ((~np.isfinite(x) | ~np.isfinite(y)) & ~lost.fillna(False).to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(
            path, f"line {col.index[i]}, column {name!r}", f'expected "(x, y)" with two numbers, got {s.iloc[i]!r}'
        )
    return x, y


def _number(df: pd.DataFrame, col: str, path: Path, default: float) -> np.ndarray:
    if col not in df.columns:
        return np.full(len(df), default)
    raw = df[col]
    v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    text = raw.astype(str).str.strip().str.lower()
    bad = np.isnan(v) & ~text.isin(["nan", "", "none", "null"]).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(path, f"line {raw.index[i]}, column {col!r}", f"expected a number, got {raw.iloc[i]!r}")
    return v
