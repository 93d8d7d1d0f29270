"""Gazepoint GP3 exports (Gazepoint Control / Analysis CSV): the fixation export and the all-gaze export.

Fixation fields: ``FPOGX, FPOGY`` (normalised to the screen, origin top-left; may fall outside 0..1),
``FPOGS`` start [s], ``FPOGD`` duration [s], ``FPOGID`` fixation id, ``FPOGV`` valid flag. In the
all-gaze export every sample repeats the running fixation, so one fixation per valid ``FPOGID`` is kept
(its last valid row, which has the final duration and position); in the fixation export each row is one.
The start time of the recording is in the ``TIME(yyyy/mm/dd hh:mm:ss.sss)`` header; trailing commas
are ignored. Samples (all-gaze export): ``LPOGX/LPOGY/LPOGV`` and ``RPOGX/RPOGY/RPOGV`` per eye (or
``BPOGX/BPOGY/BPOGV`` as ``both``) at ``TIME`` [s], pupil ``LPMM/RPMM`` [mm] when present.
``MEDIA_NAME`` gives the stimulus id (extension dropped). Positions come out normalised.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.readers.base import ReadOptions, Recording, normalised_samples, read_csv_text

NAME = "gazepoint"
REQUIRED = ("FPOGX", "FPOGY", "FPOGS", "FPOGD", "FPOGID", "FPOGV")


def sniff(head: str) -> bool:
    first = head.lstrip("\ufeff").split("\n", 1)[0]
    return all(c in first for c in REQUIRED)


def read(path: Path, opts: ReadOptions) -> Recording:
    """Parse one Gazepoint CSV (one session, named after the file stem)."""
    warn: list[str] = []
    df = read_csv_text(path, warn)
    df = df.loc[:, [c for c in df.columns if c.strip() and not c.startswith("Unnamed")]]  # trailing commas
    df.columns = [c.strip() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise GazekitError(path, "header", f"expected Gazepoint columns {', '.join(missing)}")
    time_col = next((c for c in df.columns if c.startswith("TIME(") or c == "TIME"), None)
    m = re.fullmatch(r"TIME\((.*)\)", time_col or "")
    start = m.group(1) if m else None
    num = {c: _number(df, c, path) for c in REQUIRED}
    sid = path.stem
    ok = (num["FPOGV"] == 1) & np.isfinite(num["FPOGID"]) & np.isfinite(num["FPOGS"]) & np.isfinite(num["FPOGD"])
    rows = pd.DataFrame({k: v[ok] for k, v in num.items()})
    rows["stimulus_id"] = df["MEDIA_NAME"].to_numpy()[ok] if "MEDIA_NAME" in df.columns else ""
    last = rows.groupby("FPOGID", sort=False).tail(1)  # the running fixation's final state
    last = last.sort_values("FPOGS", kind="stable")
    fix = pd.DataFrame(
        {
            "session_id": sid,
            "t_start_ms": last["FPOGS"].to_numpy() * 1000.0,
            "duration_ms": last["FPOGD"].to_numpy() * 1000.0,
            "screen_x_norm": last["FPOGX"].to_numpy(),
            "screen_y_norm": last["FPOGY"].to_numpy(),
            "eye": "both",
            "pupil": np.nan,
            "stimulus_id": [stimulus_id(s) if s else "" for s in last["stimulus_id"]],
        }
    )
    samples = _samples(df, path, time_col, opts)
    if samples is not None:
        samples.insert(0, "session_id", sid)
    session = {"reader_id": "", "start_time": start, "all_gaze": bool(len(rows) > len(last))}
    return Recording(source_format=NAME, fixations=fix, samples=samples, sessions={sid: session}, warnings=warn)


def _number(df: pd.DataFrame, col: str, path: Path) -> np.ndarray:
    raw = df[col].astype(str).str.strip()
    v = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(v) & (raw != "").to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise GazekitError(path, f"line {df.index[i]}, column {col!r}", f"expected a number, got {df[col].iloc[i]!r}")
    return v


def _samples(df: pd.DataFrame, path: Path, time_col: str | None, opts: ReadOptions) -> pd.DataFrame | None:
    if time_col is None:
        return None
    t_ms = _number(df, time_col, path) * 1000.0
    streams = [(e, p) for e, p in (("left", "L"), ("right", "R")) if f"{p}POGX" in df.columns]
    streams = [(e, p) for e, p in streams if opts.eye in ("both", "average", e)]
    if not streams and "BPOGX" in df.columns:
        streams = [("both", "B")]
    if not streams or len(df) < 2:
        return None
    parts = []
    for eye, p in streams:
        x, y = _number(df, f"{p}POGX", path), _number(df, f"{p}POGY", path)
        v = _number(df, f"{p}POGV", path) if f"{p}POGV" in df.columns else np.ones(len(df))
        valid = (v == 1) & np.isfinite(x) & np.isfinite(y) & np.isfinite(t_ms)
        pcol = f"{p}PMM" if f"{p}PMM" in df.columns else None
        pupil = _number(df, pcol, path) if pcol else np.full(len(df), np.nan)
        pupil_ok = _number(df, f"{p}PMMV", path) == 1 if f"{p}PMMV" in df.columns else np.ones(len(df), bool)
        parts.append(normalised_samples(t_ms, x, y, valid, np.where(valid & pupil_ok, pupil, np.nan), eye))
    out = pd.concat(parts, ignore_index=True)
    return out[np.isfinite(out["t_ms"])].reset_index(drop=True)
