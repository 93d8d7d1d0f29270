"""Fixation detection on raw gaze samples: I-VT (Tobii's default filter) and I-DT (Salvucci & Goldberg).

Input is a samples table (``t_ms, x_screen_px, y_screen_px, valid, pupil, eye``, optionally
``session_id``; one eye, an already combined ``both`` stream, or ``left`` + ``right`` rows at the same
times). Output is one row per fixation: ``t_start_ms, duration_ms, screen_x_px, screen_y_px, eye, pupil``
(+ ``session_id`` when the input has it), sorted by session then time.

Conventions shared by both detectors (all vectorised numpy, deterministic):

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

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.ndimage import maximum_filter1d, minimum_filter1d

from gazekit.errors import GazekitError
from gazekit.geometry import Screen

EYE_MODES = ("average", "left", "right", "both")
FIXATION_COLUMNS = ["t_start_ms", "duration_ms", "screen_x_px", "screen_y_px", "eye", "pupil"]


@dataclass(frozen=True)
class IVTParams:
    """I-VT with Tobii's published default filter (Olsen 2012, "The Tobii I-VT Fixation Filter").

    Set ``gap_fill_max_ms=0`` (no gap fill-in), ``merge_max_gap_ms=0`` (no merging) and
    ``min_duration_ms=0`` (no discarding) for a plain Salvucci-Goldberg I-VT.
    """

    velocity_threshold_deg_s: float = 30.0  # a sample is a fixation sample when its velocity is below
    velocity_window_ms: float = 20.0  # velocity = angle between the window's end samples / their time span
    gap_fill_max_ms: float = 75.0  # interpolate lost-data gaps up to this span
    eye: str = "average"
    merge_max_gap_ms: float = 75.0  # merge neighbours at most this far apart in time ...
    merge_max_angle_deg: float = 0.5  # ... and at most this far apart in space
    min_duration_ms: float = 60.0  # discard shorter fixations (after merging)


@dataclass(frozen=True)
class IDTParams:
    """I-DT (Salvucci & Goldberg 2000): dispersion ``(max x - min x) + (max y - min y)`` in degrees."""

    dispersion_threshold_deg: float = 1.0
    min_duration_ms: float = 100.0
    gap_fill_max_ms: float = 0.0  # off by default (plain I-DT); same meaning as in I-VT
    eye: str = "average"


@dataclass(frozen=True)
class _Stream:
    """One eye's (or the averaged) samples of one session, sorted by time."""

    eye: str
    t: np.ndarray
    x: np.ndarray  # px, NaN where invalid
    y: np.ndarray
    pupil: np.ndarray  # NaN where unknown or invalid


def ivt(samples: pd.DataFrame, screen: Screen, params: IVTParams = IVTParams()) -> pd.DataFrame:
    """Velocity-threshold fixations (Tobii I-VT defaults); see the module docstring for conventions.

    Steps: eye selection, gap fill-in (<= ``gap_fill_max_ms``), velocity over ``velocity_window_ms``
    [deg/s], samples below ``velocity_threshold_deg_s`` grouped into runs, neighbouring fixations merged
    (gap <= ``merge_max_gap_ms`` and <= ``merge_max_angle_deg`` apart, judged pairwise on the unmerged
    fixations), fixations shorter than ``min_duration_ms`` discarded.
    """
    _check_positive(params.velocity_threshold_deg_s, "velocity_threshold_deg_s")
    _check_positive(params.velocity_window_ms, "velocity_window_ms")
    return _run(samples, screen, params.eye, lambda s: _ivt_stream(s, screen, params))


def idt(samples: pd.DataFrame, screen: Screen, params: IDTParams = IDTParams()) -> pd.DataFrame:
    """Dispersion-threshold fixations (Salvucci & Goldberg 2000); see the module docstring for conventions.

    A window of samples covering ``min_duration_ms`` whose dispersion [deg] is ``<=
    dispersion_threshold_deg`` starts a fixation; it grows sample by sample while the dispersion stays
    ``<=`` the threshold (and no invalid sample or time break is met); the next window starts at the
    first sample left out. Windows that fail move on by one sample.
    """
    _check_positive(params.dispersion_threshold_deg, "dispersion_threshold_deg")
    _check_positive(params.min_duration_ms, "min_duration_ms")
    return _run(samples, screen, params.eye, lambda s: _idt_stream(s, screen, params))


DETECTORS = {"ivt": (ivt, IVTParams), "idt": (idt, IDTParams)}


def detect(samples: pd.DataFrame, screen: Screen, method: str, **overrides) -> pd.DataFrame:
    """Run detector ``method`` ("ivt" or "idt") with its default parameters changed by ``overrides``.

    ``overrides`` are field names of :class:`IVTParams` / :class:`IDTParams` (e.g. ``eye="left"``).
    """
    if method not in DETECTORS:
        raise GazekitError(None, "--detect", f"expected one of {', '.join(DETECTORS)}, got {method!r}")
    return DETECTORS[method][0](samples, screen, make_params(method, **overrides))


def make_params(method: str, **overrides) -> IVTParams | IDTParams:
    """The parameter dataclass of ``method`` with ``overrides`` applied (unknown names -> GazekitError)."""
    params_cls = DETECTORS[method][1]
    names = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise GazekitError(None, f"{method} parameters", f"expected some of {', '.join(sorted(names))}, got {unknown}")
    return params_cls(**overrides)


def parse_params(method: str, items: tuple[str, ...] | list[str]) -> dict:
    """``["velocity_threshold_deg_s=40", "eye=left"]`` -> typed overrides for ``method``'s parameters."""
    if method not in DETECTORS:
        raise GazekitError(None, "--detect", f"expected one of {', '.join(DETECTORS)}, got {method!r}")
    types = {f.name: type(f.default) for f in dataclasses.fields(DETECTORS[method][1])}
    out: dict = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in types:
            raise GazekitError(
                None, "--detect-param", f"expected NAME=VALUE with NAME in {', '.join(types)}, got {item!r}"
            )
        try:
            out[name] = types[name](value.strip())
        except ValueError:
            raise GazekitError(
                None, "--detect-param", f"expected a {types[name].__name__} for {name}, got {value!r}"
            ) from None
    make_params(method, **out)
    return out


# --- shared preprocessing -------------------------------------------------------------------------------


def _check_positive(value: float, name: str) -> None:
    if not (np.isfinite(value) and value > 0):
        raise GazekitError(None, name, f"expected a positive number, got {value!r}")


def _run(samples: pd.DataFrame, screen: Screen | None, eye: str, per_stream) -> pd.DataFrame:
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
        return _empty(cols)
    out = pd.concat(parts, ignore_index=True)[cols]
    keys = (["session_id"] if has_session else []) + ["t_start_ms"]
    return out.sort_values(keys, kind="stable").reset_index(drop=True)


def _empty(cols: list[str]) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    for c in ("eye", "session_id"):
        if c in out.columns:
            out[c] = out[c].astype(object)
    return out


def _stream_of(df: pd.DataFrame, eye: str) -> _Stream:
    df = df.sort_values("t_ms", kind="stable")
    t = df["t_ms"].to_numpy(dtype=float)
    x = df["x_screen_px"].to_numpy(dtype=float, na_value=np.nan)
    y = df["y_screen_px"].to_numpy(dtype=float, na_value=np.nan)
    ok = df["valid"].to_numpy(dtype=bool, na_value=False) & np.isfinite(x) & np.isfinite(y)
    pupil = df["pupil"].to_numpy(dtype=float, na_value=np.nan) if "pupil" in df.columns else np.full(len(t), np.nan)
    return _Stream(eye, t, np.where(ok, x, np.nan), np.where(ok, y, np.nan), np.where(ok, pupil, np.nan))


def _streams(df: pd.DataFrame, mode: str) -> list[_Stream]:
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


def _average(a: _Stream, b: _Stream) -> _Stream:
    """Tobii "Average": mean of both eyes where both are valid, else the valid one (rows joined on time)."""
    t = np.union1d(a.t, b.t)

    def on(s: _Stream, v: np.ndarray) -> np.ndarray:
        out = np.full(len(t), np.nan)
        out[np.searchsorted(t, s.t)] = v
        return out

    def mean(va: np.ndarray, vb: np.ndarray) -> np.ndarray:
        both = np.isfinite(va) & np.isfinite(vb)
        return np.where(both, (va + vb) / 2, np.where(np.isfinite(va), va, vb))

    x = mean(on(a, a.x), on(b, b.x))
    y = mean(on(a, a.y), on(b, b.y))
    return _Stream("both", t, x, y, mean(on(a, a.pupil), on(b, b.pupil)))


def _dt_ms(t: np.ndarray) -> float:
    d = np.diff(t)
    d = d[d > 0]
    return float(np.median(d)) if len(d) else 1.0


def _gap_fill(t: np.ndarray, v: np.ndarray, max_gap_ms: float) -> np.ndarray:
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


def _connected(t: np.ndarray, dt: float, gap_fill_max_ms: float) -> np.ndarray:
    """``c[i]`` true when row i may join row i-1 in one fixation (no missing-row gap between them)."""
    c = np.ones(len(t), bool)
    c[0] = False
    c[1:] = np.diff(t) <= max(gap_fill_max_ms, 1.5 * dt)
    return c


def _fixation_table(s: _Stream, x: np.ndarray, y: np.ndarray, first: np.ndarray, last: np.ndarray, dt: float):
    """Fixations from sample index ranges [first, last]: start, duration, mean position (filled) and pupil."""
    if len(first) == 0:
        return _empty(FIXATION_COLUMNS)
    sx, cx = _range_sums(x, first, last)
    sy, _ = _range_sums(y, first, last)
    sp, cp = _range_sums(s.pupil, first, last)
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


def _range_sums(v: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


# --- I-VT -----------------------------------------------------------------------------------------------


def velocity_deg_s(t: np.ndarray, x_deg: np.ndarray, y_deg: np.ndarray, window_ms: float) -> np.ndarray:
    """Angular velocity [deg/s] of each sample over a centred window of ``window_ms``.

    The window spans ``h = max(1, round(window_ms / (2 dt)))`` samples on each side (clipped at the
    ends); velocity = distance between its end samples [deg] / their time difference [s]. NaN when an
    end sample is invalid. With ``h = 1`` this is pymovements' ``pos2vel(method="neighbors")``.
    """
    n = len(t)
    if n < 2:
        return np.full(n, np.nan)
    h = min(max(1, int(round(window_ms / (2 * _dt_ms(t))))), n - 1)
    v = np.full(n, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if n > 2 * h:  # interior: window [i - h, i + h] as slices (no gathers)
            dx, dy = x_deg[2 * h :] - x_deg[: -2 * h], y_deg[2 * h :] - y_deg[: -2 * h]
            v[h : n - h] = np.hypot(dx, dy) / ((t[2 * h :] - t[: -2 * h]) / 1000.0)
        edge = np.r_[0 : min(h, n), max(n - h, h) : n]  # windows clipped at the ends
        a, b = np.maximum(edge - h, 0), np.minimum(edge + h, n - 1)
        v[edge] = np.hypot(x_deg[b] - x_deg[a], y_deg[b] - y_deg[a]) / ((t[b] - t[a]) / 1000.0)
    v[~np.isfinite(v)] = np.nan
    return v


def _ivt_stream(s: _Stream, screen: Screen, p: IVTParams) -> pd.DataFrame:
    if len(s.t) < 2:
        return _empty(FIXATION_COLUMNS)
    dt = _dt_ms(s.t)
    x = _gap_fill(s.t, s.x, p.gap_fill_max_ms)
    y = _gap_fill(s.t, s.y, p.gap_fill_max_ms)
    xd, yd = screen.px_to_deg(x, y)
    v = velocity_deg_s(s.t, xd, yd, p.velocity_window_ms)
    fix = (v < p.velocity_threshold_deg_s) & np.isfinite(xd) & np.isfinite(yd)  # NaN -> False
    join = fix & np.concatenate([[False], fix[:-1]]) & _connected(s.t, dt, p.gap_fill_max_ms)
    first = np.flatnonzero(fix & ~join)
    nxt_join = np.concatenate([join[1:], [False]])
    last = np.flatnonzero(fix & ~nxt_join)
    if p.merge_max_gap_ms > 0 and len(first) > 1:
        first, last = _merge(s.t, xd, yd, first, last, dt, p)
    out = _fixation_table(s, x, y, first, last, dt)
    return out[out["duration_ms"] >= p.min_duration_ms].reset_index(drop=True)


def _merge(t, xd, yd, first, last, dt, p: IVTParams) -> tuple[np.ndarray, np.ndarray]:
    """Merge consecutive fixations <= merge_max_gap_ms and <= merge_max_angle_deg apart (pairwise test)."""
    sx, c = _range_sums(xd, first, last)
    sy, _ = _range_sums(yd, first, last)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = sx / c, sy / c
    gap_ms = t[first[1:]] - (t[last[:-1]] + dt)
    angle = np.hypot(np.diff(mx), np.diff(my))
    merge = (gap_ms <= p.merge_max_gap_ms) & (angle <= p.merge_max_angle_deg)  # NaN angle -> no merge
    keep_start = np.concatenate([[True], ~merge])
    group_end = np.concatenate([~merge, [True]])
    return first[keep_start], last[group_end]


# --- I-DT -----------------------------------------------------------------------------------------------


def _idt_stream(s: _Stream, screen: Screen, p: IDTParams) -> pd.DataFrame:
    n = len(s.t)
    dt = _dt_ms(s.t) if n > 1 else 1.0
    k = max(2, int(np.ceil(p.min_duration_ms / dt - 1e-9)))
    if n < k:
        return _empty(FIXATION_COLUMNS)
    x = _gap_fill(s.t, s.x, p.gap_fill_max_ms)
    y = _gap_fill(s.t, s.y, p.gap_fill_max_ms)
    xd, yd = screen.px_to_deg(x, y)
    # barrier[i]: sample i cannot be inside a window that also holds sample i-1 (invalid or time break)
    bad = ~(np.isfinite(xd) & np.isfinite(yd))
    broken = ~_connected(s.t, dt, p.gap_fill_max_ms)
    broken[0] = False
    # a window [s, s+k) is usable when it has no invalid sample and no break after its first sample
    cbad = np.concatenate([[0], np.cumsum(bad)])
    cbrk = np.concatenate([[0], np.cumsum(broken)])
    starts = np.arange(n - k + 1)
    clean = (cbad[starts + k] - cbad[starts] == 0) & (cbrk[starts + k] - cbrk[starts + 1] == 0)
    x0, y0 = np.where(bad, 0.0, xd), np.where(bad, 0.0, yd)
    c = k // 2  # scipy's window of size k centred at i covers [i - k//2, i - k//2 + k)
    disp = (
        maximum_filter1d(x0, k)[starts + c]
        - minimum_filter1d(x0, k)[starts + c]
        + maximum_filter1d(y0, k)[starts + c]
        - minimum_filter1d(y0, k)[starts + c]
    )
    ok_starts = np.flatnonzero(clean & (disp <= p.dispersion_threshold_deg))
    stop = bad | broken  # extension stops before such a sample
    firsts, lasts = [], []
    pos = 0
    while True:
        j = np.searchsorted(ok_starts, pos)
        if j == len(ok_starts):
            break
        a = int(ok_starts[j])
        end = _extend(xd, yd, stop, a, a + k, p.dispersion_threshold_deg)
        firsts.append(a)
        lasts.append(end - 1)
        pos = end
    first = np.asarray(firsts, dtype=np.int64)
    last = np.asarray(lasts, dtype=np.int64)
    return _fixation_table(s, x, y, first, last, dt)


def _extend(xd, yd, stop, a: int, e: int, threshold: float) -> int:
    """First index >= e where adding the sample to window [a, e) would break the dispersion (or a stop)."""
    n = len(xd)
    mxx, mnx, mxy, mny = xd[a:e].max(), xd[a:e].min(), yd[a:e].max(), yd[a:e].min()
    chunk = 64
    while e < n:
        b = min(n, e + chunk)
        cx_max = np.maximum(np.maximum.accumulate(xd[e:b]), mxx)
        cx_min = np.minimum(np.minimum.accumulate(xd[e:b]), mnx)
        cy_max = np.maximum(np.maximum.accumulate(yd[e:b]), mxy)
        cy_min = np.minimum(np.minimum.accumulate(yd[e:b]), mny)
        fails = stop[e:b] | ~((cx_max - cx_min) + (cy_max - cy_min) <= threshold)
        if fails.any():
            return e + int(np.argmax(fails))
        mxx, mnx, mxy, mny = cx_max[-1], cx_min[-1], cy_max[-1], cy_min[-1]
        e = b
        chunk *= 2
    return n
