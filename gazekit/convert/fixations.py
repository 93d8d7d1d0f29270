"""What the fixation detectors share: samples -> per-eye streams -> fixation tables.

Input is a samples table (``t_ms, x_screen_px, y_screen_px, valid, pupil, eye``, optionally
``session_id``; one eye, an already combined ``both`` stream, or ``left`` + ``right`` rows at the same
times). Output is one row per fixation: ``t_start_ms, duration_ms, screen_x_px, screen_y_px, eye, pupil``
(+ ``session_id`` when the input has it), sorted by session then time.

Conventions shared by every detector (:mod:`gazekit.convert.ivt`, :mod:`gazekit.convert.idt`; all vectorised
numpy, deterministic):

- Positions are turned into degrees of visual angle with :meth:`Screen.px_to_deg` (per-axis arctangent
  from the screen centre); angular distances are Euclidean in that (x_deg, y_deg) plane.
- ``dt_ms`` is the median sample interval of a stream. A fixation made of samples i..j starts at
  ``t[i]`` and lasts ``t[j] - t[i] + dt_ms`` (each sample stands for one interval, as EyeLink counts).
- A sample is valid when ``valid`` is true and both coordinates are finite. Two consecutive rows more
  than ``max(gap_fill_max_ms, 1.5 dt_ms)`` apart (missing rows) are never joined into one fixation.
- Gap fill-in: a run of invalid samples between two valid ones is linearly interpolated (in time) when
  the span from the last valid sample before it to the first valid sample after it is
  ``<= gap_fill_max_ms``. Positions only; the mean pupil uses real samples.
- Eye selection (``eye``): ``average`` (the mean of both eyes where both are valid, the one valid eye
  otherwise; labelled ``both``), ``left``, ``right``, or ``both`` (each eye detected separately and
  labelled ``left``/``right``). A monocular stream is used as it is for ``average`` and ``both``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gazekit.errors import GazekitError
from gazekit.geometry import Screen

if TYPE_CHECKING:
    import pandas as pd

EYE_MODES = ("average", "left", "right", "both")
FIXATION_COLUMNS = ["t_start_ms", "duration_ms", "screen_x_px", "screen_y_px", "eye", "pupil"]


@dataclass(frozen=True)
class Stream:
    """One eye's (or the averaged) samples of one session, sorted by time."""

    eye: str
    t: np.ndarray
    x: np.ndarray  # px, NaN where invalid
    y: np.ndarray
    pupil: np.ndarray  # NaN where unknown or invalid


def check_positive(value: float, name: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise GazekitError(None, name, f"expected a positive number, got {value!r}")


def run_streams(samples: pd.DataFrame, screen: Screen | None, eye: str, per_stream) -> pd.DataFrame:
    import pandas as pd

    if screen is None or not screen.complete:
        raise GazekitError(
            None, "screen geometry", "needed for fixation detection: give --screen-px, --screen-mm, --distance-mm"
        )
    if eye not in EYE_MODES:
        raise GazekitError(None, "eye", f"expected one of {'/'.join(EYE_MODES)}, got {eye!r}")
    missing = [c for c in ("t_ms", "x_screen_px", "y_screen_px", "valid", "eye") if c not in samples.columns]
    if missing:
        raise GazekitError(None, "samples table", f"missing column(s) {', '.join(missing)}")
    has_session = "session_id" in samples.columns
    groups = samples.groupby("session_id", sort=True) if has_session else [(None, samples)]
    parts = []
    for sid, part in groups:
        for stream in _streams(part, eye):
            fix = per_stream(stream)
            if has_session:
                fix.insert(0, "session_id", sid)
            parts.append(fix)
    cols = (["session_id"] if has_session else []) + FIXATION_COLUMNS
    if not parts:
        return empty_table(cols)
    out = pd.concat(parts, ignore_index=True)[cols]
    keys = (["session_id"] if has_session else []) + ["t_start_ms"]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def empty_table(cols: list[str]) -> pd.DataFrame:
    import pandas as pd

    out = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    for c in ("eye", "session_id"):
        if c in out.columns:
            out[c] = out[c].astype(object)
    return out


def _stream_of(df: pd.DataFrame, eye: str) -> Stream:
    df = df.sort_values("t_ms", kind="stable")
    t = df["t_ms"].to_numpy(dtype=float)
    x = df["x_screen_px"].to_numpy(dtype=float, na_value=np.nan)
    y = df["y_screen_px"].to_numpy(dtype=float, na_value=np.nan)
    ok = df["valid"].to_numpy(dtype=bool, na_value=False) & np.isfinite(x) & np.isfinite(y)
    pupil = df["pupil"].to_numpy(dtype=float, na_value=np.nan) if "pupil" in df.columns else np.full(len(t), np.nan)
    return Stream(eye, t, np.where(ok, x, np.nan), np.where(ok, y, np.nan), np.where(ok, pupil, np.nan))


def _streams(df: pd.DataFrame, mode: str) -> list[Stream]:
    """Split one session's samples into the stream(s) to detect on, following eye mode ``mode``."""
    eyes = df["eye"].astype(str)
    present = [e for e in ("left", "right", "both") if (eyes == e).any()]
    if not present:
        return []
    if mode in ("left", "right"):
        if mode not in present:
            raise GazekitError(None, "eye", f"no {mode}-eye samples (the recording has {'/'.join(present)})")
        return [_stream_of(df[eyes == mode], mode)]
    binocular = "left" in present and "right" in present
    if mode == "both" or not binocular:
        return [_stream_of(df[eyes == e], e) for e in present]
    left = _stream_of(df[eyes == "left"], "left")
    right = _stream_of(df[eyes == "right"], "right")
    return [_average(left, right)] + ([_stream_of(df[eyes == "both"], "both")] if "both" in present else [])


def _average(a: Stream, b: Stream) -> Stream:
    """Tobii "Average": mean of both eyes where both are valid, else the valid one (rows joined on time)."""
    t = np.union1d(a.t, b.t)

    def on(s: Stream, v: np.ndarray) -> np.ndarray:
        out = np.full(len(t), np.nan)
        out[np.searchsorted(t, s.t)] = v
        return out

    def mean(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
        both = np.isfinite(va) & np.isfinite(vb)
        return np.where(both, (va + vb) / 2, np.where(np.isfinite(va), va, vb))

    x = mean(on(a, a.x), on(b, b.x))
    y = mean(on(a, a.y), on(b, b.y))
    return Stream("both", t, x, y, mean(on(a, a.pupil), on(b, b.pupil)))


def dt_ms(t: np.ndarray) -> float:
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def gap_fill(t: np.ndarray, v: np.ndarray, max_gap_ms: float) -> np.ndarray:
    """Linear interpolation (in time) of NaN runs whose valid neighbours are <= ``max_gap_ms`` apart."""
    bad = ~np.isfinite(v)
    if max_gap_ms <= 0 or not bad.any():
        return v
    n = len(v)
    idx = np.arange(n)
    prev = np.maximum.accumulate(np.where(~bad, idx, -1))
    nxt = np.minimum.accumulate(np.where(~bad, idx, n)[::-1])[::-1]
    fill = bad & (prev >= 0) & (nxt < n)
    p, q = prev[fill], nxt[fill]
    ok = (t[q] - t[p]) <= max_gap_ms
    p, q, where = p[ok], q[ok], np.flatnonzero(fill)[ok]
    out = v.copy()
    frac = (t[where] - t[p]) / (t[q] - t[p])
    out[where] = v[p] + (v[q] - v[p]) * frac
    return out


def connected(t: np.ndarray, dt: float, gap_fill_max_ms: float) -> np.ndarray:
    """``c[i]`` true when row i may join row i-1 in one fixation (no missing-row gap between them)."""
    c = np.ones(len(t), bool)
    c[0] = False
    c[1:] = np.diff(t) <= max(gap_fill_max_ms, 1.5 * dt)
    return c


def fixation_table(s: Stream, x: np.ndarray, y: np.ndarray, first: np.ndarray, last: np.ndarray, dt: float):
    """Fixations from sample index ranges [first, last]: start, duration, mean position (filled) and pupil."""
    import pandas as pd

    if len(first) == 0:
        return empty_table(FIXATION_COLUMNS)
    sx, cx = range_sums(x, first, last)
    sy, _ = range_sums(y, first, last)
    sp, cp = range_sums(s.pupil, first, last)
    t0 = s.t[first]
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.DataFrame(
            {
                "t_start_ms": t0,
                "duration_ms": s.t[last] - t0 + dt,
                "screen_x_px": sx / cx,
                "screen_y_px": sy / cx,
                "eye": np.full(len(first), s.eye, dtype=object),
                "pupil": np.where(cp > 0, sp / np.maximum(cp, 1), np.nan),
            }
        )


def range_sums(v: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sum and count of the finite values of ``v`` over each inclusive index range [first, last]."""
    fin = np.isfinite(v)
    if fin[first].all() and fin[last].all() and _all_finite_in(fin, first, last):
        cs = (
            np.concatenate([[0.0], np.cumsum(np.where(fin, v, 0.0)[first[0] : last[-1] + 1])])
            if len(first)
            else np.zeros(1)
        )
        lo, hi = first - first[0], last + 1 - first[0]
        return cs[hi] - cs[lo], last - first + 1
    cs = np.concatenate([[0.0], np.cumsum(np.where(fin, v, 0.0))])
    cn = np.concatenate([[0], np.cumsum(fin)])
    return cs[last + 1] - cs[first], cn[last + 1] - cn[first]


def _all_finite_in(fin: np.ndarray, first: np.ndarray, last: np.ndarray) -> bool:
    """True when every value inside the ranges is finite (the common case for fixation samples)."""
    bad = np.flatnonzero(~fin)
    if len(bad) == 0:
        return True
    k = np.searchsorted(first, bad, side="right") - 1  # the range starting at or before each bad index
    return not ((k >= 0) & (bad <= last[np.maximum(k, 0)])).any()
