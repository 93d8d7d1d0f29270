"""Any CSV/TSV with one row per fixation, read through a column mapping (table column -> file column),
given as ``--columns t_start_ms=Start,duration_ms=Dur,x_px=X,y_px=Y`` or a YAML/JSON file.

Required: ``t_start_ms``, ``duration_ms`` and either ``x_px``/``y_px`` (image px), ``x_norm``/``y_norm``
(normalised to the image) or ``screen_x_px``/``screen_y_px`` (mapped with ``--image-rect``). Optional:
``session_id``, ``reader_id`` (pseudonymised), ``stimulus_id`` (extension dropped), ``pupil``, ``eye``,
``slice_index``, ``image_width_px``, ``image_height_px``. Never auto-detected: use ``--format generic``
or give a mapping.

The two time columns are in milliseconds unless ``--time-unit`` (``ReadOptions.time_unit``) says ``s``,
``us`` or ``ns``. Times that look like another unit (a session spanning more than a day, fixations shorter
than 1 ms, or starts closer than one sample at 10 kHz) give a one-line warning naming ``--time-unit``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.privacy import hash_name
from gazekit.readers._delimited import check_not_truncated, iter_chunks, numbers, sniff_dialect
from gazekit.readers.base import STIMULUS_VALUES_KEPT, ReadOptions, Recording, read_head

NAME = "generic"
NUMERIC = (
    "t_start_ms",
    "duration_ms",
    "x_px",
    "y_px",
    "x_norm",
    "y_norm",
    "screen_x_px",
    "screen_y_px",
    "pupil",
    "slice_index",
    "image_width_px",
    "image_height_px",
)
TEXT = ("session_id", "reader_id", "stimulus_id", "eye")
POSITIONS = (("x_px", "y_px"), ("x_norm", "y_norm"), ("screen_x_px", "screen_y_px"))
TIME_UNITS_MS = {"ms": 1.0, "s": 1e3, "us": 1e-3, "ns": 1e-6}  # --time-unit -> milliseconds per unit
MAX_SPAN_MS = 24 * 3600 * 1e3  # a session longer than a day is not one recording
MIN_MEDIAN_DURATION_MS = 1.0  # fixations last about 50-1000 ms; a median under 1 ms is another unit
MAX_RATE_HZ = 10_000.0  # starts closer than one sample of the fastest trackers


def sniff(head: str) -> bool:
    return False


def read(path: Path, opts: ReadOptions) -> Recording:
    mapping = dict(opts.column_map or {})
    if opts.time_unit not in TIME_UNITS_MS:
        raise GazekitError(None, "--time-unit", f"expected one of {', '.join(TIME_UNITS_MS)}, got {opts.time_unit!r}")
    unknown = sorted(set(mapping) - set(NUMERIC) - set(TEXT))
    if unknown:
        raise GazekitError(
            None, "--columns", f"expected table columns among {', '.join(NUMERIC + TEXT)}, got {', '.join(unknown)}"
        )
    needed = ["t_start_ms", "duration_ms"]
    if not any(a in mapping and b in mapping for a, b in POSITIONS):
        raise GazekitError(
            None, "--columns", "expected a position: x_px+y_px, x_norm+y_norm or screen_x_px+screen_y_px"
        )
    missing = [c for c in needed if c not in mapping]
    if missing:
        raise GazekitError(None, "--columns", f"expected a mapping for {', '.join(missing)}")
    dialect = sniff_dialect(path, read_head(path))
    absent = [f"{k}={v}" for k, v in mapping.items() if v not in dialect.columns]
    if absent:
        raise GazekitError(path, "header", f"missing column(s) named in --columns: {', '.join(absent)}")
    text = [mapping[c] for c in TEXT if c in mapping]
    warn: list[str] = []
    end = check_not_truncated(path, dialect, warn)
    chunks = list(iter_chunks(path, dialect, list(dict.fromkeys(mapping.values())), text, end=end))
    if not chunks:
        raise GazekitError(path, None, "expected fixation rows after the header, found none")
    df = pd.concat(chunks)
    fix = pd.DataFrame(index=range(len(df)))
    for col in NUMERIC:
        if col in mapping:
            required = col in needed
            fix[col] = numbers(path, df[mapping[col]], mapping[col], dialect.decimal, allow_missing=not required)
    fix["t_start_ms"] *= TIME_UNITS_MS[opts.time_unit]
    fix["duration_ms"] *= TIME_UNITS_MS[opts.time_unit]
    for col in ("slice_index", "image_width_px", "image_height_px"):
        if col in fix:
            fix[col] = pd.array(fix[col].to_numpy(), dtype="Float64").round().astype("Int64")
    session = df[mapping["session_id"]].fillna("").astype(str).to_numpy() if "session_id" in mapping else path.stem
    fix["session_id"] = session
    if "reader_id" in mapping:
        fix["reader_id"] = [hash_name(v, "reader") for v in df[mapping["reader_id"]].fillna("").astype(str)]
    if "stimulus_id" in mapping:
        fix["stimulus_id"] = [stimulus_id(v) for v in df[mapping["stimulus_id"]]]
    if "eye" in mapping:
        eye = df[mapping["eye"]].fillna("").astype(str).str.strip().str.lower().to_numpy()
        fix["eye"] = np.where(np.isin(eye, ["left", "right"]), eye, "both")
    fix["detector"] = "given"
    t = fix["t_start_ms"].to_numpy()
    codes, _ = pd.factorize(fix["session_id"])
    order = np.argsort(codes, kind="stable")
    back = (codes[order][1:] == codes[order][:-1]) & (np.diff(t[order]) < 0)
    if back.any():
        i = order[int(np.flatnonzero(back)[0]) + 1]
        raise GazekitError(
            path,
            f"line {df.index[i]}, column {mapping['t_start_ms']!r}",
            "expected fixation starts that do not decrease within a session",
        )
    warn.extend(time_unit_warnings(path, fix, codes, mapping, opts.time_unit))
    sessions = {s: {"source": str(path)} for s in pd.unique(fix["session_id"])}
    rec = Recording(NAME, fixations=fix, sessions=sessions, warnings=warn)
    if "stimulus_id" in mapping:
        values = df[mapping["stimulus_id"]].dropna().astype(str).str.strip()
        rec.stimulus_columns = {mapping["stimulus_id"]: [v for v in pd.unique(values) if v][:STIMULUS_VALUES_KEPT]}
    return rec


def time_unit_warnings(path: Path, fix: pd.DataFrame, codes: np.ndarray, mapping: dict, unit: str) -> list[str]:
    """At most one line when the times, read in ``unit``, imply an implausible recording: a session
    spanning more than a day, a median fixation under 1 ms, or starts at a rate above 10 kHz."""
    t = fix["t_start_ms"].to_numpy(float)
    end = t + np.nan_to_num(fix["duration_ms"].to_numpy(float))
    frame = pd.DataFrame({"s": codes, "t": t, "end": end})
    g = frame.groupby("s")
    span = float((g["end"].max() - g["t"].min()).max()) if len(frame) else 0.0
    steps = frame.sort_values(["s", "t"], kind="stable").groupby("s")["t"].diff().dropna()
    steps = steps[steps > 0]
    duration = float(np.nanmedian(fix["duration_ms"])) if fix["duration_ms"].notna().any() else np.nan
    problems = []
    if span > MAX_SPAN_MS:
        problems.append(f"a session spans {span / 3.6e6:,.1f} h")
    if duration < MIN_MEDIAN_DURATION_MS:
        problems.append(f"the median fixation lasts {duration:.3g} ms")
    if len(steps) and 1e3 / float(steps.median()) > MAX_RATE_HZ:
        problems.append(f"fixations start at {1e3 / float(steps.median()):,.0f} Hz")
    if not problems:
        return []
    others = ", ".join(u for u in TIME_UNITS_MS if u != unit)
    columns = f"{mapping['t_start_ms']!r}/{mapping['duration_ms']!r}"
    return [
        f"{path.name}: columns {columns} read as {unit}: {' and '.join(problems)}, implausible for a recording; "
        f"if the times are not in {unit}, give --time-unit ({others})"
    ]
