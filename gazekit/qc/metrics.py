"""Saliency metrics as in the MIT saliency benchmark code (cvzoya/saliency, MATLAB), and gaze-vs-label
agreement. All maps are 2-D arrays of the same shape (resize before calling).

``saliency`` is the map being judged (here the gaze heatmap); the reference is a binary map of positive
locations (``fixations`` in the benchmark; here the target mask) for NSS and AUC-Judd, or a map
treated as a distribution (the mask as a density) for CC, KLD and SIM.
"""

from __future__ import annotations

import numpy as np

EPS = float(np.finfo(np.float64).eps)  # MATLAB eps, as the benchmark code


def _f64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def nss(saliency: np.ndarray, positives: np.ndarray) -> float:
    """Normalised scanpath saliency: mean of the z-scored map (std with N-1) at the positive pixels."""
    s = _f64(saliency)
    pos = np.asarray(positives, bool)
    if not pos.any():
        return float("nan")
    z = (s - s.mean()) / s.std(ddof=1)
    return float(z[pos].mean())


def cc(saliency: np.ndarray, reference: np.ndarray) -> float:
    """Pearson correlation of the two maps (MATLAB corr2 of the z-scored maps)."""
    a, b = _f64(saliency).ravel(), _f64(reference).ravel()
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def kld(saliency: np.ndarray, reference: np.ndarray) -> float:
    """KL divergence of the reference from the saliency map, both as distributions (sum 1), with MATLAB eps:
    sum(Q * log(eps + Q / (P + eps)))."""
    p, q = _f64(saliency), _f64(reference)
    p, q = p / p.sum(), q / q.sum()
    return float((q * np.log(EPS + q / (p + EPS))).sum())


def sim(saliency: np.ndarray, reference: np.ndarray) -> float:
    """Similarity (histogram intersection) of the two maps, each min-max normalised then summing to 1."""

    def norm(m: np.ndarray) -> np.ndarray:
        m = _f64(m)
        rng = m.max() - m.min()
        m = (m - m.min()) / rng if rng > 0 else np.zeros_like(m)
        return m / m.sum() if m.sum() > 0 else m

    return float(np.minimum(norm(saliency), norm(reference)).sum())


def auc_judd(saliency: np.ndarray, positives: np.ndarray, jitter: bool = True, seed: int = 0) -> float:
    """AUC-Judd: every positive pixel's saliency is a threshold; TP rate = share of positives above it,
    FP rate = share of the other pixels above it; trapezoid area. ``jitter`` adds U(0, 1e-7) noise to break
    ties, as the benchmark does (seeded here so the figure is reproducible)."""
    s = _f64(saliency).ravel()
    pos = np.asarray(positives, bool).ravel()
    if not pos.any():
        return float("nan")
    if jitter:
        s = s + np.random.default_rng(seed).random(s.shape) / 1e7
    rng = s.max() - s.min()
    s = (s - s.min()) / rng if rng > 0 else np.zeros_like(s)
    th = np.sort(s[pos])[::-1]
    n_pos, n_all = len(th), len(s)
    above = n_all - np.searchsorted(np.sort(s), th, side="left")  # pixels with S >= thresh
    i = np.arange(1, n_pos + 1)
    tp = np.concatenate([[0.0], i / n_pos, [1.0]])
    fp = np.concatenate([[0.0], (above - i) / (n_all - n_pos), [1.0]])
    return float(np.trapezoid(tp, fp))


def positives_at(x_px: np.ndarray, y_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Binary map of the pixels holding the points (pixel (r, c) covers [c, c+1) x [r, r+1))."""
    out = np.zeros(shape, bool)
    c, r = np.floor(_f64(x_px)).astype(int), np.floor(_f64(y_px)).astype(int)
    ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
    out[r[ok], c[ok]] = True
    return out


def share_inside(x_px: np.ndarray, y_px: np.ndarray, target: np.ndarray) -> float:
    """Share of the points that fall inside the target mask (points off the image count as outside)."""
    x, y = _f64(x_px), _f64(y_px)
    if len(x) == 0:
        return float("nan")
    c, r = np.floor(x).astype(int), np.floor(y).astype(int)
    ok = (r >= 0) & (r < target.shape[0]) & (c >= 0) & (c < target.shape[1])
    inside = np.zeros(len(x), bool)
    inside[ok] = np.asarray(target, bool)[r[ok], c[ok]]
    return float(inside.mean())


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two binary masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    den = a.sum() + b.sum()
    return float(2 * (a & b).sum() / den) if den else 1.0


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Jaccard index (intersection over union) of two binary masks (1.0 when both are empty)."""
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


def heatmap_mask(heatmap: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """The heatmap min-max normalised to [0, 1] and thresholded: pixels ``>= threshold`` (a flat map: none)."""
    h = _f64(heatmap)
    rng = h.max() - h.min()
    if not rng > 0:
        return np.zeros(h.shape, bool)
    return (h - h.min()) / rng >= threshold


def heatmap_dice(heatmap: np.ndarray, target: np.ndarray, threshold: float = 0.5) -> float:
    """Dice of the target and :func:`heatmap_mask` (min-max normalised heatmap ``>= threshold``): "heatmap
    Dice at 0.5", the one rule of QC, the simulator's fit and fidelity, and the Kvasir gaze-only row."""
    return dice(heatmap_mask(heatmap, threshold), target)
