"""Viewer events: which image and slice was on screen, where, when; mapping fixations through them.

A viewer-event log has one row per display change; the state holds until the next row
(DESIGN.md section 3, table ``viewer_events``). Logs come from a session folder
(``viewer_events.parquet``) or, for vendor exports, from a Parquet file with the same columns or a CSV:

**CSV layout** (comma-separated, one header row, column order free):

=================  ========  =========================================================================
column             required  meaning
=================  ========  =========================================================================
``t_ms``           yes       time of the change [ms] on the viewer's clock
``stimulus_id``    yes       id of the stimulus shown (file stem / SeriesInstanceUID); empty = nothing
``slice_index``    no        0-based slice of a volume; empty for a 2D image
``x0_px``          yes       screen x of the image's top-left corner [screen px]
``y0_px``          yes       screen y of the image's top-left corner [screen px]
``scale``          yes       screen px per image px (zoom)
``rotation_deg``   no        0 / 90 / 180 / 270, clockwise (default 0)
``flip_x``         no        mirrored left-right: 0/1/true/false (default false)
``flip_y``         no        mirrored top-bottom (default false)
``window_center``  no        display window (empty = none)
``window_width``   no
=================  ========  =========================================================================

``--clock-offset-ms D`` is added to every ``t_ms`` of the log to bring it onto the gaze clock
(``t_gaze = t_viewer + D``).

Mapping rule (:func:`gazekit.convert.coordinates.map_fixations`): a fixation is mapped through the display
state on screen at its start; when the state changed during the fixation (a scroll, a pan), the fixation is
**assigned by majority**: to the state
that was on screen for the longest part of its duration (the earlier one on a tie), and its position
is mapped through that state. Fixations are never split (a split would create fixations shorter than
any detector's minimum). Fixations outside the image keep their image coordinates with
``on_image = false``; fixations before the first event, or while nothing is shown, get no stimulus.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit import tables
from gazekit.convert.coordinates import map_fixations
from gazekit.errors import GazekitError
from gazekit.session import Shapes

CSV_REQUIRED = ("t_ms", "stimulus_id", "x0_px", "y0_px", "scale")
CSV_DEFAULTS = {
    "slice_index": pd.NA,
    "rotation_deg": 0,
    "flip_x": False,
    "flip_y": False,
    "window_center": np.nan,
    "window_width": np.nan,
}
_TRUE = {"1", "true", "yes", "t", "y"}
_FALSE = {"0", "false", "no", "f", "n", ""}


def read_viewer_events(path: str | Path, clock_offset_ms: float = 0.0) -> pd.DataFrame:
    """Read a viewer-event log (CSV per the module's layout, or Parquet) and shift it by ``clock_offset_ms``."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        events, _ = tables.read_table("viewer_events", path)
    else:
        events = _read_csv(path)
    events = events.copy()
    events["t_ms"] = events["t_ms"].astype(float) + float(clock_offset_ms)
    t = events["t_ms"].to_numpy()
    if (np.diff(t) < 0).any():
        i = int(np.flatnonzero(np.diff(t) < 0)[0]) + 1
        raise GazekitError(path, f"row {i}, column 't_ms'", f"expected times in increasing order, got {t[i]!r}")
    return events


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True)
    except FileNotFoundError:
        raise GazekitError(path, None, "file not found") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise GazekitError(path, None, f"expected a CSV viewer-event log ({exc})") from None
    raw.columns = [c.strip() for c in raw.columns]
    missing = [c for c in CSV_REQUIRED if c not in raw.columns]
    if missing:
        raise GazekitError(
            path, "header", f"missing column(s) {', '.join(missing)}; expected {', '.join(CSV_REQUIRED)}"
        )
    out = pd.DataFrame({"stimulus_id": raw["stimulus_id"].str.strip().astype(object)})
    for col in ("t_ms", "x0_px", "y0_px", "scale", "window_center", "window_width", "slice_index", "rotation_deg"):
        if col not in raw.columns:
            out[col] = CSV_DEFAULTS[col]
            continue
        text = raw[col].str.strip()
        values = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = values.isna() & (text != "")
        if col in CSV_REQUIRED:
            bad |= text == ""
        if col in ("slice_index", "rotation_deg"):
            bad |= values.notna() & (values % 1 != 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise GazekitError(path, f"line {i + 2}, column {col!r}", f"expected a number, got {raw[col].iloc[i]!r}")
        if col == "slice_index":
            values = values.astype("Int64")
        elif col == "rotation_deg":
            values = values.fillna(0).astype(int)
        out[col] = values
    for col in ("flip_x", "flip_y"):
        if col not in raw.columns:
            out[col] = False
            continue
        text = raw[col].str.strip().str.lower()
        bad = ~text.isin(_TRUE | _FALSE)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise GazekitError(
                path, f"line {i + 2}, column {col!r}", f"expected 0/1/true/false, got {raw[col].iloc[i]!r}"
            )
        out[col] = text.isin(_TRUE)
    out = out[list(tables.VIEWER_EVENTS.names)]
    tables.to_arrow("viewer_events", out, path)  # validates rotation and scale
    return out


def stimulus_shapes(paths: tuple[Path, ...] | list[Path]) -> Shapes:
    """Shapes of the stimuli at ``paths`` (image files/folders, NIfTI, HDF5, DICOM folders)."""
    from gazekit import stimuli

    shapes: Shapes = {}
    for path in paths:
        for st in stimuli.load(path):
            shapes[st.stimulus_id] = (st.shape[0], st.shape[1], st.shape[2]) if st.is_volume else (None, *st.shape)
    return shapes


def _recording_shapes(rec) -> Shapes:
    """Stimulus shapes a recording knows: session.json ``shape`` entries or ``width``/``height``."""
    shapes: Shapes = {}
    for sid, m in rec.stimuli.items():
        if not isinstance(m, dict):
            continue
        shape = m.get("shape")
        if shape is not None and len(shape) in (2, 3):
            shapes[sid] = (None, *map(int, shape)) if len(shape) == 2 else tuple(map(int, shape))
        elif m.get("width") and m.get("height"):
            shapes[sid] = (None, int(m["height"]), int(m["width"]))
    return shapes


def apply_log(
    fix: pd.DataFrame,
    rec,
    path: Path,
    log: str | Path | None = None,
    clock_offset_ms: float = 0.0,
    stimulus_paths: tuple[Path, ...] = (),
):
    """Map one recording's fixations through its viewer log (step of ``gazekit convert``).

    The log is ``log`` (``--viewer-events``, CSV/Parquet) or else the recording's own
    (``rec.viewer_events``, a session folder); with neither, ``fix`` is returned unchanged. Fixations need
    ``screen_x_px, screen_y_px``; stimulus sizes come from ``stimulus_paths`` and the recording.
    ``clock_offset_ms`` is added to the log's times. Returns (fixations, recording with warnings added).
    """
    from dataclasses import replace

    if log is None and rec.viewer_events is None:
        return fix, rec
    where = Path(log) if log is not None else Path(path)
    if not {"screen_x_px", "screen_y_px"} <= set(fix.columns) or (len(fix) and fix["screen_x_px"].isna().all()):
        raise GazekitError(where, "--viewer-events", "expected fixations in screen coordinates")
    if "session_id" in fix.columns and fix["session_id"].nunique() > 1:
        raise GazekitError(where, "--viewer-events", f"expected one session, got {fix['session_id'].nunique()}")
    shapes = _recording_shapes(rec)
    shapes.update(stimulus_shapes(stimulus_paths))
    if log is not None:
        if not shapes:
            raise GazekitError(where, "--stimulus", "expected the stimuli the log refers to (image/volume paths)")
        events = read_viewer_events(log, clock_offset_ms)
    else:
        events = rec.viewer_events.assign(t_ms=rec.viewer_events["t_ms"].astype(float) + float(clock_offset_ms))
    mapped, warnings = map_fixations(fix.reset_index(drop=True), events, shapes, where)
    return mapped, replace(rec, warnings=[*rec.warnings, *(f"{where}: {w}" for w in warnings)])
