"""Orchestration of ``gazekit convert``: read -> (detect) -> map to images -> one fixation table."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import readers, tables
from gazekit import samples as gaze_samples
from gazekit.readers import ReadOptions, Recording


@dataclass(frozen=True)
class ConvertOptions:
    """Options of ``gazekit convert`` beyond the reader's."""

    read: ReadOptions = ReadOptions()
    drop_unassigned: bool = False
    detect: str | None = None  # vendor / ivt / idt; None: vendor events when the file has them, else ivt
    detect_params: tuple[tuple[str, object], ...] = ()  # events.IVTParams / IDTParams overrides
    screen: tuple[tuple[str, float], ...] = ()  # from --screen-px / --screen-mm / --distance-mm
    session_json: Path | None = None  # default: session.json next to each input


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


def convert(
    inputs: list[Path], opts: ConvertOptions = ConvertOptions(), samples: list[pd.DataFrame] | None = None
) -> tuple[pd.DataFrame, dict]:
    """Convert eye-tracker files into one fixation table; returns (table, metadata for the Parquet file).

    When ``samples`` is a list, each file's raw samples (screen px) are appended to it.
    """
    parts: list[pd.DataFrame] = []
    meta: dict = {"inputs": [str(p) for p in inputs], "sessions": {}, "stimuli": {}, "warnings": []}
    meta.update({"detection": {}, "screens": {}, "quality": {}})
    for path in inputs:
        rec = readers.read(path, opts.read)
        fix, rec, info = gaze_samples.process(
            rec, path, opts.detect, dict(opts.detect_params), dict(opts.screen), opts.session_json,
            opts.read.stimulus_pattern,
        )  # fmt: skip
        meta["detection"][str(path)], meta["screens"][str(path)] = info["detection"], info["screen"]
        meta["quality"].update(info["quality"])
        if samples is not None and rec.samples is not None:
            samples.append(rec.samples)
        parts.append(finalize(fix, rec))
        meta["sessions"].update(rec.sessions)
        meta["stimuli"].update(rec.stimuli)
        meta["warnings"].extend(rec.warnings)
    fix = pd.concat(parts, ignore_index=True) if parts else tables.empty("fixations")
    if opts.drop_unassigned:
        fix = fix[fix["stimulus_id"] != ""].reset_index(drop=True)
    fix = fix.sort_values(["session_id", "t_start_ms"], kind="stable").reset_index(drop=True)
    return fix, meta


def concat_samples(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """Raw samples of several files as one samples table, sorted by session, eye, time."""
    if not parts:
        return tables.empty("samples")
    out = pd.concat(parts, ignore_index=True)
    keys = [k for k in ("session_id", "eye", "t_ms") if k in out.columns]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


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
