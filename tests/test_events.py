"""I-VT / I-DT fixation detection: synthetic cases computed by hand, and pymovements as the oracle."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from gazekit.convert import detectors
from gazekit.convert.fixations import FIXATION_COLUMNS
from gazekit.convert.ivt import velocity_deg_s
from gazekit.errors import GazekitError
from gazekit.geometry import Screen

SCREEN = Screen(1920, 1080, 531.0, 299.0, 650.0)
PLAIN_IVT = detectors.IVTParams(gap_fill_max_ms=0, merge_max_gap_ms=0, min_duration_ms=0)


def simulate(n_fix: int = 30, rate_hz: float = 1000.0, noise_px: float = 0.5, seed: int = 0) -> pd.DataFrame:
    """Fixations (150-400 ms, Gaussian noise) joined by linear 20-40 ms saccades, one eye, all valid."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    x, y = 960.0, 540.0
    n_per_ms = rate_hz / 1000.0
    for _ in range(n_fix):
        d = int(rng.integers(150, 400) * n_per_ms)
        xs.append(x + rng.normal(0, noise_px, d))
        ys.append(y + rng.normal(0, noise_px, d))
        nx, ny = rng.uniform(100, 1800), rng.uniform(100, 1000)
        f = np.linspace(0, 1, int(rng.integers(20, 40) * n_per_ms))
        xs.append(x + (nx - x) * f)
        ys.append(y + (ny - y) * f)
        x, y = nx, ny
    x, y = np.concatenate(xs), np.concatenate(ys)
    n = len(x)
    return pd.DataFrame(
        {
            "t_ms": np.arange(n) * 1000.0 / rate_hz,
            "x_screen_px": x,
            "y_screen_px": y,
            "valid": True,
            "pupil": 3.0,
            "eye": "left",
        }
    )


def steps(segments: list[tuple[int, float, float]], dt_ms: float = 1.0) -> pd.DataFrame:
    """Piecewise-constant gaze: (n_samples, x_px, y_px) per segment; NaN x marks lost samples."""
    x = np.concatenate([np.full(n, sx) for n, sx, _ in segments])
    y = np.concatenate([np.full(n, sy) for n, _, sy in segments])
    return pd.DataFrame(
        {
            "t_ms": np.arange(len(x)) * dt_ms,
            "x_screen_px": x,
            "y_screen_px": y,
            "valid": np.isfinite(x),
            "pupil": 4.0,
            "eye": "right",
        }
    )


# --- hand-computed cases ---------------------------------------------------------------------------------


def test_ivt_two_still_periods_hand_computed():
    # 100 ms at the centre, a 10-sample jump of 200 px (about 5.8 deg in 10 ms), 100 ms at x=1160.
    jump = [(1, 960.0 + 20 * i, 540.0) for i in range(1, 10)]
    s = steps([(100, 960.0, 540.0), *jump, (100, 1160.0, 540.0)])
    fix = detectors.ivt(s, SCREEN, dataclasses.replace(PLAIN_IVT, velocity_window_ms=2))
    # neighbours velocity: sample 99 sees (980-960)/2 ms -> moving; so fixation 1 = samples 0..98;
    # fixation 2 starts at the first sample whose neighbours are both 1160: index 100+9+1 = 110.
    assert fix["t_start_ms"].tolist() == [0.0, 110.0]
    assert fix["duration_ms"].tolist() == [99.0, 99.0]
    assert fix["screen_x_px"].tolist() == [960.0, 1160.0]
    assert fix["eye"].tolist() == ["right", "right"]
    assert fix["pupil"].tolist() == [4.0, 4.0]


def test_velocity_matches_pymovements_neighbors():
    pm = pytest.importorskip("pymovements.transforms.numpy")
    s = simulate(n_fix=5)
    xd, yd = SCREEN.px_to_deg(s["x_screen_px"], s["y_screen_px"])
    ours = velocity_deg_s(s["t_ms"].to_numpy(), xd, yd, window_ms=2.0)
    ref = np.linalg.norm(pm.pos2vel(np.c_[xd, yd], 1000, "neighbors"), axis=1)
    np.testing.assert_allclose(ours[1:-1], ref[1:-1], rtol=1e-9)


def test_velocity_window_of_20ms_spans_20ms():
    t = np.arange(100.0)
    x = t * 0.01  # 10 deg/s along x
    v = velocity_deg_s(t, x, np.zeros(100), window_ms=20.0)
    np.testing.assert_allclose(v, 10.0)


def test_gap_fill_merge_and_discard_each_change_the_result():
    """Where the Tobii steps make our I-VT differ from a plain (pymovements-style) I-VT."""
    nan = np.nan
    # A: a 40 ms blink inside a 300 ms fixation. Plain I-VT: two fixations (the lost samples split it,
    # and the 20 ms velocity window has no value within 10 samples of them: 130 - 10 = 120 ms each).
    # Gap fill-in (span 41 ms <= 75) interpolates them: one 300 ms fixation.
    a = steps([(130, 500.0, 500.0), (40, nan, nan), (130, 500.0, 500.0)])
    plain = detectors.ivt(a, SCREEN, PLAIN_IVT)
    filled = detectors.ivt(a, SCREEN, dataclasses.replace(PLAIN_IVT, gap_fill_max_ms=75))
    assert len(plain) == 2 and plain["duration_ms"].tolist() == [120.0, 120.0]
    assert len(filled) == 1 and filled["duration_ms"].iloc[0] == 300.0
    # a 100 ms blink (span 101 ms > 75) is not filled
    b = steps([(130, 500.0, 500.0), (100, nan, nan), (130, 500.0, 500.0)])
    assert len(detectors.ivt(b, SCREEN, dataclasses.replace(PLAIN_IVT, gap_fill_max_ms=75))) == 2
    # B: a 2-sample glitch of 30 px (0.84 deg / 20 ms window = 42 deg/s) at samples 150-151 makes samples
    # 140, 141, 160, 161 "moving" (a window end on the glitch): three pieces 0..139, 142..159, 162..301,
    # all within 0.1 deg. Merging (gaps 2 ms, < 0.5 deg) rejoins them: samples 0..301.
    c = steps([(150, 700.0, 300.0), (2, 730.0, 300.0), (150, 700.0, 300.0)])
    assert detectors.ivt(c, SCREEN, PLAIN_IVT)["duration_ms"].tolist() == [140.0, 18.0, 140.0]
    merged = detectors.ivt(c, SCREEN, dataclasses.replace(PLAIN_IVT, merge_max_gap_ms=75))
    assert len(merged) == 1 and merged["duration_ms"].iloc[0] == 302.0
    # ... but not when the two parts are more than 0.5 deg apart (40 px is about 1.1 deg here).
    d = steps([(150, 700.0, 300.0), (2, 720.0, 300.0), (150, 740.0, 300.0)])
    assert len(detectors.ivt(d, SCREEN, PLAIN_IVT)) == 2
    assert len(detectors.ivt(d, SCREEN, dataclasses.replace(PLAIN_IVT, merge_max_gap_ms=75))) == 2
    # C: a 40 ms fixation between 1-sample saccades is kept by a plain I-VT and discarded with min 60 ms.
    # Samples: 0..199 at x=100, 200 at 400, 201..240 at 800, 241 at 1200, 242..441 at 1500. A sample is
    # still when both ends of its +-10 sample window are on the same plateau: 0..189, 211..230, 252..441.
    e = steps([(200, 100.0, 100.0), (1, 400.0, 100.0), (40, 800.0, 100.0), (1, 1200.0, 100.0), (200, 1500.0, 100.0)])
    kept = detectors.ivt(e, SCREEN, PLAIN_IVT)
    assert sorted(kept["duration_ms"].round().tolist()) == [20.0, 190.0, 190.0]
    assert detectors.ivt(e, SCREEN, dataclasses.replace(PLAIN_IVT, min_duration_ms=60))["duration_ms"].min() >= 60
    assert len(detectors.ivt(e, SCREEN)) == 2  # Tobii defaults: all three steps on


def test_velocity_threshold_and_window_are_overridable():
    # a steady drift of 0.2 px/ms: 0.2 * 0.2766 mm / 650 mm -> about 4.9 deg/s near the centre
    n = 300
    s = steps([(n, 960.0, 540.0)])
    s["x_screen_px"] = 960.0 + 0.2 * np.arange(n)
    assert len(detectors.ivt(s, SCREEN)) == 1  # below 30 deg/s: one fixation
    assert len(detectors.detect(s, SCREEN, "ivt", velocity_threshold_deg_s=4.0)) == 0  # above 4 deg/s: none
    slow = detectors.detect(s, SCREEN, "ivt", velocity_threshold_deg_s=6.0, velocity_window_ms=100.0)
    assert slow["duration_ms"].tolist() == [300.0]
    assert detectors.make_params("idt", dispersion_threshold_deg=2.0).dispersion_threshold_deg == 2.0
    assert detectors.parse_params("ivt", ["min_duration_ms=80", "eye=left"]) == {"min_duration_ms": 80.0, "eye": "left"}


def test_eye_averaging_and_per_eye():
    left = steps([(200, 500.0, 500.0)])
    left["eye"] = "left"
    right = steps([(200, 520.0, 500.0)])
    right["eye"] = "right"
    right.loc[50:59, "valid"] = False  # 10 lost right-eye samples: the left eye alone is used there
    both = pd.concat([left, right], ignore_index=True)
    avg = detectors.ivt(both, SCREEN, detectors.IVTParams(min_duration_ms=0))
    assert avg["eye"].tolist() == ["both"]
    # 190 samples at 510 and 10 at 500
    assert avg["screen_x_px"].iloc[0] == pytest.approx((190 * 510 + 10 * 500) / 200)
    each = detectors.idt(both, SCREEN, detectors.IDTParams(eye="both", min_duration_ms=40))
    # the right eye's 10 lost samples split it: 0..49 and 60..199
    assert each.sort_values(["eye", "t_start_ms"])["duration_ms"].tolist() == [200.0, 50.0, 140.0]
    only = detectors.detect(both, SCREEN, "ivt", eye="right", gap_fill_max_ms=0, merge_max_gap_ms=0, min_duration_ms=0)
    assert only["eye"].tolist() == ["right", "right"]
    with pytest.raises(GazekitError, match="no left-eye samples"):
        detectors.ivt(right, SCREEN, detectors.IVTParams(eye="left"))


def test_sessions_kept_apart_and_sorted():
    a = steps([(200, 500.0, 500.0)]).assign(session_id="b")
    b = steps([(300, 500.0, 500.0)]).assign(session_id="a")
    fix = detectors.idt(pd.concat([a, b], ignore_index=True), SCREEN)
    assert fix["session_id"].tolist() == ["a", "b"]
    assert fix["duration_ms"].tolist() == [300.0, 200.0]


def test_idt_hand_computed_and_rules():
    # 150 ms still; 80 px (about 1.95 deg) away 120 ms still; far away 50 ms still (< 100 ms: dropped)
    s = steps([(150, 960.0, 540.0), (120, 1040.0, 540.0), (50, 1500.0, 540.0)])
    fix = detectors.idt(s, SCREEN)
    assert fix["t_start_ms"].tolist() == [0.0, 150.0]
    assert fix["duration_ms"].tolist() == [150.0, 120.0]


def test_detect_rejects_unknown_method_and_parameter():
    s = steps([(100, 1.0, 1.0)])
    with pytest.raises(GazekitError, match="expected one of ivt, idt"):
        detectors.detect(s, SCREEN, "ihmm")
    with pytest.raises(GazekitError, match="velocity_threshold_deg_s"):
        detectors.detect(s, SCREEN, "ivt", speed=3)
    with pytest.raises(GazekitError, match="screen geometry"):
        detectors.ivt(s, None)


def test_empty_and_tiny_inputs_give_empty_tables():
    for n in (0, 1, 5):
        s = steps([(n, 1.0, 1.0)]) if n else steps([(1, 1.0, 1.0)]).iloc[:0]
        for method in ("ivt", "idt"):
            out = detectors.detect(s, SCREEN, method)
            assert list(out.columns) == FIXATION_COLUMNS and len(out) == 0


# --- pymovements oracle ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ivt_agrees_with_pymovements(seed):
    """Tobii steps off, neighbours velocity: the same fixations, sample for sample."""
    pmd = pytest.importorskip("pymovements.events.detection")
    pmt = pytest.importorskip("pymovements.transforms.numpy")
    s = simulate(seed=seed, noise_px=0.3)
    # some lost samples: pymovements sees NaN positions, we see valid=False
    lost = np.random.default_rng(seed).choice(len(s), 300, replace=False)
    s.loc[lost, "valid"] = False
    params = dataclasses.replace(PLAIN_IVT, velocity_window_ms=2.0, min_duration_ms=60.0)
    ours = detectors.ivt(s, SCREEN, params)
    xd, yd = SCREEN.px_to_deg(s["x_screen_px"].where(s["valid"]), s["y_screen_px"].where(s["valid"]))
    vel = pmt.pos2vel(np.c_[xd, yd], 1000, "neighbors")
    vel[[0, -1]] = np.nan  # pymovements leaves the end samples at velocity 0; we have no window there
    # pymovements measures duration as offset - onset (last - first sample), we count samples: -1 ms
    ref = pmd.ivt(vel, s["t_ms"].to_numpy(), minimum_duration=59.0, velocity_threshold=30.0).frame
    assert len(ours) == len(ref) > 15
    np.testing.assert_array_equal(ours["t_start_ms"], ref["onset"].to_numpy())
    np.testing.assert_array_equal(ours["t_start_ms"] + ours["duration_ms"] - 1.0, ref["offset"].to_numpy())


def test_idt_agrees_with_pymovements_up_to_the_breaking_sample():
    """Same windows and thresholds. pymovements also counts the sample that breaks the dispersion as part
    of the fixation and restarts after it; Salvucci-Goldberg, and we, stop before it and restart at it.
    So each of our fixations ends one sample before pymovements' offset (except where the data ends), and
    a fixation that starts right at the previous one's breaking sample starts one sample later there."""
    pmd = pytest.importorskip("pymovements.events.detection")
    s = simulate(noise_px=1.0, seed=3)
    xd, yd = SCREEN.px_to_deg(s["x_screen_px"], s["y_screen_px"])
    ours = detectors.idt(s, SCREEN)
    ref = pmd.idt(np.c_[xd, yd], s["t_ms"].to_numpy().astype(int), minimum_duration=100, dispersion_threshold=1.0)
    ref = ref.frame
    assert len(ours) == len(ref) > 25
    start = ours["t_start_ms"].to_numpy()
    end = (ours["t_start_ms"] + ours["duration_ms"] - 1.0).to_numpy()  # our last sample
    restart = np.r_[False, start[1:] == end[:-1] + 1.0]
    assert restart.sum() >= 1  # this seed has such a case
    np.testing.assert_array_equal(start + restart, ref["onset"].to_numpy())
    last_t = s["t_ms"].iloc[-1]
    expected = np.where(ref["offset"].to_numpy() == last_t, last_t, ref["offset"].to_numpy() - 1.0)
    np.testing.assert_array_equal(end, expected)
