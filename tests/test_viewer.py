"""Viewer events: CSV layout, majority rule, view-state mapping, bad logs."""

from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gazekit.convert import coordinates, viewer_log
from gazekit.errors import GazekitError
from gazekit.readers import Recording

SHAPES = {"vol": (5, 20, 30), "img": (None, 40, 50)}


def events(rows) -> pd.DataFrame:
    df = pd.DataFrame(
        rows,
        columns=["t_ms", "stimulus_id", "slice_index", "x0_px", "y0_px", "scale", "rotation_deg", "flip_x", "flip_y"],
    )
    df["slice_index"] = pd.array(df["slice_index"].tolist(), dtype="Int64")
    df["window_center"] = np.nan
    df["window_width"] = np.nan
    return df


def fixations(t, dur, sx, sy) -> pd.DataFrame:
    return pd.DataFrame({"t_start_ms": t, "duration_ms": dur, "screen_x_px": sx, "screen_y_px": sy})


def test_majority_rule_by_hand():
    ev = events([(0, "vol", 0, 0, 0, 1, 0, False, False), (100, "vol", 1, 0, 0, 1, 0, False, False)])
    fix = fixations([80.0, 50.0, 10.0, 90.0], [120.0, 80.0, 20.0, 20.0], [5.0] * 4, [5.0] * 4)
    got, warnings = coordinates.map_fixations(fix, ev, SHAPES)
    # 80..200: 20 ms on slice 0, 100 ms on slice 1 -> 1; 50..130: 50 vs 30 -> 0; 90..110: tie 10/10 -> earlier
    assert got["slice_index"].tolist() == [1, 0, 0, 0]
    assert warnings == []


def test_fixation_before_log_and_blank_have_no_stimulus():
    ev = events([(100, "img", None, 0, 0, 1, 0, False, False), (300, "", None, 0, 0, 1, 0, False, False)])
    fix = fixations([0.0, 150.0, 400.0], [50.0, 50.0, 50.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0])
    got, warnings = coordinates.map_fixations(fix, ev, SHAPES)
    assert got["stimulus_id"].tolist() == ["", "img", ""]
    assert got["on_image"].tolist() == [False, True, False]
    assert "1 fixation(s) start before the first viewer event" in warnings[0]


def test_rotation_flip_zoom_pan_by_hand():
    # 2D image 50 wide x 40 high, rotated 90 deg clockwise, scale 2, top-left of the shown image at (100, 10).
    # Image point (x=10, y=5) -> after 90 deg cw rotation (u, v) = (H - y, x) = (35, 10) -> screen (170, 30).
    ev = events([(0, "img", None, 100, 10, 2, 90, False, False)])
    got, _ = coordinates.map_fixations(fixations([0.0], [100.0], [170.0], [30.0]), ev, SHAPES)
    assert (got["x_px"][0], got["y_px"][0]) == pytest.approx((10.0, 5.0))
    # with flip_x the image column mirrors: x = W - 10 = 40
    ev.loc[0, "flip_x"] = True
    got, _ = coordinates.map_fixations(fixations([0.0], [100.0], [170.0], [30.0]), ev, SHAPES)
    assert (got["x_px"][0], got["y_px"][0]) == pytest.approx((40.0, 5.0))
    # a point left of the shown image is off the image
    got, _ = coordinates.map_fixations(fixations([0.0], [100.0], [90.0], [30.0]), ev, SHAPES)
    assert not got["on_image"][0] and got["image_width_px"][0] == 50


@settings(max_examples=60, deadline=None)
@given(
    rot=st.sampled_from([0, 90, 180, 270]),
    fx=st.booleans(),
    fy=st.booleans(),
    scale=st.floats(0.25, 8),
    x0=st.floats(-500, 500),
    y0=st.floats(-500, 500),
    u=st.floats(0, 0.999),
    v=st.floats(0, 0.999),
)
def test_mapping_inverts_the_display(rot, fx, fy, scale, x0, y0, u, v):
    """A point drawn on the image, displayed by an independent forward model, maps back to itself."""
    w, h = 30, 20
    x, y = u * w, v * h
    xf, yf = (w - x if fx else x), (h - y if fy else y)  # flip in image space, then rotate clockwise
    su, sv = {0: (xf, yf), 90: (h - yf, xf), 180: (w - xf, h - yf), 270: (yf, w - xf)}[rot]
    ev = events([(0, "vol", 2, x0, y0, scale, rot, fx, fy)])
    got, _ = coordinates.map_fixations(fixations([0.0], [10.0], [x0 + scale * su], [y0 + scale * sv]), ev, SHAPES)
    assert got["x_px"][0] == pytest.approx(x, abs=1e-6) and got["y_px"][0] == pytest.approx(y, abs=1e-6)
    assert got["slice_index"][0] == 2


def test_csv_layout_defaults_and_offset(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("t_ms,stimulus_id,slice_index,x0_px,y0_px,scale,flip_y\n0,vol,3,10,20,1.5,1\n250.5,img,,0,0,2,false\n")
    ev = viewer_log.read_viewer_events(p, clock_offset_ms=1000)
    assert ev["t_ms"].tolist() == [1000.0, 1250.5]
    assert ev["slice_index"][0] == 3 and pd.isna(ev["slice_index"][1])
    assert ev["rotation_deg"].tolist() == [0, 0] and ev["flip_y"].tolist() == [True, False]
    assert ev["flip_x"].tolist() == [False, False] and ev["window_center"].isna().all()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("t_ms,stimulus_id,x0_px,y0_px\n0,a,1,2\n", "missing column.*scale"),
        ("t_ms,stimulus_id,x0_px,y0_px,scale\n0,a,1,2,1\nxx,a,1,2,1\n", "line 3, column 't_ms': expected a number"),
        ("t_ms,stimulus_id,x0_px,y0_px,scale,rotation_deg\n0,a,1,2,1,45\n", "rotation_deg.*0, 90, 180 or 270"),
        ("t_ms,stimulus_id,x0_px,y0_px,scale,flip_x\n0,a,1,2,1,maybe\n", "line 2, column 'flip_x'"),
        ("t_ms,stimulus_id,x0_px,y0_px,scale\n5,a,1,2,1\n1,a,1,2,1\n", "increasing order"),
    ],
)
def test_csv_bad_input(tmp_path, text, message):
    p = tmp_path / "ev.csv"
    p.write_text(text)
    with pytest.raises(GazekitError, match=message):
        viewer_log.read_viewer_events(p)


def test_unknown_stimulus_slice_out_of_range_and_no_overlap():
    fix = fixations([0.0], [100.0], [1.0], [1.0])
    with pytest.raises(GazekitError, match="row 0, column 'stimulus_id': expected a known stimulus.*got 'other'"):
        coordinates.map_fixations(fix, events([(0, "other", None, 0, 0, 1, 0, False, False)]), SHAPES)
    with pytest.raises(GazekitError, match=r"row 0, column 'slice_index': expected 0\.\.4 for 'vol', got 5"):
        coordinates.map_fixations(fix, events([(0, "vol", 5, 0, 0, 1, 0, False, False)]), SHAPES)
    late = events([(5000, "img", None, 0, 0, 1, 0, False, False), (6000, "", None, 0, 0, 1, 0, False, False)])
    with pytest.raises(GazekitError, match="gaze 0..100 ms, viewer events 5000..6000 ms; check --clock-offset-ms"):
        coordinates.map_fixations(fix, late, SHAPES)


def test_apply_log_to_a_vendor_recording(tmp_path):
    p = tmp_path / "ev.csv"
    p.write_text("t_ms,stimulus_id,x0_px,y0_px,scale\n0,img,100,100,2\n")
    fix = fixations([500.0, 900.0], [200.0, 200.0], [120.0, 50.0], [110.0, 50.0]).assign(session_id="s")
    rec = Recording("test", fixations=fix, stimuli={"img": {"width": 50, "height": 40}})
    got, _ = viewer_log.apply_log(fix, rec, tmp_path / "export.tsv", p, clock_offset_ms=400.0)
    assert got["x_px"].tolist() == pytest.approx([10.0, -25.0])
    assert got["y_px"].tolist() == pytest.approx([5.0, -25.0])
    assert got["on_image"].tolist() == [True, False]
    with pytest.raises(GazekitError, match="check --clock-offset-ms"):
        viewer_log.apply_log(fix, rec, tmp_path / "export.tsv", p, clock_offset_ms=5000.0)
    same, _ = viewer_log.apply_log(fix, rec, tmp_path / "export.tsv")  # no log: unchanged
    assert same is fix


def test_real_tobii_export_with_viewer_log_cli(tmp_path):
    """`gazekit convert tobii.tsv --viewer-events events.csv` on the real Pro Lab export, by hand formula."""
    from click.testing import CliRunner

    from gazekit import tables
    from gazekit.cli import main
    from tests.conftest import shared_path

    export = shared_path("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")
    img = np.zeros((300, 400), np.uint8)
    cv2.imwrite(str(tmp_path / "scan.png"), img)
    # viewer clock starts 1000 ms before the export's: the image appears at 2000 ms on the gaze clock,
    # 400x300 px shown at (760, 340) with zoom 1; before that nothing is shown
    (tmp_path / "ev.csv").write_text("t_ms,stimulus_id,x0_px,y0_px,scale\n0,,0,0,1\n3000,scan,760,340,1\n")
    args = ["convert", str(export), "-o", str(tmp_path / "f.parquet"), "--viewer-events", str(tmp_path / "ev.csv"),
            "--clock-offset-ms", "-1000", "--stimulus", str(tmp_path / "scan.png")]  # fmt: skip
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    fix = tables.read_table("fixations", tmp_path / "f.parquet")[0]
    shown = fix["t_start_ms"] + fix["duration_ms"] / 2 > 2000  # majority of the fixation after the onset
    assert (fix["t_start_ms"] < 2000)[shown].any()  # one straddles the onset and goes to the image
    assert (fix.loc[shown, "stimulus_id"] == "scan").all() and (fix.loc[~shown, "stimulus_id"] == "").all()
    sx, sy = fix.loc[shown, "screen_x_px"], fix.loc[shown, "screen_y_px"]
    np.testing.assert_allclose(fix.loc[shown, "x_px"], sx - 760)
    np.testing.assert_allclose(fix.loc[shown, "y_px"], sy - 340)
    inside = (sx >= 760) & (sx < 1160) & (sy >= 340) & (sy < 640)
    assert fix.loc[shown, "on_image"].tolist() == inside.tolist()
    assert shown.sum() > 10 and 0 < inside.sum() < shown.sum()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0, 1e6, allow_nan=False),
            st.sampled_from(["", "vol", "img"]),
            st.integers(0, 4),
            st.floats(-1e4, 1e4, allow_nan=False),
            st.floats(0.01, 50, allow_nan=False),
            st.sampled_from([0, 90, 180, 270]),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_csv_round_trip_property(tmp_path_factory, rows):
    """Any log written in the documented CSV layout reads back to the same events."""
    rows = sorted(rows)
    ev = events([(t, s, k if s == "vol" else None, x, -x, sc, r, f, not f) for t, s, k, x, sc, r, f in rows])
    p = tmp_path_factory.mktemp("csv") / "ev.csv"
    ev.assign(flip_x=ev["flip_x"].astype(int)).to_csv(p, index=False, float_format="%.17g")
    got = viewer_log.read_viewer_events(p)
    pd.testing.assert_frame_equal(got.reset_index(drop=True), ev[got.columns].reset_index(drop=True), check_dtype=False)
