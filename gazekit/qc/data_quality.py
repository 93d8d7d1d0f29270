"""Data quality of raw gaze samples, per session and eye: sampling rate, lost data, precision.

- ``rate_hz``: 1000 / median interval between consecutive samples [Hz], next to ``nominal_rate_hz``
  (what the file says, when it says it).
- ``lost_share``: share of samples that are not valid (0..1).
- ``longest_gap_ms``: the longest stretch without valid data: largest time between two consecutive
  valid samples minus one sample interval [ms] (missing rows count too); the span before the first
  and after the last valid sample counts as well.
- ``precision_rms_s2s_deg``: RMS of the angular distance between consecutive valid samples [deg]
  (all pairs, saccades included, so an upper bound of the precision during fixations); only when the
  screen geometry is complete.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from gazekit.geometry import Screen


def stream_quality(
    t_ms: np.ndarray, x_px: np.ndarray, y_px: np.ndarray, valid: np.ndarray, screen: Screen | None
) -> dict:
    """Quality figures of one eye's samples (sorted by time); see the module docstring."""
    n = len(t_ms)
    out: dict = {"n_samples": int(n)}
    if n == 0:
        return out
    d = np.diff(t_ms)
    dt = float(np.median(d[d > 0])) if (d > 0).any() else float("nan")
    out["rate_hz"] = 1000.0 / dt if np.isfinite(dt) else None
    out["lost_share"] = float((~valid).mean())
    tv = t_ms[valid]
    if len(tv) == 0:
        out["longest_gap_ms"] = float(t_ms[-1] - t_ms[0] + (dt if np.isfinite(dt) else 0.0))
    else:
        step = dt if np.isfinite(dt) else 0.0
        inner = np.diff(tv) - step if len(tv) > 1 else np.array([0.0])
        edges = [tv[0] - t_ms[0], t_ms[-1] - tv[-1]]
        out["longest_gap_ms"] = float(max(0.0, inner.max(), *edges))
    if screen is not None and screen.complete and valid.sum() > 1:
        xd, yd = screen.px_to_deg(x_px, y_px)
        pair = valid[1:] & valid[:-1]
        if pair.any():
            s2s = np.hypot(np.diff(xd), np.diff(yd))[pair]
            out["precision_rms_s2s_deg"] = float(np.sqrt(np.mean(s2s**2)))
    return out


def session_quality(samples: pd.DataFrame, screen: Screen | None, nominal_rate_hz: float | None = None) -> dict:
    """``{eye: figures}`` for one session's samples table (``t_ms, x_screen_px, y_screen_px, valid, eye``)."""
    out = {}
    for eye, part in samples.groupby("eye", sort=True):
        part = part.sort_values("t_ms", kind="stable")
        q = stream_quality(
            part["t_ms"].to_numpy(dtype=float),
            part["x_screen_px"].to_numpy(dtype=float, na_value=np.nan),
            part["y_screen_px"].to_numpy(dtype=float, na_value=np.nan),
            part["valid"].to_numpy(dtype=bool),
            screen,
        )
        q["nominal_rate_hz"] = nominal_rate_hz
        out[str(eye)] = q
    return out


def quality_by_session(samples: pd.DataFrame, screen: Screen | None, nominal: dict[str, float | None]) -> dict:
    """``{session_id: {eye: figures}}`` for a samples table with a ``session_id`` column."""
    if "session_id" not in samples.columns:
        return {"": session_quality(samples, screen, nominal.get(""))}
    return {
        str(sid): session_quality(part, screen, nominal.get(str(sid)))
        for sid, part in samples.groupby("session_id", sort=True)
    }


def format_quality(quality: dict) -> list[str]:
    """One line per session and eye, for ``gazekit inspect``."""
    lines = []
    for sid, eyes in quality.items():
        for eye, q in eyes.items():
            parts = [f"quality {sid} [{eye}]: {q.get('n_samples', 0)} samples"]
            if q.get("rate_hz") is not None:
                nominal = q.get("nominal_rate_hz")
                parts.append(f"rate {q['rate_hz']:.1f} Hz" + (f" (nominal {nominal:g})" if nominal else ""))
            if "lost_share" in q:
                parts.append(f"lost {100 * q['lost_share']:.1f} %")
            if "longest_gap_ms" in q:
                parts.append(f"longest gap {q['longest_gap_ms']:.0f} ms")
            if "precision_rms_s2s_deg" in q:
                parts.append(f"precision RMS-S2S {q['precision_rms_s2s_deg']:.3f} deg")
            lines.append(", ".join(parts))
    return lines
