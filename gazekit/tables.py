"""Schemas of every table gazekit writes, their validation, and atomic Parquet I/O (the one place).

In memory a table is a ``pandas.DataFrame``; on disk it is Parquet written with the pyarrow schema
below, plus a ``gazekit`` JSON entry in the file metadata (version, parameters, stimuli, quality).
The JSON Schemas in ``schemas/`` describe the same columns (a test keeps both in step).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.version import __version__

EYES = ("left", "right", "both")
DETECTORS = ("vendor", "ivt", "idt", "given")

FIXATIONS = pa.schema(
    [
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("reader_id", pa.string(), nullable=False),
        pa.field("stimulus_id", pa.string(), nullable=False),  # "" = no stimulus (calibration, blank)
        pa.field("slice_index", pa.int32(), nullable=True),  # null for 2D stimuli
        pa.field("fixation_index", pa.int32(), nullable=False),  # 0-based, per session, in time order
        pa.field("t_start_ms", pa.float64(), nullable=False),  # from the session's start
        pa.field("duration_ms", pa.float64(), nullable=False),
        pa.field("x_px", pa.float64(), nullable=True),  # image space, continuous, top-left corner origin
        pa.field("y_px", pa.float64(), nullable=True),
        pa.field("screen_x_px", pa.float64(), nullable=True),
        pa.field("screen_y_px", pa.float64(), nullable=True),
        pa.field("on_image", pa.bool_(), nullable=False),
        pa.field("eye", pa.string(), nullable=False),  # left / right / both
        pa.field("pupil", pa.float64(), nullable=True),
        pa.field("source_format", pa.string(), nullable=False),
        pa.field("detector", pa.string(), nullable=False),  # vendor / ivt / idt / given
    ]
)
# Optional columns a fixation table may carry (image size of the stimulus, when the source says it).
FIXATIONS_OPTIONAL = pa.schema(
    [
        pa.field("image_width_px", pa.int32(), nullable=True),
        pa.field("image_height_px", pa.int32(), nullable=True),
    ]
)

SAMPLES = pa.schema(
    [
        pa.field("t_ms", pa.float64(), nullable=False),
        pa.field("x_screen_px", pa.float64(), nullable=True),
        pa.field("y_screen_px", pa.float64(), nullable=True),
        pa.field("valid", pa.bool_(), nullable=False),
        pa.field("pupil", pa.float64(), nullable=True),
        pa.field("eye", pa.string(), nullable=False),
    ]
)
SAMPLES_OPTIONAL = pa.schema([pa.field("session_id", pa.string(), nullable=True)])

VIEWER_EVENTS = pa.schema(
    [
        pa.field("t_ms", pa.float64(), nullable=False),
        pa.field("stimulus_id", pa.string(), nullable=False),  # "" = nothing shown
        pa.field("slice_index", pa.int32(), nullable=True),
        pa.field("x0_px", pa.float64(), nullable=False),  # screen position of the image's top-left corner
        pa.field("y0_px", pa.float64(), nullable=False),
        pa.field("scale", pa.float64(), nullable=False),  # screen px per image px
        pa.field("rotation_deg", pa.int32(), nullable=False),  # 0 / 90 / 180 / 270, clockwise
        pa.field("flip_x", pa.bool_(), nullable=False),
        pa.field("flip_y", pa.bool_(), nullable=False),
        pa.field("window_center", pa.float64(), nullable=True),
        pa.field("window_width", pa.float64(), nullable=True),
    ]
)

# The heatmap store's manifest.parquet (gazekit.store): one row per (stimulus_id, slice_index).
NO_SLICE = -1  # slice_index stored in the npz for 2D images
MANIFEST = pa.schema(
    [
        pa.field("stimulus_id", pa.string(), nullable=False),
        pa.field("slice_index", pa.int32(), nullable=True),
        pa.field("height", pa.int32(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("n_fixations", pa.int32(), nullable=False),
        pa.field("total_duration_ms", pa.float64(), nullable=False),
        pa.field("n_readers", pa.int32(), nullable=False),
        pa.field("file", pa.string(), nullable=True),
    ]
)

TABLES: dict[str, tuple[pa.Schema, pa.Schema]] = {
    "fixations": (FIXATIONS, FIXATIONS_OPTIONAL),
    "samples": (SAMPLES, SAMPLES_OPTIONAL),
    "viewer_events": (VIEWER_EVENTS, pa.schema([])),
}


def _check_values(kind: str, df: pd.DataFrame, file: str | None) -> None:
    def fail(row: int | None, col: str, expected: str, got: Any) -> None:
        where = f"column {col!r}" if row is None else f"row {row}, column {col!r}"
        raise GazekitError(file, f"{kind} table, {where}", f"expected {expected}, got {got!r}")

    if kind == "fixations":
        bad = ~df["eye"].isin(EYES)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            fail(i, "eye", "one of " + "/".join(EYES), df["eye"].iloc[i])
        bad = ~df["detector"].isin(DETECTORS)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            fail(i, "detector", "one of " + "/".join(DETECTORS), df["detector"].iloc[i])
        for col in ("t_start_ms", "duration_ms"):
            v = df[col].to_numpy(dtype=float)
            bad = ~np.isfinite(v) | ((v < 0) if col == "duration_ms" else np.zeros(len(v), bool))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                fail(i, col, "a finite number" + (" >= 0" if col == "duration_ms" else ""), v[i])
        sid = df["session_id"].to_numpy()
        t = df["t_start_ms"].to_numpy(dtype=float)
        same = sid[1:] == sid[:-1]
        if (same & (np.diff(t) < 0)).any():
            i = int(np.flatnonzero(same & (np.diff(t) < 0))[0]) + 1
            fail(i, "t_start_ms", "rows sorted by session then time", t[i])
    elif kind == "viewer_events":
        bad = ~df["rotation_deg"].isin([0, 90, 180, 270])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            fail(i, "rotation_deg", "0, 90, 180 or 270", df["rotation_deg"].iloc[i])
        s = df["scale"].to_numpy(dtype=float)
        if (~(s > 0)).any():
            i = int(np.flatnonzero(~(s > 0))[0])
            fail(i, "scale", "a positive number", s[i])


def to_arrow(kind: str, df: pd.DataFrame, file: str | Path | None = None) -> pa.Table:
    """Validate ``df`` against the schema of table ``kind`` and return it as a pyarrow Table.

    Required columns must all be present; optional ones are kept when present; others are dropped.
    Raises GazekitError naming the column/row that does not fit.
    """
    required, optional = TABLES[kind]
    file = None if file is None else str(file)
    missing = [n for n in required.names if n not in df.columns]
    if missing:
        raise GazekitError(file, f"{kind} table", f"missing required column(s) {', '.join(missing)}")
    fields = list(required) + [f for f in optional if f.name in df.columns]
    arrays = []
    for field in fields:
        col = df[field.name]
        if not field.nullable and col.isna().any():
            i = int(np.flatnonzero(col.isna().to_numpy())[0])
            raise GazekitError(file, f"{kind} table, row {i}, column {field.name!r}", "expected a value, got none")
        try:
            if pa.types.is_integer(field.type):
                values = pd.array(col, dtype="Int64")
                arrays.append(pa.array(values, type=field.type, from_pandas=True))
            elif pa.types.is_floating(field.type):
                arrays.append(pa.array(pd.to_numeric(col).astype("float64"), type=field.type, from_pandas=True))
            elif pa.types.is_boolean(field.type):
                arrays.append(pa.array(col.astype(bool) if not field.nullable else col, type=field.type))
            else:
                arrays.append(pa.array(col.astype(object).where(col.notna(), None), type=field.type))
        except (TypeError, ValueError, pa.ArrowInvalid) as exc:
            raise GazekitError(file, f"{kind} table, column {field.name!r}", f"expected {field.type}: {exc}") from None
    _check_values(kind, df.reset_index(drop=True), file)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def write_table(kind: str, df: pd.DataFrame, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Validate and write table ``kind`` to Parquet atomically; ``meta`` goes under the ``gazekit`` key."""
    table = to_arrow(kind, df, path)
    info = {"table": kind, "gazekit_version": __version__, **(meta or {})}
    table = table.replace_schema_metadata({b"gazekit": json.dumps(info, default=_json_default).encode()})
    path = Path(path)
    with atomic_path(path, kind="file") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def read_table(kind: str, path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a table written by :func:`write_table`; returns (DataFrame, gazekit metadata)."""
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise GazekitError(path, None, "file not found") from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise GazekitError(path, None, f"expected a Parquet {kind} table, could not read it ({exc})") from None
    raw = (table.schema.metadata or {}).get(b"gazekit")
    meta = json.loads(raw) if raw else {}
    df = table.to_pandas()
    for field in TABLES[kind][0]:
        if pa.types.is_integer(field.type) and field.name in df.columns and field.nullable:
            df[field.name] = df[field.name].astype("Int64")
    to_arrow(kind, df, path)  # validates
    return df, meta


def empty(kind: str) -> pd.DataFrame:
    """An empty DataFrame with the required columns of table ``kind``."""
    return pa.Table.from_pylist([], schema=TABLES[kind][0]).to_pandas()


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def parquet_meta(path: str | Path) -> dict:
    """The ``gazekit`` metadata entry of a Parquet file ({} when absent or unreadable)."""
    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"gazekit")
    except (OSError, ValueError):
        return {}
    return json.loads(raw) if raw else {}
