"""I-VT speed and peak memory on simulated 1 kHz gaze: gazekit.convert.ivt vs pymovements, side by side.

    PYTHONPATH=. python benchmarks/events.py                 # 10 million samples, 3 runs each
    PYTHONPATH=. python benchmarks/events.py --n 1000000 --runs 5

Each method runs in its own child process (same data, regenerated from the same seed), so its peak
memory is its own: the peak resident set size (Linux VmHWM, reset after the data are built) minus the
resident size before the run. Timings are medians. Methods:

- ``gazekit ivt (Tobii)``: :func:`gazekit.convert.ivt.ivt` with the Tobii defaults (gap fill, eye averaging,
  20 ms window, 30 deg/s, merge, discard < 60 ms), from the samples table to the fixation table.
- ``gazekit ivt (plain)``: the same function with gap fill / merge / discard off and a 2-sample window,
  i.e. the same algorithm as pymovements below (the script checks both find the same fixations).
- ``pymovements ivt``: the user path of pymovements 0.28: ``Gaze`` from numpy, ``pix2deg``,
  ``pos2vel("neighbors")``, ``detect("ivt")``.

It also prints, when ../shared/data is there, how our plain and Tobii I-VT agree with pymovements' ivt on
the real sample files (share of samples labelled alike, fixation counts).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import multiprocessing as mp
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gazekit.convert import detectors
from gazekit.geometry import Screen

SCREEN = Screen(1920, 1080, 531.0, 299.0, 650.0)
PLAIN = detectors.IVTParams(gap_fill_max_ms=0, merge_max_gap_ms=0, min_duration_ms=60, velocity_window_ms=2.0)


def simulate(n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` samples at 1 kHz: fixations 100-500 ms (0.3 px noise), linear saccades 15-60 ms, 0.5 % lost
    samples and a 120 ms blink in every 20th fixation. Vectorised."""
    rng = np.random.default_rng(seed)
    k = n // 150 + 10
    fix_len = rng.integers(100, 500, k)
    sac_len = rng.integers(15, 60, k)
    tx, ty = rng.uniform(50, 1870, k + 1), rng.uniform(50, 1030, k + 1)
    seg_len = fix_len + sac_len
    seg = np.repeat(np.arange(k), seg_len)[:n]
    pos = np.arange(len(seg)) - np.repeat(np.cumsum(seg_len) - seg_len, seg_len)[:n]
    in_sac = pos >= fix_len[seg]
    frac = np.where(in_sac, (pos - fix_len[seg] + 1) / sac_len[seg], 0.0)
    x = tx[seg] + (tx[seg + 1] - tx[seg]) * frac + rng.normal(0, 0.3, n)
    y = ty[seg] + (ty[seg + 1] - ty[seg]) * frac + rng.normal(0, 0.3, n)
    valid = rng.random(n) > 0.005
    valid &= ~((seg % 20 == 0) & (pos >= 40) & (pos < 160) & ~in_sac)
    return pd.DataFrame(
        {
            "t_ms": np.arange(n, dtype=float),
            "x_screen_px": np.where(valid, x, np.nan),
            "y_screen_px": np.where(valid, y, np.nan),
            "valid": valid,
            "pupil": 3.0,
            "eye": "left",
        }
    )


def run_gazekit(df: pd.DataFrame, params: detectors.IVTParams) -> int:
    return len(detectors.ivt(df, SCREEN, params))


def run_pymovements(df: pd.DataFrame) -> int:
    import pymovements as pm

    exp = pm.Experiment(
        screen_width_px=SCREEN.width_px,
        screen_height_px=SCREEN.height_px,
        screen_width_cm=SCREEN.width_mm / 10,
        screen_height_cm=SCREEN.height_mm / 10,
        distance_cm=SCREEN.distance_mm / 10,
        origin="upper left",
        sampling_rate=1000,
    )
    pixel = np.vstack([df["x_screen_px"].to_numpy(), df["y_screen_px"].to_numpy()])
    gaze = pm.gaze.from_numpy(time=df["t_ms"].to_numpy(), pixel=pixel, experiment=exp)
    gaze.pix2deg()
    gaze.pos2vel(method="neighbors")
    gaze.detect("ivt", minimum_duration=59, velocity_threshold=30.0)
    return len(gaze.detectors.frame)


METHODS = {
    "gazekit ivt (Tobii)": lambda df: run_gazekit(df, detectors.IVTParams()),
    "gazekit ivt (plain)": lambda df: run_gazekit(df, PLAIN),
    "pymovements ivt": run_pymovements,
}


def _rss_mb(field: str) -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def _child(name: str, n: int, runs: int, queue) -> None:
    df = simulate(n)
    func = METHODS[name]
    times, peaks = [], []
    for _ in range(runs):
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:  # reset the peak RSS (VmHWM)
            fh.write("5")
        before = _rss_mb("VmRSS")
        t0 = time.perf_counter()
        count = func(df)
        times.append(time.perf_counter() - t0)
        peaks.append(_rss_mb("VmHWM") - before)
    queue.put((name, statistics.median(times), max(peaks), count))


def measure(name: str, n: int, runs: int) -> tuple[str, float, float, int]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(name, n, runs, queue))
    proc.start()
    out = queue.get()
    proc.join()
    return out


def agreement_on_real_files() -> None:
    """Our I-VT (plain and Tobii) vs pymovements ivt on the real sample files, one eye each."""
    from pymovements.events.detection import ivt as pm_ivt
    from pymovements.transforms.numpy import pos2vel

    from gazekit import readers
    from gazekit.convert import coordinates, detection

    root = Path(os.environ.get("GAZEKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    files = ["pymovements_eyelink_binocular_example.asc", "tobiisdk_tobii_research_sample_gaze_data.csv"]
    cli = {"width_px": 1920.0, "height_px": 1080.0, "width_mm": 531.0, "height_mm": 299.0, "distance_mm": 650.0}
    print("\nagreement with pymovements ivt on real files (left eye; 30 deg/s, min 60 ms, neighbours velocity)")
    head = ["samples", "pm fix", "plain fix", "plain agree", "Tobii fix", "Tobii agree"]
    print(f"{'file':48s} " + " ".join(f"{h:>11s}" for h in head))
    for name in files:
        path = root / "gaze-samples" / name
        if not path.exists():
            print(f"{name:48s} (absent)")
            continue
        rec = readers.read(path)
        rec = coordinates.to_screen_px(rec, detection.screen_for(rec, path, cli), path)
        s = rec.samples[rec.samples["eye"] == "left"].sort_values("t_ms")
        t = s["t_ms"].to_numpy()
        dt = float(np.median(np.diff(t)))
        xd, yd = rec.screen.px_to_deg(s["x_screen_px"].where(s["valid"]), s["y_screen_px"].where(s["valid"]))
        vel = pos2vel(np.c_[xd, yd], 1000.0 / dt, "neighbors")
        vel[[0, -1]] = np.nan
        ref = pm_ivt(vel, t, minimum_duration=60 - dt, velocity_threshold=30.0).frame
        ref_lab = _labels(t, ref["onset"].to_numpy(), ref["offset"].to_numpy() + dt)
        plain = detectors.ivt(s, rec.screen, dataclasses.replace(PLAIN, velocity_window_ms=2 * dt, eye="left"))
        tobii = detectors.ivt(s, rec.screen, detectors.IVTParams(eye="left"))
        agree = [
            float(np.mean(_labels(t, f["t_start_ms"], f["t_start_ms"] + f["duration_ms"]) == ref_lab))
            for f in (plain, tobii)
        ]
        print(
            f"{name:48s} {len(t):11d} {len(ref):11d} {len(plain):11d} {agree[0]:11.3f} {len(tobii):11d} "
            f"{agree[1]:11.3f}"
        )


def _labels(t: np.ndarray, start, end) -> np.ndarray:
    """True for samples inside any [start, end) interval."""
    lab = np.zeros(len(t), bool)
    for a, b in zip(np.asarray(start), np.asarray(end), strict=True):
        lab |= (t >= a) & (t < b - 1e-9)
    return lab


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10_000_000, help="samples (1 kHz)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--pymovements-n", type=int, default=None, help="run pymovements on a prefix of this size")
    args = ap.parse_args()
    print(f"I-VT on {args.n:,} simulated 1 kHz samples, median of {args.runs} runs, one process per method")
    print(f"{'method':22s} {'samples':>12s} {'time s':>8s} {'samples/s':>12s} {'peak MB':>9s} {'fixations':>10s}")
    rows = {}
    for name in METHODS:
        n = args.pymovements_n if (name.startswith("pymovements") and args.pymovements_n) else args.n
        name, sec, peak, count = measure(name, n, args.runs)
        rows[name] = (n / sec, count)
        print(f"{name:22s} {n:12,d} {sec:8.2f} {n / sec:12,.0f} {peak:9.0f} {count:10d}")
    base = rows["pymovements ivt"][0]
    for name in ("gazekit ivt (plain)", "gazekit ivt (Tobii)"):
        print(f"ratio {name} / pymovements ivt (samples/s): {rows[name][0] / base:.1f}x")
    if rows["pymovements ivt"][1] == rows["gazekit ivt (plain)"][1]:
        print("same fixation count for gazekit plain and pymovements: yes")
    else:
        print("fixation counts differ (pymovements ran on another size or disagrees)")
    agreement_on_real_files()


if __name__ == "__main__":
    main()
