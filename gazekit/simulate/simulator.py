"""Reading-session simulator: label maps in, a session folder (samples + viewer events) out.

The simulated reader follows the protocol of GazeMedSeg's annotators, with statistics fitted to the real
Kvasir gaze (``gazekit/data/simulator_kvasir.json``, made by :mod:`gazekit.simulate.fit`):

1. **Scanpath per image** (:func:`plan_image`): ``n`` fixations, ``n`` drawn from the fitted negative
   binomial of fixations per image. The first fixation lands near the image centre and
   ``extra ~ Poisson(scan_extra_mean)`` more scan the whole image (the coarse look); the rest cover each
   labelled structure (connected component of a label value) from its centre (deepest point of the
   distance transform) outwards to its boundary: fixation ``j`` of ``m`` on a structure goes to a pixel
   whose depth rank (share of the structure's pixels deeper than it: 0 at the centre, 1 on the boundary)
   is within 0.1 of ``(j / (m - 1)) ** depth_gamma`` (fitted; 1 = outwards evenly over the area), and
   whose direction from the centre is within 45 deg of ``j`` golden angles (137.5 deg) from a random start,
   so every ring is covered all around (a sunflower pattern).
   Structures are visited nearest first and get
   fixations in proportion to their area. Each structure fixation is replaced, with probability
   ``off_target_share``, by one outside every structure, at a distance from the nearest structure drawn
   from the log-normal fitted to the real off-target fixations (they stay close to the polyp).
   Among candidate pixels the one whose distance
   from the previous fixation best matches an amplitude drawn from the fitted saccade amplitudes is taken.
   Durations are drawn from the fitted (shifted) log-normal, at least ``min_duration_ms``.
2. **Volumes**: the reader scrolls through the slices that contain structures, in increasing order;
   slice ``k`` gets ``max(2, round(n * area_k / max_area))`` fixations (dwell time proportional to the
   structure's area on the slice), the coarse look only on the first slice. One viewer event per slice.
3. **Display**: between stimuli a blank screen (``blank_ms``) with a fixation dot at the top centre;
   each image is scaled to fill ``image_fill`` of the screen height (or width) and centred.
4. **Eye tracker** (:func:`render_samples`): samples at ``rate_hz``; saccades follow the main sequence
   (``21 + 2.2 A_deg`` ms) with a minimum-jerk profile; a per-session accuracy offset of
   ``accuracy_deg`` in a random direction; white noise with RMS sample-to-sample precision
   ``precision_deg`` (per-axis sd = precision / 2); lost samples (``lost_share``) and blinks (probability
   ``blink_prob`` per saccade, ``blink_ms`` long) are invalid.

Output: a session folder (:mod:`gazekit.session`) with ``"simulated": true`` and the planned fixations in
``simulated_fixations.parquet``. Everything is drawn from one ``numpy.random.Generator(seed)``: the same
inputs and seed give byte-identical tables.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage

from gazekit import ids
from gazekit import session as sess
from gazekit import stimuli as stim
from gazekit.atomic import check_output
from gazekit.errors import GazekitError
from gazekit.geometry import Screen, ViewState
from gazekit.version import __version__

FITTED_FILE = "simulator_kvasir.json"
LABEL_SUFFIXES = ("_gt", "_label", "_labels", "_mask", "_seg")
DEFAULT_SCREEN = Screen(1920, 1080, 531.0, 299.0, 650.0)  # 24" 16:9 at 65 cm
N_CANDIDATES = 64
GOLDEN_ANGLE = np.pi * (3 - np.sqrt(5))  # rad


def load_fitted(path: str | Path | None = None) -> dict:
    """The fitted reader statistics (default: the Kvasir fit shipped in ``gazekit/data``)."""
    if path is None:
        return json.loads(resources.files("gazekit").joinpath("data", FITTED_FILE).read_text())
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise GazekitError(path, "--fitted", f"expected a JSON file of fitted reader statistics ({exc})") from None


@dataclass(frozen=True)
class SimConfig:
    """Simulated reader and eye tracker. Distributions come from ``fitted`` (see :func:`load_fitted`)."""

    seed: int = 0
    rate_hz: float = 300.0
    accuracy_deg: float = 0.5  # per-session systematic offset
    precision_deg: float = 0.03  # RMS sample-to-sample
    lost_share: float = 0.005  # isolated lost samples
    blink_prob: float = 0.03  # per saccade
    blink_ms: tuple[float, float] = (100.0, 300.0)  # uniform range
    blank_ms: float = 500.0
    image_fill: float = 0.8
    screen: Screen = DEFAULT_SCREEN
    reader_id: str = "simulated-reader"
    min_structure_px: int = 20  # smaller connected components are ignored
    fitted: dict = field(default_factory=load_fitted, hash=False, compare=False)


@dataclass(frozen=True, eq=False)
class Target:
    """What the reader reads: the label map ``labels`` ([H, W] or [D, H, W]) shown as stimulus ``shown``."""

    labels: np.ndarray
    shown: stim.Stimulus


# ------------------------------------------------------------------ distributions
def draw_count(fitted: dict, rng: np.random.Generator) -> int:
    """Fixations on one image: negative binomial (r, p) fitted to the real counts, at least ``min``."""
    c = fitted["count"]
    return max(int(c["min"]), int(rng.negative_binomial(c["r"], c["p"])))


def draw_durations(fitted: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` fixation durations [ms]: shifted log-normal, redrawn below ``min_ms``."""
    d = fitted["duration_ms"]
    out = np.empty(0)
    while out.size < n:
        v = d["loc"] + d["scale"] * np.exp(d["sigma"] * rng.standard_normal(2 * n + 4))
        out = np.concatenate([out, v[(v >= d["min_ms"]) & (v <= d["max_ms"])]])
    return out[:n]


def draw_amplitude(fitted: dict, rng: np.random.Generator) -> float:
    """One saccade amplitude in units of the image's longer side (log-normal)."""
    a = fitted["amplitude"]
    return float(a["scale"] * np.exp(a["sigma"] * rng.standard_normal()))


# ------------------------------------------------------------------ scanpaths
@dataclass(frozen=True, eq=False)
class _Structure:
    rows: np.ndarray
    cols: np.ndarray
    depth: np.ndarray  # normalised distance to the boundary, 1 at the centre
    rank: np.ndarray  # share of the structure's pixels deeper than this one: 0 at the centre, 1 at the boundary
    area: int


def structures(labels: np.ndarray, min_px: int = 20) -> list[_Structure]:
    """Connected components of every label value > 0 of a 2D label map (at least ``min_px`` pixels)."""
    out = []
    for value in np.unique(labels[labels > 0]):
        comp, n = ndimage.label(labels == value)
        for i, box in enumerate(ndimage.find_objects(comp), start=1):
            m = comp[box] == i
            area = int(m.sum())
            if area < min_px:
                continue
            dist = ndimage.distance_transform_edt(np.pad(m, 1))[1:-1, 1:-1]
            r, c = np.nonzero(m)
            d = dist[r, c]
            rank = np.empty(area)
            rank[np.argsort(-d, kind="stable")] = np.arange(area) / max(area - 1, 1)
            out.append(_Structure(r + box[0].start, c + box[1].start, d / d.max(), rank, area))
    return out


@dataclass(frozen=True, eq=False)
class Layout:
    """A 2D label map prepared for planning: its structures and where they are."""

    height: int
    width: int
    structs: list[_Structure]
    inside: np.ndarray  # [H, W] bool, any structure
    out_flat: np.ndarray  # flat indices of the pixels outside every structure, nearest to a structure first
    out_dist_px: np.ndarray  # their distance to the nearest structure pixel [px], ascending


def layout(labels: np.ndarray, min_px: int = 20) -> Layout:
    """Prepare a 2D label map once (structures, distance transforms) for :func:`plan_image`."""
    h, w = labels.shape
    structs = structures(labels, min_px)
    inside = np.zeros((h, w), bool)
    for s in structs:
        inside[s.rows, s.cols] = True
    if structs and not inside.all():
        dist = ndimage.distance_transform_edt(~inside).ravel()
        out_flat = np.flatnonzero(~inside.ravel())
        out_flat = out_flat[np.argsort(dist[out_flat], kind="stable")]
        out_dist = dist[out_flat]
    else:
        out_flat, out_dist = np.zeros(0, int), np.zeros(0)
    return Layout(h, w, structs, inside, out_flat, out_dist)


def _candidates(rng, lay: Layout, rows=None, cols=None, outside_px: float | None = None):
    """Random continuous positions: in given pixels, outside every structure at about ``outside_px`` from
    the nearest one (within a factor 1.25), or anywhere on the image."""
    if outside_px is not None:
        lo, hi = np.searchsorted(lay.out_dist_px, [outside_px / 1.25, outside_px * 1.25])
        lo = min(lo, lay.out_flat.size - 1)
        hi = max(hi, lo + 1)
        rows, cols = np.divmod(lay.out_flat[lo:hi], lay.width)
    if rows is not None:
        idx = rng.integers(0, rows.size, size=N_CANDIDATES)
        return cols[idx] + rng.random(N_CANDIDATES), rows[idx] + rng.random(N_CANDIDATES)
    return rng.random(N_CANDIDATES) * lay.width, rng.random(N_CANDIDATES) * lay.height


def _pick(rng, xy: tuple[np.ndarray, np.ndarray], prev, long_side: float, fitted: dict) -> tuple[float, float]:
    """Among candidate positions, the one whose distance from ``prev`` best matches a drawn amplitude."""
    x, y = xy
    if prev is None:
        j = 0
    else:
        amp = draw_amplitude(fitted, rng) * long_side
        j = int(np.argmin(np.abs(np.hypot(x - prev[0], y - prev[1]) - amp)))
    return float(x[j]), float(y[j])


def plan_image(lay: Layout, n: int, rng: np.random.Generator, cfg: SimConfig, coarse: bool = True) -> np.ndarray:
    """Fixation positions ``[n, 2]`` (x, y image px, continuous) on a prepared 2D label map (module docstring)."""
    h, w = lay.height, lay.width
    fitted = cfg.fitted
    long_side = float(max(h, w))
    structs = lay.structs
    has_outside = lay.out_flat.size > 0
    points: list[tuple[float, float]] = []
    prev = None
    if coarse:
        centre_sd = fitted["scan"]["first_sd"] * long_side
        x0 = float(np.clip(w / 2 + centre_sd * rng.standard_normal(), 0, w - 1e-3))
        y0 = float(np.clip(h / 2 + centre_sd * rng.standard_normal(), 0, h - 1e-3))
        points.append((x0, y0))
        prev = points[-1]
        extra = int(rng.poisson(fitted["scan"]["extra_mean"]))
        for _ in range(min(extra, max(n - len(points) - len(structs), 0))):
            prev = _pick(rng, _candidates(rng, lay), prev, long_side, fitted)
            points.append(prev)
    left = n - len(points)
    if not structs:
        while len(points) < n:
            prev = _pick(rng, _candidates(rng, lay), prev, long_side, fitted)
            points.append(prev)
        return np.asarray(points[:n], float).reshape(-1, 2)
    # visit order: nearest structure centre first
    centres = [(float(s.cols[np.argmax(s.depth)]) + 0.5, float(s.rows[np.argmax(s.depth)]) + 0.5) for s in structs]
    order, here = [], prev if prev is not None else (w / 2, h / 2)
    todo = list(range(len(structs)))
    while todo:
        k = min(todo, key=lambda i: (centres[i][0] - here[0]) ** 2 + (centres[i][1] - here[1]) ** 2)
        order.append(k)
        todo.remove(k)
        here = centres[k]
    areas = np.array([structs[k].area for k in order], float)
    share = np.floor(left * areas / areas.sum()).astype(int)
    share[: left - share.sum()] += 1  # the remainder to the first (nearest) ones
    off = fitted["off_target_share"]
    for k, m in zip(order, share, strict=True):
        s = structs[k]
        cx, cy = centres[k]
        turn = rng.uniform(0, 2 * np.pi)
        for j in range(m):
            if has_outside and rng.random() < off:
                d = fitted["off_target_distance"]
                d_px = d["scale"] * np.exp(d["sigma"] * rng.standard_normal()) * long_side
                prev = _pick(rng, _candidates(rng, lay, outside_px=d_px), prev, long_side, fitted)
            else:
                target = 0.0 if m == 1 else (j / (m - 1)) ** fitted["depth_gamma"]
                band = np.abs(s.rank - target) <= 0.1
                if j == 0:
                    band = s.depth >= 0.9
                xy = _candidates(rng, lay, s.rows[band], s.cols[band])
                if j > 0:  # go round the centre by the golden angle, so each ring is covered all around
                    diff = np.angle(np.exp(1j * (np.arctan2(xy[1] - cy, xy[0] - cx) - turn - j * GOLDEN_ANGLE)))
                    near = np.abs(diff) <= np.pi / 4
                    if near.any():
                        xy = (xy[0][near], xy[1][near])
                prev = _pick(rng, xy, None if j == 0 else prev, long_side, fitted)
            points.append(prev)
    return np.asarray(points[:n], float).reshape(-1, 2)


def view_for(shape_hw: tuple[int, int], cfg: SimConfig) -> ViewState:
    """The image scaled to ``image_fill`` of the screen and centred."""
    h, w = shape_hw
    sc = cfg.screen
    scale = cfg.image_fill * min(sc.width_px / w, sc.height_px / h)
    return ViewState(w, h, (sc.width_px - w * scale) / 2, (sc.height_px - h * scale) / 2, scale)


# ------------------------------------------------------------------ one session
def plan_session(targets: list[Target], cfg: SimConfig) -> tuple[pd.DataFrame, pd.DataFrame, np.random.Generator]:
    """Planned fixations (truth, without timing gaps) and viewer events, before timing and samples.

    Returns (plan with ``stimulus_id, slice_index, x_px, y_px, screen_x_px, screen_y_px, duration_ms,
    display``), display states (``stimulus_id, slice_index`` + view), and the generator to continue with.
    """
    rng = np.random.default_rng(cfg.seed)
    rows, displays = [], []
    for tg in targets:
        lab = np.asarray(tg.labels)
        view = view_for(lab.shape[-2:], cfg)
        n = draw_count(cfg.fitted, rng)
        if lab.ndim == 2:
            slices = [(None, lab, n, True)]
        else:
            areas = (lab > 0).reshape(lab.shape[0], -1).sum(1)
            ks = np.flatnonzero(areas >= cfg.min_structure_px)
            if ks.size == 0:
                raise GazekitError(tg.shown.source, "labels", "expected at least one slice with a labelled structure")
            slices = [
                (int(k), lab[k], max(2, int(round(n * areas[k] / areas[ks].max()))), i == 0) for i, k in enumerate(ks)
            ]
        for k, lab2d, m, coarse in slices:
            xy = plan_image(layout(lab2d, cfg.min_structure_px), m, rng, cfg, coarse=coarse)
            displays.append((tg.shown.stimulus_id, k, view))
            sx, sy = view.image_to_screen(xy[:, 0], xy[:, 1])
            for i in range(len(xy)):
                rows.append((tg.shown.stimulus_id, k, xy[i, 0], xy[i, 1], sx[i], sy[i], len(displays) - 1))
    plan = pd.DataFrame(
        rows, columns=["stimulus_id", "slice_index", "x_px", "y_px", "screen_x_px", "screen_y_px", "display"]
    )
    plan["duration_ms"] = draw_durations(cfg.fitted, len(plan), rng)
    return plan, displays, rng


def saccade_ms(amplitude_deg: np.ndarray) -> np.ndarray:
    """Main-sequence saccade duration [ms] for an amplitude [deg] (Carpenter: 21 + 2.2 A)."""
    return 21.0 + 2.2 * np.asarray(amplitude_deg, float)


def schedule(plan: pd.DataFrame, displays: list, cfg: SimConfig, rng: np.random.Generator):
    """Put the plan on a clock: fixation start times, viewer events, and the screen path of the eye.

    Returns (plan with ``t_start_ms``, events DataFrame, path DataFrame ``t0, t1, x, y`` of every
    fixation-like hold incl. the blank-screen dot, blink flags per gap).
    """
    sc = cfg.screen
    dot = (sc.width_px / 2, 0.05 * sc.height_px)
    deg_per_px = sc.deg_per_px_at_centre()
    t = 0.0
    starts = np.empty(len(plan))
    holds = []  # (t0, t1, x, y, blink_before)
    events = []
    prev_stim = None
    prev_xy = dot
    disp = plan["display"].to_numpy()
    sx, sy = plan["screen_x_px"].to_numpy(), plan["screen_y_px"].to_numpy()
    dur = plan["duration_ms"].to_numpy()
    for i in range(len(plan)):
        stim_id, k, view = displays[disp[i]]
        new_display = i == 0 or disp[i] != disp[i - 1]
        if new_display and stim_id != prev_stim:
            events.append((t, "", None, view))  # blank with the dot
            amp = np.hypot(dot[0] - prev_xy[0], dot[1] - prev_xy[1]) * deg_per_px
            t += float(saccade_ms(amp)) if i else 0.0
            holds.append((t, t + cfg.blank_ms, dot[0], dot[1], False))
            t += cfg.blank_ms
            prev_xy = dot
        amp = np.hypot(sx[i] - prev_xy[0], sy[i] - prev_xy[1]) * deg_per_px
        gap = float(saccade_ms(amp))
        blink = bool(i > 0 and not new_display and rng.random() < cfg.blink_prob)
        if blink:
            gap += float(rng.uniform(*cfg.blink_ms))
        if new_display:
            events.append((t if stim_id != prev_stim else t + gap / 2, stim_id, k, view))
        t += gap
        starts[i] = t
        holds.append((t, t + dur[i], sx[i], sy[i], blink))
        t += dur[i]
        prev_xy = (sx[i], sy[i])
        prev_stim = stim_id
    events.append((t + 1.0, "", None, displays[disp[-1]][2] if len(plan) else view_for((1, 1), cfg)))
    plan = plan.assign(t_start_ms=starts)
    ev = pd.DataFrame(
        {
            "t_ms": [e[0] for e in events],
            "stimulus_id": [e[1] for e in events],
            "slice_index": pd.array([e[2] for e in events], dtype="Int64"),
            "x0_px": [e[3].x0_px for e in events],
            "y0_px": [e[3].y0_px for e in events],
            "scale": [e[3].scale for e in events],
            "rotation_deg": [e[3].rotation_deg for e in events],
            "flip_x": [e[3].flip_x for e in events],
            "flip_y": [e[3].flip_y for e in events],
            "window_center": np.nan,
            "window_width": np.nan,
        }
    )
    path = pd.DataFrame(holds, columns=["t0", "t1", "x", "y", "blink_before"])
    return plan, ev, path, t + 1.0


def render_samples(path: pd.DataFrame, end_ms: float, cfg: SimConfig, rng: np.random.Generator) -> pd.DataFrame:
    """Gaze samples at ``rate_hz`` along ``path`` (holds joined by minimum-jerk saccades) with tracker error."""
    t = np.arange(0.0, end_ms, 1000.0 / cfg.rate_hz)
    t0, t1 = path["t0"].to_numpy(), path["t1"].to_numpy()
    x, y = path["x"].to_numpy(), path["y"].to_numpy()
    i = np.clip(np.searchsorted(t0, t, side="right") - 1, 0, len(t0) - 1)
    in_hold = (t >= t0[i]) & (t < t1[i])
    before = t < t0[0]
    nxt = np.minimum(i + 1, len(t0) - 1)
    span = np.maximum(t0[nxt] - t1[i], 1e-9)
    s = np.clip((t - t1[i]) / span, 0.0, 1.0)
    prof = s**3 * (10 - 15 * s + 6 * s**2)
    gx = np.where(in_hold, x[i], x[i] + (x[nxt] - x[i]) * prof)
    gy = np.where(in_hold, y[i], y[i] + (y[nxt] - y[i]) * prof)
    gx[before], gy[before] = x[0], y[0]
    px_per_deg = 1.0 / cfg.screen.deg_per_px_at_centre()
    angle = rng.uniform(0, 2 * np.pi)
    gx = gx + cfg.accuracy_deg * px_per_deg * np.cos(angle)
    gy = gy + cfg.accuracy_deg * px_per_deg * np.sin(angle)
    sd = cfg.precision_deg / 2 * px_per_deg
    gx = gx + sd * rng.standard_normal(t.size)
    gy = gy + sd * rng.standard_normal(t.size)
    valid = rng.random(t.size) >= cfg.lost_share
    blink_gap = path["blink_before"].to_numpy()
    for j in np.flatnonzero(blink_gap):  # the eye is closed in the middle of the gap before hold j
        g0, g1 = t1[j - 1], t0[j]
        mid, half = (g0 + g1) / 2, max((g1 - g0) / 2 - 25.0, 0.0)
        valid &= ~((t >= mid - half) & (t < mid + half))
    pupil = 3.5 + 0.05 * rng.standard_normal(t.size)
    return pd.DataFrame(
        {
            "t_ms": t,
            "x_screen_px": np.where(valid, gx, np.nan),
            "y_screen_px": np.where(valid, gy, np.nan),
            "valid": valid,
            "pupil": np.where(valid, pupil, np.nan),
            "eye": "both",
        }
    )


def simulate_session(
    targets: list[Target],
    cfg: SimConfig,
    session_id: str = "sim-0",
    root: Path | None = None,
    anonymize: bool = False,
) -> tuple:
    """One simulated reading session: (session.json dict, samples, viewer events, planned fixations).

    Stimulus sources in session.json are written relative to ``root`` (the data root) when given.
    """
    plan, displays, rng = plan_session(targets, cfg)
    plan, events, path, end_ms = schedule(plan, displays, cfg, rng)
    samples = render_samples(path, end_ms, cfg, rng)
    truth = pd.DataFrame(
        {
            "session_id": session_id,
            "reader_id": cfg.reader_id,
            "stimulus_id": plan["stimulus_id"],
            "slice_index": pd.array(plan["slice_index"].tolist(), dtype="Int64"),
            "fixation_index": np.arange(len(plan), dtype=np.int32),
            "t_start_ms": plan["t_start_ms"],
            "duration_ms": plan["duration_ms"],
            "x_px": plan["x_px"],
            "y_px": plan["y_px"],
            "screen_x_px": plan["screen_x_px"],
            "screen_y_px": plan["screen_y_px"],
            "on_image": True,
            "eye": "both",
            "pupil": np.nan,
            "source_format": "simulate",
            "detector": "given",
        }
    )
    params = {k: v for k, v in asdict(cfg).items() if k not in ("fitted", "screen")}
    meta = {
        "session_id": session_id,
        "reader_id": cfg.reader_id,
        "SamplingFrequency": float(cfg.rate_hz),
        **sess.meta_from_screen(cfg.screen),
        "RecordedEye": "both",
        "Manufacturer": "gazekit",
        "ManufacturersModelName": f"gazekit simulate {__version__}",
        "StartTime": "2000-01-01T00:00:00",
        "AverageCalibrationError": float(cfg.accuracy_deg),
        "simulated": True,
        "simulation": {**params, "fitted_source": cfg.fitted.get("source", "")},
        "stimuli": [tg.shown.session_entry(root, anonymize) for tg in targets],
    }
    return meta, samples, events, truth


# ------------------------------------------------------------------ inputs
def mask_to_labels(mask: np.ndarray) -> np.ndarray:
    """A mask image as a label map: 8-bit masks with values >= 128 are binarised at 128 (0/255 masks,
    JPEG masks); masks whose values stay below 128 are label maps already (0 background, 1, 2, ...)."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    return (m >= 128).astype(np.uint8) if m.max() >= 128 else np.rint(m).astype(np.int32)


def _label_stem(stem: str) -> str:
    for suffix in LABEL_SUFFIXES:
        if stem.endswith(suffix):
            return stem[: -len(suffix)]
    return stem


def _image_for(label_path: Path, images: Path) -> Path:
    """The image (file or DICOM folder) in ``images`` whose stem equals the label's (label suffix dropped), or
    whose nnU-Net case does (``imagesTr/case_0000.nii.gz`` for ``labelsTr/case.nii.gz``)."""
    want = {ids.stimulus_id(label_path), _label_stem(ids.stimulus_id(label_path))}
    for p in sorted(images.iterdir()):
        sid = ids.stimulus_id(p)
        if (sid in want or ids.nnunet_case(sid) in want) and not p.name.startswith("."):
            return p
    raise GazekitError(images, None, f"expected an image named like {sorted(want)[0]!r} (for {label_path.name})")


def load_targets(labels: list[Path], images: Path | None = None, series: str | None = None) -> list[Target]:
    """Label inputs (a mask folder, or volume files/DICOM folders) -> what the simulated reader reads."""
    targets = []
    for lp in labels:
        lp = Path(lp)
        if lp.is_dir() and not stim._dicom_files(lp, limit=1):
            masks = sorted(p for p in lp.iterdir() if p.suffix.lower() in stim.IMAGE_SUFFIXES)
            if not masks:
                raise GazekitError(lp, None, "expected mask images (PNG/JPEG/TIFF/BMP) or a DICOM series")
            for mp in masks:
                mask = cv2.imread(str(mp), cv2.IMREAD_UNCHANGED)
                if mask is None:
                    raise GazekitError(mp, None, "expected a readable mask image")
                lab = mask_to_labels(mask)
                shown = stim.load_image(_image_for(mp, images)) if images else stim.load_image(mp)
                targets.append(_checked(Target(lab, shown), mp))
            continue
        src = stim.load_one(lp, series, dataset="label" if lp.name.lower().endswith(stim.HDF5_SUFFIXES) else "image")
        lab = np.rint(src.data).astype(np.int32)
        if src.kind == "hdf5":  # the SSL4MIS file holds both: show its image, read its label
            shown = stim.load_hdf5(lp, "image")
        elif images:
            shown = stim.load_one(_image_for(lp, images))
        else:
            shown = src
        targets.append(_checked(Target(lab, shown), lp))
    return targets


def _checked(tg: Target, label_path: Path) -> Target:
    if tuple(tg.labels.shape[-3:] if tg.labels.ndim == 3 else tg.labels.shape) != tg.shown.shape:
        raise GazekitError(
            label_path, "shape", f"expected the label map to match its image {tg.shown.shape}, got {tg.labels.shape}"
        )
    return tg


def simulate(
    labels: list[Path],
    out_dir: Path,
    cfg: SimConfig,
    images: Path | None = None,
    series: str | None = None,
    anonymize: bool = False,
) -> Path:
    """``gazekit simulate``: read the label inputs, simulate one session, write the session folder.

    ``out_dir`` must be new, empty, or a session folder an earlier ``gazekit simulate`` wrote that holds
    nothing else; a recorded session or a folder with other files is never replaced.
    """
    check_output(out_dir, "dir", sess.SESSION_FILES)
    if (Path(out_dir) / sess.META_FILE).is_file() and sess.read_sidecar(out_dir).get("simulated") is not True:
        raise GazekitError(out_dir, None, "expected a new folder or a simulated session to replace, found a recording")
    targets = load_targets(labels, images, series)
    root = Path(images) if images else Path(os.path.commonpath([Path(p).resolve().parent for p in labels]))
    meta, samples, events, truth = simulate_session(targets, cfg, f"sim-{cfg.seed}", root, anonymize)
    return sess.write_session(out_dir, meta, samples, events, truth)


def summary(session_dir: Path) -> dict:
    """Stimuli, planned fixations and duration of a simulated session folder."""
    s = sess.read_session(session_dir)
    n_fix = 0 if s.truth is None else len(s.truth)
    return {"stimuli": len(s.meta["stimuli"]), "fixations": n_fix, "seconds": float(s.samples["t_ms"].max()) / 1000}
