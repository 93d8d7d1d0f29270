"""Orchestration of ``gazekit convert``: read -> (detect) -> map to images -> one fixation table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import readers, tables, viewer
from gazekit.errors import GazekitError
from gazekit.readers import ReadOptions, Recording


@dataclass(frozen=True)
class ConvertOptions:
    """Options of ``gazekit convert`` beyond the reader's."""

    read: ReadOptions = ReadOptions()
    drop_unassigned: bool = False
    viewer_events: Path | None = None  # a viewer-event log (CSV/Parquet) to map vendor fixations through
    clock_offset_ms: float = 0.0  # added to the log's times (t_gaze = t_viewer + offset)
    stimuli: tuple[Path, ...] = ()  # stimulus files/folders giving the sizes the log refers to


def finalize(fix: pd.DataFrame, rec: Recording) -> pd.DataFrame:
    """Fill defaults of the fixation table, sort by session then time, number fixations per session."""
    fix = fix.copy()
    defaults = {
        "reader_id": "",
        "stimulus_id": "",
        "slice_index": pd.NA,
        "x_px": np.nan,
        "y_px": np.nan,
        "screen_x_px": np.nan,
        "screen_y_px": np.nan,
        "on_image": False,
        "eye": "both",
        "pupil": np.nan,
        "source_format": rec.source_format,
        "detector": "vendor",
    }
    for col, value in defaults.items():
        if col not in fix.columns:
            fix[col] = value
    if "reader_id" in fix.columns:
        sessions_reader = {s: m.get("reader_id", "") for s, m in rec.sessions.items()}
        blank = fix["reader_id"].fillna("").eq("")
        fix.loc[blank, "reader_id"] = fix.loc[blank, "session_id"].map(sessions_reader).fillna("")
    fix["stimulus_id"] = fix["stimulus_id"].fillna("").astype(str)
    fix["on_image"] = fix["on_image"].fillna(False).astype(bool)
    fix = fix.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    fix["fixation_index"] = fix.groupby("session_id", sort=False).cumcount().astype("int32")
    return fix


def convert(inputs: list[Path], opts: ConvertOptions = ConvertOptions()) -> tuple[pd.DataFrame, dict]:
    """Convert eye-tracker files into one fixation table; returns (table, metadata for the Parquet file)."""
    parts: list[pd.DataFrame] = []
    meta: dict = {"inputs": [str(p) for p in inputs], "sessions": {}, "stimuli": {}, "warnings": []}
    for path in inputs:
        rec = readers.read(path, opts.read)
        if opts.viewer_events is not None:
            rec = viewer.apply_log(rec, opts.viewer_events, opts.clock_offset_ms, opts.stimuli)
        if rec.fixations is None:
            raise GazekitError(path, None, "no fixation events in the file")
        parts.append(finalize(rec.fixations, rec))
        meta["sessions"].update(rec.sessions)
        meta["stimuli"].update(rec.stimuli)
        meta["warnings"].extend(rec.warnings)
    fix = pd.concat(parts, ignore_index=True) if parts else tables.empty("fixations")
    if opts.drop_unassigned:
        fix = fix[fix["stimulus_id"] != ""].reset_index(drop=True)
    fix = fix.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    return fix, meta


def summary(fix: pd.DataFrame) -> dict:
    """Sessions, stimuli, fixations, share on image and time span of a fixation table."""
    n = len(fix)
    span = (fix["t_start_ms"] + fix["duration_ms"]).max() - fix["t_start_ms"].min() if n else 0.0
    stimuli = fix.loc[fix["stimulus_id"] != "", "stimulus_id"].nunique()
    return {
        "sessions": int(fix["session_id"].nunique()),
        "stimuli": int(stimuli),
        "fixations": int(n),
        "on_image_share": float(fix["on_image"].mean()) if n else 0.0,
        "time_span_s": float(span) / 1000.0,
    }


def format_summary(s: dict) -> str:
    return (
        f"{s['sessions']} session(s), {s['stimuli']} stimulus/stimuli, {s['fixations']} fixations, "
        f"{100 * s['on_image_share']:.1f} % on image, time span {s['time_span_s']:.1f} s"
    )
