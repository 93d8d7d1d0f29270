"""Simulator: protocol, tracker error, reproducibility, CLI, DICOM == NIfTI, fidelity on Kvasir, ACDC example."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import subprocess
import sys

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy import stats

from gazekit import session, stimuli, tables
from gazekit.cli import main
from gazekit.convert import pipeline as conv
from gazekit.simulate import simulator
from tests.conftest import REPO, shared_path

SPACING = (8.0, 1.5, 1.5)


def disc(h=60, w=80, cx=40, cy=30, r=15) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return (((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) < r**2).astype(np.uint8)


def label_volume() -> np.ndarray:
    """6 slices, structures on slices 1..4 with growing then shrinking discs (areas differ)."""
    vol = np.zeros((6, 48, 64), np.uint8)
    for k, r in zip(range(1, 5), (6, 12, 16, 9), strict=True):
        vol[k] = disc(48, 64, 30, 24, r) * (1 + k % 2)
    return vol


def test_centre_outwards_and_fitted_counts():
    cfg = simulator.SimConfig(seed=1)
    cfg = dataclasses.replace(
        cfg, fitted={**cfg.fitted, "off_target_share": 0.0, "scan": {"first_sd": 0, "extra_mean": 0}}
    )
    lay = simulator.layout(disc(r=20))
    rng = np.random.default_rng(0)
    xy = simulator.plan_image(lay, 30, rng, cfg)
    r = np.hypot(xy[:, 0] - 40, xy[:, 1] - 30)
    assert (xy[0] == [40, 30]).all()  # first fixation: the image centre (first_sd = 0)
    assert r[1] < 3  # then the structure's centre
    assert (r[1:] < 20 + 1e-9).all()  # no off-target share: all inside the disc
    rho = stats.spearmanr(np.arange(29), r[1:]).statistic
    assert rho > 0.8  # moving outwards
    # counts per image follow the fitted negative binomial: mean r (1 - p) / p
    c = cfg.fitted["count"]
    draws = [simulator.draw_count(cfg.fitted, rng) for _ in range(4000)]
    assert np.mean(draws) == pytest.approx(c["r"] * (1 - c["p"]) / c["p"], rel=0.05)


def make_targets(tmp_path):
    vol = label_volume()
    stimuli.write_nifti(vol, tmp_path / "v.nii.gz", SPACING)
    return [simulator.Target(vol, stimuli.load_one(tmp_path / "v.nii.gz"))]


def test_volume_dwell_proportional_to_area_and_tracker_error(tmp_path):
    targets = make_targets(tmp_path)
    cfg = simulator.SimConfig(seed=4, lost_share=0.0, blink_prob=0.0)
    meta, samples, events, truth = simulator.simulate_session(targets, cfg)
    vol = targets[0].labels
    per_slice = truth.groupby("slice_index").size()
    assert sorted(per_slice.index.tolist()) == [1, 2, 3, 4]  # only slices with structures are read
    areas = (vol > 0).reshape(6, -1).sum(1)
    n = per_slice.max() / 1.0
    expected = [max(2, round(n * areas[k] / areas.max())) for k in (1, 2, 3, 4)]
    assert per_slice.tolist() == pytest.approx(expected, abs=1)
    assert list(events.loc[events["stimulus_id"] == "v", "slice_index"]) == [1, 2, 3, 4]
    # tracker error, measured on samples well inside each planned fixation
    t = samples["t_ms"].to_numpy()
    offs, s2s = [], []
    for f in truth.itertuples():
        sel = (t >= f.t_start_ms + 10) & (t < f.t_start_ms + f.duration_ms - 10)
        dx = samples["x_screen_px"].to_numpy()[sel] - f.screen_x_px
        dy = samples["y_screen_px"].to_numpy()[sel] - f.screen_y_px
        offs.append((dx.mean(), dy.mean()))
        s2s.extend(np.hypot(np.diff(dx), np.diff(dy)))
    deg_per_px = cfg.screen.deg_per_px_at_centre()
    offset_deg = np.hypot(*np.mean(offs, axis=0)) * deg_per_px
    assert offset_deg == pytest.approx(0.5, rel=0.05)
    assert np.sqrt(np.mean(np.square(s2s))) * deg_per_px == pytest.approx(0.03, rel=0.05)
    assert np.median(np.diff(t)) == pytest.approx(1000 / 300)
    assert meta["simulated"] is True and meta["SamplingFrequency"] == 300.0


def test_lost_samples_and_blinks(tmp_path):
    targets = make_targets(tmp_path)
    cfg = simulator.SimConfig(seed=2, lost_share=0.02, blink_prob=0.5)
    _, samples, _, truth = simulator.simulate_session(targets, cfg)
    invalid = ~samples["valid"].to_numpy()
    assert samples.loc[~samples["valid"], "x_screen_px"].isna().all()
    runs = np.diff(np.flatnonzero(np.diff(np.r_[0, invalid.astype(int), 0]) != 0))[::2]
    assert (runs >= 15).sum() >= 0.3 * len(truth) * 0.5  # blinks: runs >= 50 ms at 300 Hz in ~half the gaps
    assert invalid.mean() > 0.02


def test_reproducible_and_seed_matters(tmp_path):
    targets = make_targets(tmp_path)
    a = simulator.simulate_session(targets, simulator.SimConfig(seed=7))
    b = simulator.simulate_session(targets, simulator.SimConfig(seed=7))
    c = simulator.simulate_session(targets, simulator.SimConfig(seed=8))
    pd.testing.assert_frame_equal(a[1], b[1])
    pd.testing.assert_frame_equal(a[2], b[2])
    assert not a[1]["x_screen_px"].equals(c[1]["x_screen_px"])


def run_cli(args):
    res = CliRunner().invoke(main, [str(a) for a in args])
    return res.exit_code, res.output


def test_dicom_and_nifti_give_the_same_slice_order_and_fixation_table(tmp_path):
    """The issue's 'done when': one label volume as NIfTI and as DICOM -> same slices, same fixations."""
    vol = label_volume()
    img = (vol * 100 + np.arange(6)[:, None, None]).astype(np.float32)  # every slice distinct
    (tmp_path / "ni" / "img").mkdir(parents=True)
    (tmp_path / "dc" / "img").mkdir(parents=True)
    stimuli.write_nifti(img, tmp_path / "ni" / "img" / "case1.nii.gz", SPACING)
    stimuli.write_nifti(vol, tmp_path / "ni" / "case1_gt.nii.gz", SPACING)
    uid = stimuli.write_dicom_series(img, tmp_path / "dc" / "img" / "case1", SPACING)
    stimuli.write_dicom_series(vol, tmp_path / "dc" / "case1_gt", SPACING)
    a = stimuli.load_one(tmp_path / "ni" / "img" / "case1.nii.gz")
    b = stimuli.load_one(tmp_path / "dc" / "img" / "case1")
    assert np.array_equal(a.data[:, 0, 0], np.arange(6)) and np.array_equal(b.data[:, 0, 0], np.arange(6))
    out = {}
    for kind, label in (("ni", "case1_gt.nii.gz"), ("dc", "case1_gt")):
        code, text = run_cli(
            [
                "simulate",
                tmp_path / kind / label,
                "--images",
                tmp_path / kind / "img",
                "-o",
                tmp_path / kind / "s",
                "--seed",
                5,
            ]
        )
        assert code == 0, text
        code, text = run_cli(["convert", tmp_path / kind / "s", "-o", tmp_path / kind / "f.parquet"])
        assert code == 0, text
        out[kind] = tables.read_table("fixations", tmp_path / kind / "f.parquet")[0]
    ni, dc = out["ni"], out["dc"]
    assert set(ni["stimulus_id"]) == {"", "case1"} and set(dc["stimulus_id"]) == {"", uid}
    cols = ["slice_index", "t_start_ms", "duration_ms", "x_px", "y_px", "on_image", "screen_x_px"]
    pd.testing.assert_frame_equal(ni[cols], dc[cols])
    on = ni[ni["stimulus_id"] == "case1"]
    assert set(on["slice_index"]) == {1, 2, 3, 4}
    assert len(on) > 20


def test_convert_session_with_external_viewer_log(tmp_path):
    targets = make_targets(tmp_path)
    session.write_session(tmp_path / "s", *simulator.simulate_session(targets, simulator.SimConfig(seed=3)))
    ref = conv.convert([tmp_path / "s"])[0]
    ev = session.read_session(tmp_path / "s").viewer_events
    ev = ev.assign(t_ms=ev["t_ms"] - 1e6, flip_x=ev["flip_x"].astype(int), flip_y=ev["flip_y"].astype(int))
    ev.to_csv(tmp_path / "ev.csv", index=False)
    code, text = run_cli(
        ["convert", tmp_path / "s", "-o", tmp_path / "f.parquet", "--viewer-events", tmp_path / "ev.csv",
         "--clock-offset-ms", 1e6, "--stimulus", tmp_path / "v.nii.gz"]
    )  # fmt: skip
    assert code == 0, text
    got = tables.read_table("fixations", tmp_path / "f.parquet")[0]
    np.testing.assert_allclose(got["x_px"], ref["x_px"])
    assert got["slice_index"].tolist() == ref["slice_index"].tolist()
    code, text = run_cli(
        ["convert", tmp_path / "s", "-o", tmp_path / "g.parquet", "--viewer-events", tmp_path / "ev.csv",
         "--stimulus", tmp_path / "v.nii.gz"]
    )  # fmt: skip
    assert code == 2 and "check --clock-offset-ms" in text and text.count("\n") == 1
    assert not (tmp_path / "g.parquet").exists()


def test_cli_bad_inputs(tmp_path):
    (tmp_path / "masks").mkdir()
    (tmp_path / "imgs").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "a.png"), disc() * 255)
    cv2.imwrite(str(tmp_path / "imgs" / "a.png"), np.zeros((10, 10), np.uint8))
    code, text = run_cli(["simulate", tmp_path / "masks", "--images", tmp_path / "imgs", "-o", tmp_path / "s"])
    assert code == 2 and "a.png, shape: expected the label map to match its image (10, 10), got (60, 80)" in text
    code, text = run_cli(
        ["simulate", tmp_path / "masks", "--images", tmp_path / "masks", "-o", tmp_path / "s", "--rate-hz", 0]
    )
    assert code == 2 and "--rate-hz" in text
    assert not (tmp_path / "s").exists()


def test_user_types_simulate_then_convert(tmp_path):
    (tmp_path / "masks").mkdir()
    cv2.imwrite(str(tmp_path / "masks" / "m1.png"), disc() * 255)
    cv2.imwrite(str(tmp_path / "masks" / "m2.png"), disc(cx=20, r=8) * 2)  # a label map (values < 128)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"}
    for args in (
        ["simulate", "masks", "-o", "sess", "--seed", "1", "--rate-hz", "250"],
        ["convert", "sess", "-o", "f.parquet"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "gazekit", *args], cwd=tmp_path, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    meta = json.loads((tmp_path / "sess" / "session.json").read_text())
    assert meta["simulated"] is True and meta["SamplingFrequency"] == 250.0
    assert [s["id"] for s in meta["stimuli"]] == ["m1", "m2"]
    assert [s["source"] for s in meta["stimuli"]] == ["masks/m1.png", "masks/m2.png"]  # relative to the data root
    fix = tables.read_table("fixations", tmp_path / "f.parquet")[0]
    on = fix[fix["on_image"]]
    assert set(on["stimulus_id"]) == {"m1", "m2"} and on["slice_index"].isna().all()


def test_fidelity_on_real_kvasir_gaze():
    """Simulated (simulate -> session folder -> convert) vs real GazeMedSeg gaze on the same 80 Kvasir masks."""
    from gazekit.simulate import fit

    data = shared_path("kvasir-seg")
    table = fit.fidelity(data, n_images=80, seed=1)
    rel = table["relative"]
    assert abs(rel["fixations_per_image_median"]) <= 0.20
    for q in ("duration_q25_ms", "duration_median_ms", "duration_q75_ms"):
        assert abs(rel[q]) <= 0.20, q
    assert abs(table.loc["inside_share", "difference"]) <= 0.05
    assert table.loc["heatmap_dice_at_0.5", "real"] == pytest.approx(0.745, abs=0.06)  # GazeMedSeg's anchor
    assert table.loc["heatmap_dice_at_0.5", "simulated"] > 0.55


def test_acdc_example_runs_on_one_volume(tmp_path, capsys):
    acdc = shared_path("ACDC")
    spec = importlib.util.spec_from_file_location("run_acdc", REPO / "examples" / "acdc" / "run_acdc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.main(["--acdc", str(acdc), "--volumes", "1", "-o", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert "100.0 % on the planned volume and slice" in text and "identical: yes" in text


def test_ivt_positions_survive_an_invalid_stretch_between_fixations():
    """Regression: a blink between two fixations must not turn later fixation positions into NaN."""
    from gazekit.convert import detectors

    t = np.arange(300) * 4.0
    valid = np.ones(300, bool)
    valid[140:160] = False  # 80 ms lost between the fixations (longer than the gap fill)
    x = np.where(t < 600, 500.0, 900.0)
    df = pd.DataFrame(
        {"t_ms": t, "x_screen_px": np.where(valid, x, np.nan), "y_screen_px": np.where(valid, 500.0, np.nan),
         "valid": valid, "pupil": 3.0, "eye": "both"}
    )  # fmt: skip
    fix = detectors.ivt(df, simulator.DEFAULT_SCREEN)
    assert fix["screen_x_px"].tolist() == pytest.approx([500.0, 900.0])


def test_ssl4mis_hdf5_volume(tmp_path):
    import h5py

    vol = label_volume()
    with h5py.File(tmp_path / "patient001_frame01.h5", "w") as fh:
        fh["image"] = vol.astype(np.float32) / 2
        fh["label"] = vol
    code, text = run_cli(["simulate", tmp_path / "patient001_frame01.h5", "-o", tmp_path / "s", "--seed", 2])
    assert code == 0, text
    meta = json.loads((tmp_path / "s" / "session.json").read_text())
    assert meta["stimuli"][0]["id"] == "patient001_frame01" and meta["stimuli"][0]["kind"] == "hdf5"
    assert meta["stimuli"][0]["shape"] == [6, 48, 64]
    code, text = run_cli(["convert", tmp_path / "s", "-o", tmp_path / "f.parquet", "--detect", "idt"])
    assert code == 0, text
    fix = tables.read_table("fixations", tmp_path / "f.parquet")[0]
    on = fix[fix["on_image"]]
    assert set(on["stimulus_id"]) == {"patient001_frame01"} and set(on["slice_index"]) <= {1, 2, 3, 4}
    assert (fix["detector"] == "idt").all()
