"""Schemas of every table gazekit writes, their validation, and atomic Parquet I/O (the one place).

In memory a table is a ``pandas.DataFrame`` or, on the path of ``gazekit convert``, :data:`Columns`: a dict of
equally long NumPy arrays (text as object arrays, None where missing; numbers as float64, NaN where missing,
nullable integers included; flags as bool), so that converting a Tobii export never imports pandas. On disk it
is Parquet written with the pyarrow schema below, plus a ``gazekit`` JSON entry in the file metadata (version,
parameters, stimuli, quality). The JSON Schemas in ``schemas/`` describe the same columns (a test keeps both in
step). pandas is imported by the functions that take or return a DataFrame, when they run.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pyarrow as pa

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.version import __version__

if TYPE_CHECKING:
    import pandas as pd

Columns: TypeAlias = dict[str, np.ndarray]  # a table as equally long columns (see the module docstring)

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


def _check_values(kind: str, col, file: str | None) -> None:
    """The value rules of table ``kind``; ``col(name)`` gives a column as a NumPy array."""

    def fail(row: int | None, name: str, expected: str, got: Any) -> None:
        where = f"column {name!r}" if row is None else f"row {row}, column {name!r}"
        raise GazekitError(file, f"{kind} table, {where}", f"expected {expected}, got {got!r}")

    def first(bad: np.ndarray) -> int:
        return int(np.flatnonzero(bad)[0])

    if kind == "fixations":
        for name, allowed in (("eye", EYES), ("detector", DETECTORS)):
            values = col(name)
            bad = ~np.isin(values, np.array(allowed, dtype=object))
            if bad.any():
                fail(first(bad), name, "one of " + "/".join(allowed), values[first(bad)])
        for name in ("t_start_ms", "duration_ms"):
            v = col(name).astype(float)
            bad = ~np.isfinite(v) | ((v < 0) if name == "duration_ms" else np.zeros(len(v), bool))
            if bad.any():
                fail(first(bad), name, "a finite number" + (" >= 0" if name == "duration_ms" else ""), v[first(bad)])
        sid = col("session_id")
        t = col("t_start_ms").astype(float)
        same = sid[1:] == sid[:-1]
        if (same & (np.diff(t) < 0)).any():
            i = first(same & (np.diff(t) < 0)) + 1
            fail(i, "t_start_ms", "rows sorted by session then time", t[i])
    elif kind == "viewer_events":
        values = col("rotation_deg")
        bad = ~np.isin(values, [0, 90, 180, 270])
        if bad.any():
            fail(first(bad), "rotation_deg", "0, 90, 180 or 270", values[first(bad)])
        s = col("scale").astype(float)
        if (~(s > 0)).any():
            fail(first(~(s > 0)), "scale", "a positive number", s[first(~(s > 0))])


def to_arrow(kind: str, table: pd.DataFrame | Columns, file: str | Path | None = None) -> pa.Table:
    """Validate ``table`` (a DataFrame or :data:`Columns`) against the schema of table ``kind`` and return it as a
    pyarrow Table.

    Required columns must all be present; optional ones are kept when present; others are dropped.
    Raises GazekitError naming the column/row that does not fit.
    """
    required, optional = TABLES[kind]
    file = None if file is None else str(file)
    frame = not isinstance(table, dict)
    names = set(table.columns if frame else table)
    missing = [n for n in required.names if n not in names]
    if missing:
        raise GazekitError(file, f"{kind} table", f"missing required column(s) {', '.join(missing)}")
    fields = list(required) + [f for f in optional if f.name in names]
    arrays = []
    for field in fields:
        col = table[field.name]
        null = col.isna().to_numpy() if frame else _nulls(col)
        if not field.nullable and null.any():
            i = int(np.flatnonzero(null)[0])
            raise GazekitError(file, f"{kind} table, row {i}, column {field.name!r}", "expected a value, got none")
        try:
            arrays.append(_frame_array(col, field) if frame else _column_array(col, null, field))
        except (TypeError, ValueError, pa.ArrowInvalid) as exc:
            raise GazekitError(file, f"{kind} table, column {field.name!r}", f"expected {field.type}: {exc}") from None
    _check_values(kind, (lambda n: table[n].to_numpy()) if frame else table.__getitem__, file)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _nulls(values: np.ndarray) -> np.ndarray:
    """Where a column of :data:`Columns` is missing: None in object arrays, NaN in float arrays."""
    values = np.asarray(values)
    if values.dtype == object:
        return np.asarray((values == None) | (values != values), dtype=bool)  # noqa: E711 - elementwise
    if values.dtype.kind == "f":
        return np.isnan(values)
    return np.zeros(len(values), bool)


def _column_array(values: np.ndarray, null: np.ndarray, field: pa.Field) -> pa.Array:
    """One column of :data:`Columns` as an array of ``field``'s type (what :func:`_frame_array` does for pandas),
    built from its buffers (``pa.array`` would import pandas)."""
    values = np.asarray(values)
    n = len(values)
    validity = pa.py_buffer(np.packbits(~null, bitorder="little")) if null.any() else None
    if pa.types.is_integer(field.type):
        if values.dtype == object:
            values = np.array([np.nan if v is None else v for v in values.tolist()], dtype=float)
        kept = values[~null]
        if values.dtype.kind == "f" and (kept != np.round(kept)).any():
            bad = kept[kept != np.round(kept)][0]
            raise TypeError(f"cannot safely cast non-equivalent float64 to int64 ({bad!r})")
        dtype = np.dtype(f"<i{field.type.bit_width // 8}")
        if len(kept) and (kept.min() < np.iinfo(dtype).min or kept.max() > np.iinfo(dtype).max):
            raise ValueError(f"integer value out of bounds of {field.type}")
        data = pa.py_buffer(np.where(null, 0, values).astype(dtype))
    elif pa.types.is_floating(field.type):
        data = pa.py_buffer(np.ascontiguousarray(values, dtype=np.float64))
    elif pa.types.is_boolean(field.type):
        data = pa.py_buffer(np.packbits(values.astype(bool), bitorder="little"))
    else:
        texts = ["" if v is None else v for v in values.tolist()]
        wrong = next((v for v in texts if not isinstance(v, str)), None)
        if wrong is not None:
            raise TypeError(f"Expected bytes, got a {type(wrong).__name__!r} object")
        encoded = [t.encode("utf-8") for t in texts]
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum([len(b) for b in encoded], out=offsets[1:])
        return pa.Array.from_buffers(
            field.type, n, [validity, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))], int(null.sum())
        )
    return pa.Array.from_buffers(field.type, n, [validity, data], int(null.sum()))


def _frame_array(col: pd.Series, field: pa.Field) -> pa.Array:
    """One DataFrame column as an array of ``field``'s type."""
    import pandas as pd

    if pa.types.is_integer(field.type):
        values = pd.array(col, dtype="Int64")
        return pa.array(values, type=field.type, from_pandas=True)
    if pa.types.is_floating(field.type):
        return pa.array(pd.to_numeric(col).astype("float64"), type=field.type, from_pandas=True)
    if pa.types.is_boolean(field.type):
        return pa.array(col.astype(bool) if not field.nullable else col, type=field.type)
    return pa.array(col.astype(object).where(col.notna(), None), type=field.type)


def write_table(kind: str, df: pd.DataFrame | Columns, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Validate and write table ``kind`` (a DataFrame or :data:`Columns`) to Parquet atomically; ``meta`` goes under
    the ``gazekit`` key."""
    import pyarrow.parquet as pq

    table = to_arrow(kind, df, path)
    info = {"table": kind, "gazekit_version": __version__, **(meta or {})}
    table = table.replace_schema_metadata({b"gazekit": json.dumps(info, default=_json_default).encode()})
    path = Path(path)
    with atomic_path(path, kind="file") as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return path


def read_table(kind: str, path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a table written by :func:`write_table`; returns (DataFrame, gazekit metadata)."""
    import pyarrow.parquet as pq

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
    import pyarrow.parquet as pq

    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"gazekit")
    except (OSError, ValueError):
        return {}
    return json.loads(raw) if raw else {}


# --- Columns: the convert path's tables without pandas -------------------------------------------------------


def n_rows(cols: Columns) -> int:
    return len(next(iter(cols.values()))) if cols else 0


def take(cols: Columns, rows: np.ndarray) -> Columns:
    """The rows at positions ``rows`` (in that order) of every column."""
    return {name: values[rows] for name, values in cols.items()}


def concat(parts: list[Columns]) -> Columns:
    """Tables one after the other; a column some parts lack is empty there (NaN, or None for text and flags)."""
    names = list(dict.fromkeys(name for part in parts for name in part))
    out = {}
    for name in names:
        have = [part[name] for part in parts if name in part]
        numeric = all(np.asarray(v).dtype.kind in "iuf" for v in have)
        out[name] = np.concatenate(
            [
                part[name]
                if name in part
                else np.full(n_rows(part), np.nan if numeric else None, float if numeric else object)
                for part in parts
            ]
        )
    return out


def empty_columns(kind: str) -> Columns:
    """An empty table of the required columns of table ``kind``."""
    return {f.name: np.array([], dtype=_NUMPY_TYPES.get(str(f.type), object)) for f in TABLES[kind][0]}


_NUMPY_TYPES = {"double": np.float64, "int32": np.float64, "bool": bool}  # nullable integers as float64 (NaN)


def columns_of(df: pd.DataFrame) -> Columns:
    """A DataFrame as :data:`Columns`: NumPy numbers and flags as they are, nullable numbers (Int64, Float64) as
    float64 with NaN, everything else as an object array with None where missing."""
    import pandas as pd

    out = {}
    for name in df.columns:
        col = df[name]
        if isinstance(col.dtype, np.dtype) and col.dtype.kind in "iufb":
            out[name] = col.to_numpy()
        elif pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype):
            out[name] = col.to_numpy(dtype=float, na_value=np.nan)
        else:
            out[name] = col.astype(object).where(col.notna(), None).to_numpy(dtype=object)
    return out


def to_frame(cols: Columns, kind: str | None = None) -> pd.DataFrame:
    """:data:`Columns` as a DataFrame; the nullable integer columns of table ``kind`` as Int64."""
    import pandas as pd

    df = pd.DataFrame(cols)
    if kind is not None:
        for field in (*TABLES[kind][0], *TABLES[kind][1]):
            if pa.types.is_integer(field.type) and field.nullable and field.name in df:
                df[field.name] = pd.array(
                    df[field.name].to_numpy(dtype=float, na_value=np.nan), dtype="Float64"
                ).astype("Int64")
    return df
