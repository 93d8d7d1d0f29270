"""Fixation reports: EyeLink Data Viewer / GazeMedSeg style, one row per fixation
(``CURRENT_FIX_X``, ``CURRENT_FIX_Y``, ``CURRENT_FIX_DURATION``, ``CURRENT_FIX_START``, ``IMAGE`` or a
trial column, optional ``IMAGE_WIDTH``/``IMAGE_HEIGHT``, ``CURRENT_FIX_PUPIL``, ``EYE_USED``).

Coordinates are either px or normalised to the image; the reader decides from the values (all within
[0, 1] -> normalised) and says which in a warning. ``CURRENT_FIX_START`` counts from the trial's
start, so each trial is its own session unless ``TRIAL_START_TIME`` puts the trials on one clock.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.privacy import hash_name
from gazekit.readers._delimited import (
    check_not_truncated,
    header_names,
    iter_chunks,
    numbers,
    sniff_dialect,
)
from gazekit.readers.base import ReadOptions, Recording, read_head

NAME = "fixation-report"
_REQUIRED = ("CURRENT_FIX_X", "CURRENT_FIX_Y", "CURRENT_FIX_DURATION", "CURRENT_FIX_START")
_TRIAL = ("TRIAL_INDEX", "TRIAL_LABEL", "IMAGE")
_OPTIONAL_NUM = ("CURRENT_FIX_PUPIL", "IMAGE_WIDTH", "IMAGE_HEIGHT", "TRIAL_START_TIME", "CURRENT_FIX_INDEX")
_TEXT = ("IMAGE", "TRIAL_LABEL", "RECORDING_SESSION_LABEL", "EYE_USED", "TRIAL_INDEX")


def sniff(head: str) -> bool:
    names = {c.upper() for c in header_names(head)}
    return {"CURRENT_FIX_X", "CURRENT_FIX_Y"} <= names


def read(path: Path, opts: ReadOptions) -> Recording:
    dialect = sniff_dialect(path, read_head(path))
    by_upper = {c.upper(): c for c in dialect.columns}
    for name in _REQUIRED:
        if name not in by_upper:
            raise GazekitError(path, "header", f"missing required column {name!r} (fixation report)")
    trial = next((by_upper[n] for n in _TRIAL if n in by_upper), None)
    if trial is None:
        raise GazekitError(path, "header", f"missing a trial column: expected one of {', '.join(_TRIAL)}")
    usecols = [by_upper[n] for n in (*_REQUIRED, *_OPTIONAL_NUM, *_TEXT) if n in by_upper]
    text = [by_upper[n] for n in _TEXT if n in by_upper]
    warnings = []
    end = check_not_truncated(path, dialect, warnings)
    chunks = list(iter_chunks(path, dialect, list(dict.fromkeys(usecols)), text, end=end))
    if not chunks:
        raise GazekitError(path, None, "expected fixation rows after the header, found none")
    df = pd.concat(chunks)

    def num(name: str, required: bool) -> np.ndarray:
        col = by_upper[name]
        return numbers(path, df[col], col, dialect.decimal, allow_missing=not required)

    x, y = num("CURRENT_FIX_X", True), num("CURRENT_FIX_Y", True)
    t_ms, dur = num("CURRENT_FIX_START", True), num("CURRENT_FIX_DURATION", True)
    if (dur < 0).any():
        i = int(np.flatnonzero(dur < 0)[0])
        raise GazekitError(
            path,
            f"line {df.index[i]}, column {by_upper['CURRENT_FIX_DURATION']!r}",
            f"expected a duration >= 0, got {dur[i]:g}",
        )
    label_col = by_upper.get("RECORDING_SESSION_LABEL")
    label = df[label_col].fillna("").astype(str).to_numpy(object) if label_col else np.full(len(df), path.stem, object)
    trials = df[trial].fillna("").astype(str).to_numpy(object)
    if "TRIAL_START_TIME" in by_upper:
        t_ms = t_ms + num("TRIAL_START_TIME", True)
        session = label
    else:
        stems = (
            np.array([stimulus_id(v) or v for v in trials], dtype=object) if trial == by_upper.get("IMAGE") else trials
        )
        session = np.array([f"{a}/{b}" for a, b in zip(label, stems, strict=True)], dtype=object)
    _check_monotonic(path, by_upper["CURRENT_FIX_START"], session, t_ms, df.index.to_numpy())

    fix = pd.DataFrame(
        {
            "session_id": session,
            "reader_id": [hash_name(v, "reader") for v in label] if label_col else "",
            "stimulus_id": [stimulus_id(v) for v in df[by_upper["IMAGE"]]] if "IMAGE" in by_upper else "",
            "t_start_ms": t_ms,
            "duration_ms": dur,
            "pupil": num("CURRENT_FIX_PUPIL", False) if "CURRENT_FIX_PUPIL" in by_upper else np.nan,
            "detector": "vendor",
        }
    )
    if "EYE_USED" in by_upper:
        eye = df[by_upper["EYE_USED"]].fillna("").astype(str).str.strip().str.lower()
        fix["eye"] = eye.where(eye.isin(["left", "right"]), "both").to_numpy()
    size = {}
    for name, out in (("IMAGE_WIDTH", "image_width_px"), ("IMAGE_HEIGHT", "image_height_px")):
        if name in by_upper:
            v = num(name, False)
            bad = np.isfinite(v) & ((v <= 0) | (v != np.round(v)) | (v > np.iinfo(np.int32).max))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise GazekitError(
                    path,
                    f"line {df.index[i]}, column {by_upper[name]!r}",
                    f"expected a whole number of pixels in 1..{np.iinfo(np.int32).max}, got {v[i]:g}",
                )
            fix[out] = pd.array(np.where(np.isfinite(v), v, np.nan), dtype="Float64").astype("Int64")
            size[out] = v
    finite = np.isfinite(x) & np.isfinite(y)
    normalised = bool(finite.any()) and bool(
        ((x[finite] >= 0) & (x[finite] <= 1) & (y[finite] >= 0) & (y[finite] <= 1)).all()
    )
    if normalised:
        fix["x_norm"], fix["y_norm"] = x, y
        what = "normalised to the image (all within [0, 1])"
        how = "converted to image px with IMAGE_WIDTH/IMAGE_HEIGHT" if size else "need the image size (--image-size)"
    else:
        fix["x_px"], fix["y_px"] = x, y
        what, how = "in pixels (values beyond 1)", "taken as image px unless --image-rect places the image on screen"
        fix["screen_x_px"], fix["screen_y_px"] = x, y
    warnings.append(f"{path}: CURRENT_FIX_X/Y are {what}; {how}")
    sessions = {
        s: {"reader_id": hash_name(lab, "reader") if label_col else "", "source": str(path)}
        for s, lab in zip(session, label, strict=True)
    }
    stimuli = {}
    if len(size) == 2:
        first = fix.drop_duplicates("stimulus_id")
        stimuli = {
            s: {"width": int(w), "height": int(h)}
            for s, w, h in zip(first["stimulus_id"], first["image_width_px"], first["image_height_px"], strict=True)
            if s and not pd.isna(w) and not pd.isna(h)
        }
    return Recording(NAME, fixations=fix, sessions=sessions, stimuli=stimuli, warnings=warnings)


def _check_monotonic(path: Path, column: str, session: np.ndarray, t_ms: np.ndarray, lines: np.ndarray) -> None:
    codes, _ = pd.factorize(pd.Series(session))
    order = np.argsort(codes, kind="stable")
    c, t = codes[order], t_ms[order]
    back = (c[1:] == c[:-1]) & (np.diff(t) < 0)
    if back.any():
        i = int(np.flatnonzero(back)[0]) + 1
        line = lines[order[i]]
        raise GazekitError(
            path,
            f"line {line}, column {column!r}",
            f"expected fixation starts that do not decrease within a trial, got {t[i]:g} after {t[i - 1]:g}",
        )
