"""Calibration check (validation): targets on screen, accuracy and precision of the gaze in degrees.

Accuracy of a target = the visual angle between the target and the mean gaze position while it was
fixated; precision = RMS of the angles between successive samples (RMS-S2S) and the angular standard
deviation around the mean. Angles are exact 3D angles seen from an eye in front of the screen centre.
"""

from __future__ import annotations

import numpy as np

from gazekit.geometry import Screen


def target_grid(canvas_wh: tuple[int, int], n_points: int = 9, margin: float = 0.1) -> list[tuple[float, float]]:
    """Target positions [canvas px]: the centre and then a 3 x 3 (9) or corner (5) grid inside ``margin``."""
    w, h = canvas_wh
    xs = [margin * w, w / 2, (1 - margin) * w]
    ys = [margin * h, h / 2, (1 - margin) * h]
    if n_points == 5:
        grid = [(xs[0], ys[0]), (xs[2], ys[0]), (xs[0], ys[2]), (xs[2], ys[2])]
    elif n_points == 9:
        grid = [(x, y) for y in ys for x in xs if (x, y) != (xs[1], ys[1])]
    else:
        raise ValueError(f"n_points must be 5 or 9, got {n_points}")
    return [(w / 2, h / 2), *grid]


def eye_vectors(screen: Screen, x_px, y_px) -> np.ndarray:
    """Unit vectors from the eye (at ``distance_mm`` in front of the screen centre) to screen points."""
    mx, my = screen.mm_per_px
    v = np.stack(
        [
            (np.asarray(x_px, float) - screen.width_px / 2) * mx,
            (np.asarray(y_px, float) - screen.height_px / 2) * my,
            np.full(np.shape(x_px), screen.distance_mm, float),
        ],
        axis=-1,
    )
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Angle [deg] between unit vectors (rows), stable for small angles (atan2 of cross and dot)."""
    cross = np.linalg.norm(np.cross(a, b), axis=-1)
    return np.degrees(np.arctan2(cross, np.sum(a * b, axis=-1)))


def target_metrics(screen: Screen, target_px: tuple[float, float], x_px, y_px) -> dict:
    """Accuracy and precision [deg] of valid gaze samples (screen px) recorded on one target."""
    x, y = np.asarray(x_px, float), np.asarray(y_px, float)
    keep = np.isfinite(x) & np.isfinite(y)
    x, y = x[keep], y[keep]
    out = {"target_px": [float(target_px[0]), float(target_px[1])], "n_samples": int(len(x))}
    if len(x) == 0:
        return {**out, "accuracy_deg": None, "precision_rms_s2s_deg": None, "precision_sd_deg": None}
    vec = eye_vectors(screen, x, y)
    mean = vec.mean(axis=0)
    mean /= np.linalg.norm(mean)
    target = eye_vectors(screen, [target_px[0]], [target_px[1]])[0]
    s2s = angle_deg(vec[1:], vec[:-1]) if len(x) > 1 else np.zeros(1)
    return {
        **out,
        "accuracy_deg": float(angle_deg(mean, target)),
        "precision_rms_s2s_deg": float(np.sqrt(np.mean(s2s**2))),
        "precision_sd_deg": float(np.sqrt(np.mean(angle_deg(vec, mean[None, :]) ** 2))),
    }


def summarize(per_target: list[dict], limit_deg: float) -> dict:
    """Session-level validation: mean/max accuracy and mean precision over targets with samples."""
    ok = [t for t in per_target if t["accuracy_deg"] is not None]
    acc = [t["accuracy_deg"] for t in ok]
    mean_acc = float(np.mean(acc)) if acc else None
    return {
        "targets": per_target,
        "accuracy_deg": mean_acc,
        "max_accuracy_deg": float(np.max(acc)) if acc else None,
        "precision_rms_s2s_deg": float(np.mean([t["precision_rms_s2s_deg"] for t in ok])) if ok else None,
        "precision_sd_deg": float(np.mean([t["precision_sd_deg"] for t in ok])) if ok else None,
        "limit_deg": limit_deg,
        "passed": mean_acc is not None and mean_acc <= limit_deg,
    }
