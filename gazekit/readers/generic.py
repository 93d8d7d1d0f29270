"""Any CSV/TSV with one row per fixation, read through a column mapping (table column -> file column),
given as ``--columns t_start_ms=Start,duration_ms=Dur,x_px=X,y_px=Y`` or a YAML/JSON file.

Required: ``t_start_ms``, ``duration_ms`` and either ``x_px``/``y_px`` (image px), ``x_norm``/``y_norm``
(normalised to the image) or ``screen_x_px``/``screen_y_px`` (mapped with ``--image-rect``). Optional:
``session_id``, ``reader_id`` (pseudonymised), ``stimulus_id`` (extension dropped), ``pupil``, ``eye``,
``slice_index``, ``image_width_px``, ``image_height_px``. Never auto-detected: use ``--format generic``
or give a mapping.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.readers._delimited import check_not_truncated, iter_chunks, numbers, pseudonym, sniff_dialect
from gazekit.readers.base import ReadOptions, Recording, read_head

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


def sniff(head: str) -> bool:
    return False


def read(path: Path, opts: ReadOptions) -> Recording:
    mapping = dict(opts.column_map or {})
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
    for col in ("slice_index", "image_width_px", "image_height_px"):
        if col in fix:
            fix[col] = pd.array(fix[col].to_numpy(), dtype="Float64").round().astype("Int64")
    session = df[mapping["session_id"]].fillna("").astype(str).to_numpy() if "session_id" in mapping else path.stem
    fix["session_id"] = session
    if "reader_id" in mapping:
        fix["reader_id"] = [pseudonym(v) for v in df[mapping["reader_id"]].fillna("").astype(str)]
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
    sessions = {s: {"source": str(path)} for s in pd.unique(fix["session_id"])}
    return Recording(NAME, fixations=fix, sessions=sessions, warnings=warn)
