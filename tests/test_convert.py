"""gazekit convert: readers (Tobii Pro Lab, Tobii Studio, fixation reports, generic), screen -> image
mapping, CLI, bad input. Expected values come from the generators' own event lists, from plain
pandas on the real files, or from hand-computed geometry."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from functools import partial

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from examples.make_tobii_export import write_prolab_export
from gazekit import tables
from gazekit.cli import main
from gazekit.convert import pipeline as conv
from gazekit.errors import GazekitError
from gazekit.ids import stimulus_id
from gazekit.readers import _delimited, _tobii
from gazekit.readers._delimited import split_unit
from tests.conftest import REPO, shared_path
from tests.exports import write_studio_export

ALEX1 = ("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")
KVASIR = ("kvasir-seg", "fixations.csv")


def run_cli(*args: str) -> object:
    return CliRunner().invoke(main, [str(a) for a in args])


# ---------------------------------------------------------------- small pieces


@pytest.mark.parametrize(
    ("name", "base", "unit"),
    [
        ("Recording timestamp [ms]", "recording timestamp", "ms"),
        ("Recording timestamp [\u03bcs]", "recording timestamp", "\u03bcs"),  # Greek mu
        ("Recording timestamp [\u00b5s]", "recording timestamp", "\u03bcs"),  # micro sign, same unit
        ("Recording timestamp [us]", "recording timestamp", "us"),
        ("Presented Media position X (DACSpx)", "presented media position x", "dacspx"),
        ("Fixation point X [MCS norm]", "fixation point x", "mcsnorm"),
        ("\ufeffGaze point X", "gaze point x", ""),
    ],
)
def test_split_unit(name, base, unit):
    assert split_unit(name) == (base, unit)


@pytest.mark.parametrize(
    ("name", "sid"),
    [
        ("cju0qkwl35piu0993l0dewei2.jpg", "cju0qkwl35piu0993l0dewei2"),
        ("C:\\stim\\a.b.png", "a.b"),
        (None, ""),
        ("Eyetracker Calibration", "Eyetracker Calibration"),
        (float("nan"), ""),
        ("case.nii.gz", "case"),  # the compound extension is dropped whole, as for the stimulus files
        ("D:\\scans\\CASE_7.NII.GZ", "CASE_7"),
        ("/data/patient003_frame01.h5", "patient003_frame01"),
        ('"stim 1.png"', "stim 1"),
        (".hidden", ".hidden"),
    ],
)
def test_stimulus_id(name, sid):
    assert stimulus_id(name) == sid


def test_prolab_media_named_nii_gz_maps_to_the_volume_id(tmp_path):
    """A Tobii Pro Lab row whose media is ``case.nii.gz`` gets stimulus ``case``: the id gazekit.stimuli
    gives the volume file, so its fixations meet the stimulus (they got ``case.nii`` before)."""
    from gazekit import stimuli

    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=2000, n_images=2)
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df["Presented Media name"] = df["Presented Media name"].replace("stim_01.jpg", "case.nii.gz")
    df.to_csv(path, sep="\t", index=False)
    fix, _ = conv.convert([path])
    assert set(fix["stimulus_id"]) == {"", "case", "stim_02"}
    volume = stimuli.write_nifti(np.zeros((2, 3, 4), np.float32), tmp_path / "case.nii.gz", (1.0, 1.0, 1.0))
    assert stimuli.load_one(volume).stimulus_id == "case"


# ---------------------------------------------------------------- Tobii Pro Lab, synthetic


def _check_against_truth(fix: pd.DataFrame, truth: pd.DataFrame) -> None:
    truth = truth.sort_values(["recording", "t_start_ms"]).reset_index(drop=True)
    assert len(fix) == len(truth)
    np.testing.assert_allclose(fix["t_start_ms"], truth["t_start_ms"])
    np.testing.assert_allclose(fix["duration_ms"], truth["duration_ms"])
    np.testing.assert_allclose(fix["screen_x_px"], truth["screen_x_px"])
    np.testing.assert_allclose(fix["x_px"], truth["x_px"], atol=1e-9)
    np.testing.assert_allclose(fix["y_px"], truth["y_px"], atol=1e-9)
    assert fix["on_image"].tolist() == truth["on_image"].tolist()
    assert fix["stimulus_id"].tolist() == [m.removesuffix(".jpg") for m in truth["media"]]
    assert fix["session_id"].tolist() == truth["recording"].tolist()


@pytest.mark.parametrize(
    "style",
    [
        dict(),
        dict(time_unit="\u03bcs"),
        dict(time_unit="\u00b5s", decimal="."),
        dict(time_unit="us", sep=";"),
        dict(bracketed=False),
        dict(bracketed=False, decimal=".", sep=","),
        dict(bom=True, crlf=True, trailing_sep=True),
    ],
    ids=[
        "ms-comma-tab",
        "greek-mu",
        "micro-sign-dot",
        "us-semicolon",
        "unbracketed",
        "unbracketed-csv",
        "bom-crlf-tabs",
    ],
)
def test_prolab_synthetic_matches_generated_events(tmp_path, style):
    path = tmp_path / "export.tsv"
    truth = write_prolab_export(path, n_rows=4000, participants=("Reader A", "Reader B"), n_images=3, **style)
    fix, meta = conv.convert([path])
    _check_against_truth(fix, truth)
    # pseudonymous readers: one id per participant, the names never appear
    assert fix.groupby("session_id")["reader_id"].nunique().tolist() == [1, 1]
    assert fix["reader_id"].nunique() == 2
    assert "Reader" not in json.dumps(meta) + "".join(fix["reader_id"])


def test_prolab_chunk_size_does_not_change_the_result(tmp_path, monkeypatch):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=2000, participants=("A", "B"))
    whole, _ = conv.convert([path])
    monkeypatch.setattr(_delimited, "CHUNK_ROWS", 97)  # fixations (30-180 rows) span many chunk boundaries
    chunked, _ = conv.convert([path])
    pd.testing.assert_frame_equal(whole, chunked)


def test_prolab_reducing_folded_rows_early_does_not_change_the_result(tmp_path, monkeypatch):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=2000, participants=("A", "B"))
    whole, _ = conv.convert([path])
    monkeypatch.setattr(_delimited, "CHUNK_ROWS", 97)
    monkeypatch.setattr(_tobii, "REDUCE_ROWS", 3)  # reduce after (almost) every chunk
    early, _ = conv.convert([path])
    pd.testing.assert_frame_equal(whole, early)


def test_decreasing_timestamps_name_the_first_such_line_of_the_file(tmp_path):
    check = partial(_tobii._check_monotonic, tmp_path / "x.tsv", "t")
    key = np.array([0, 1, 0, 1, 0, 1])  # two interleaved sessions, file lines 2-7
    lines = np.arange(2, 8)
    # session 0 appears first but goes back later (line 6) than session 1 (line 5)
    with pytest.raises(GazekitError, match=r"line 5, column 't': .* got 5 ms after 10 ms"):
        check(key, np.array([10.0, 10.0, 20.0, 5.0, 15.0, 40.0]), lines, {}, {})
    last_t, n_rows = {}, {}
    check(key, np.array([10.0, 10.0, 20.0, 30.0, 25.0, 35.0]), lines, last_t, n_rows)
    assert last_t == {0: 25.0, 1: 35.0} and n_rows == {0: 3, 1: 3}
    with pytest.raises(GazekitError, match=r"line 9, column 't': .* got 30 ms after 35 ms"):  # across chunks
        check(np.array([0, 1]), np.array([26.0, 30.0]), np.array([8, 9]), last_t, n_rows)


def test_prolab_image_rect_and_drop_unassigned(tmp_path):
    path = tmp_path / "export.tsv"
    truth = write_prolab_export(path, n_rows=3000, n_images=2)
    rect = (100.0, 50.0, 1000.0, 750.0)
    opts = conv.ConvertOptions(image_rect=rect, image_size=(400, 300), drop_unassigned=True)
    fix, _ = conv.convert([path], opts)
    kept = truth[truth["media"] != ""].sort_values("t_start_ms").reset_index(drop=True)
    assert len(fix) == len(kept) and (fix["stimulus_id"] != "").all()
    # the rect overrides the export's geometry; the export's original size wins over --image-size
    w = kept["image_width_px"].to_numpy()
    scale = 1000.0 / w
    np.testing.assert_allclose(fix["x_px"], (kept["screen_x_px"] - 100) / scale)
    np.testing.assert_allclose(fix["y_px"], (kept["screen_y_px"] - 50) / scale)


def test_prolab_mcs_norm_used_when_the_media_position_is_missing(tmp_path):
    path = tmp_path / "export.tsv"
    truth = write_prolab_export(path, n_rows=3000, n_images=2)
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    df = df.drop(columns=["Presented Media position X [DACS px]", "Presented Media position Y [DACS px]"])
    df.to_csv(path, sep="\t", index=False)
    fix, _ = conv.convert([path])
    truth = truth.sort_values("t_start_ms").reset_index(drop=True)
    on = truth["on_image"].to_numpy()
    # MCS norm is written with 4 decimals: x_px = round(norm, 4) * original width
    np.testing.assert_allclose(fix["x_px"][on], truth["x_px"][on], atol=5e-5 * 1024)
    np.testing.assert_allclose(fix["y_px"][on], truth["y_px"][on], atol=5e-5 * 768)
    assert fix["on_image"].tolist() == truth["on_image"].tolist()
    assert fix["x_px"][~on].isna().all()  # no MCS value off the media


def test_prolab_missing_rect_aspect_is_an_error(tmp_path):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=2000, n_images=1)  # first image is 640x480
    with pytest.raises(GazekitError, match="aspect ratio"):
        conv.convert([path], conv.ConvertOptions(image_rect=(0, 0, 640, 640), drop_unassigned=True))


# ---------------------------------------------------------------- Tobii Pro Lab, real file


def test_prolab_real_alex1_against_plain_pandas():
    path = shared_path(*ALEX1)
    fix, meta = conv.convert([path])
    raw = pd.read_csv(path, sep="\t", decimal=",", low_memory=False)
    rows = raw[raw["Eye movement type"] == "Fixation"]
    expected = rows.groupby("Eye movement type index").agg(
        t=("Recording timestamp [ms]", "min"),
        d=("Eye movement event duration [ms]", "first"),
        x=("Fixation point X [DACS px]", "first"),
        y=("Fixation point Y [DACS px]", "first"),
    )
    assert len(fix) == len(expected) == 40
    np.testing.assert_allclose(fix["t_start_ms"], expected["t"])
    np.testing.assert_allclose(fix["duration_ms"], expected["d"])
    np.testing.assert_allclose(fix["screen_x_px"], expected["x"])
    np.testing.assert_allclose(fix["screen_y_px"], expected["y"])
    # every row is on the calibration screen or before it: no media, so no stimulus and nothing on an image
    assert (fix["stimulus_id"] == "").all() and not fix["on_image"].any()
    assert fix["session_id"].unique().tolist() == ["alex1"]
    assert "Alex" not in fix["reader_id"].iloc[0] and fix["reader_id"].iloc[0].startswith("r-")
    assert meta["inputs"] == [{"path": str(path), "format": "tobii-prolab", "fixations": 40}]


def test_prolab_real_alex1_with_image_rect():
    path = shared_path(*ALEX1)
    fix, _ = conv.convert([path], conv.ConvertOptions(image_rect=(460.0, 40.0, 1000.0, 1000.0), image_size=(500, 500)))
    x = (fix["screen_x_px"] - 460.0) / 2.0
    y = (fix["screen_y_px"] - 40.0) / 2.0
    np.testing.assert_allclose(fix["x_px"], x)
    np.testing.assert_allclose(fix["y_px"], y)
    assert fix["on_image"].tolist() == ((x >= 0) & (x < 500) & (y >= 0) & (y < 500)).tolist()
    assert fix["on_image"].any()


def test_several_inputs_make_one_table_and_sessions_must_not_repeat(tmp_path):
    a, b = tmp_path / "a.tsv", tmp_path / "b.tsv"
    ta = write_prolab_export(a, n_rows=1500, participants=("A",))
    write_studio_export(b)
    fix, meta = conv.convert([a, b])
    assert [i["format"] for i in meta["inputs"]] == ["tobii-prolab", "tobii-studio"]
    assert len(fix) == len(ta) + 24
    assert fix.groupby("session_id")["source_format"].first().to_dict() == {
        "Rec P1": "tobii-studio",
        "Rec P2": "tobii-studio",
        "Recording1": "tobii-prolab",
    }
    with pytest.raises(GazekitError, match="session 'Recording1' is also in"):
        conv.convert([a, a])


# ---------------------------------------------------------------- Tobii Studio


def test_studio_export_bom_crlf_decimal_commas(tmp_path):
    path = tmp_path / "studio.tsv"
    truth = write_studio_export(path)
    fix, meta = conv.convert([path])
    truth = truth.sort_values(["participant", "t_start_ms"]).reset_index(drop=True)
    assert fix["source_format"].unique().tolist() == ["tobii-studio"]
    assert fix["session_id"].unique().tolist() == ["Rec P1", "Rec P2"]
    np.testing.assert_allclose(fix["t_start_ms"], truth["t_start_ms"])
    np.testing.assert_allclose(fix["duration_ms"], truth["duration_ms"])
    np.testing.assert_allclose(fix["x_px"], truth["x_px"])
    np.testing.assert_allclose(fix["screen_x_px"], truth["screen_x_px"])
    np.testing.assert_allclose(fix["pupil"], truth["pupil"])
    assert fix["on_image"].tolist() == truth["on_image"].tolist()
    assert fix["stimulus_id"].tolist() == [m.removesuffix(".png") for m in truth["media"]]


# ---------------------------------------------------------------- fixation reports


def test_kvasir_fixation_report_real():
    path = shared_path(*KVASIR)
    fix, meta = conv.convert([path])
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(fix) == len(rows) == 23_962
    images = {r["IMAGE"].rsplit(".", 1)[0] for r in rows}
    assert fix["stimulus_id"].nunique() == len(images) == 900
    assert set(fix["stimulus_id"]) == images
    # x/y in image px with the image's own size: x_px = X * IMAGE_WIDTH
    key = {(r["IMAGE"].rsplit(".", 1)[0], float(r["CURRENT_FIX_START"])): r for r in rows}
    got = fix.set_index(["stimulus_id", "t_start_ms"])
    for (sid, t), r in list(key.items())[::997]:
        row = got.loc[(sid, t)]
        assert row["x_px"] == pytest.approx(float(r["CURRENT_FIX_X"]) * float(r["IMAGE_WIDTH"]))
        assert row["y_px"] == pytest.approx(float(r["CURRENT_FIX_Y"]) * float(r["IMAGE_HEIGHT"]))
        assert row["duration_ms"] == float(r["CURRENT_FIX_DURATION"])
        assert row["image_width_px"] == int(float(r["IMAGE_WIDTH"]))
    assert fix["on_image"].all()
    assert any("normalised to the image" in w for w in meta["warnings"])


def test_fixation_report_px_and_rect(tmp_path):
    path = tmp_path / "report.txt"
    path.write_text(
        "RECORDING_SESSION_LABEL\tTRIAL_INDEX\tIMAGE\tCURRENT_FIX_X\tCURRENT_FIX_Y\tCURRENT_FIX_START\t"
        "CURRENT_FIX_DURATION\tEYE_USED\n"
        "s01\t1\tct_01.png\t612,5\t340\t10\t200\tRIGHT\n"
        "s01\t1\tct_01.png\t100\t100\t250\t180\tRIGHT\n"
        "s01\t2\tct_02.png\t960\t540\t5\t300\tRIGHT\n"
    )
    fix, meta = conv.convert(
        [path], conv.ConvertOptions(image_rect=(448.0, 28.0, 1024.0, 1024.0), image_size=(512, 512))
    )
    assert fix["session_id"].tolist() == ["s01/1", "s01/1", "s01/2"]
    np.testing.assert_allclose(fix["x_px"], [(612.5 - 448) / 2, (100 - 448) / 2, (960 - 448) / 2])
    np.testing.assert_allclose(fix["y_px"], [(340 - 28) / 2, (100 - 28) / 2, (540 - 28) / 2])
    assert fix["on_image"].tolist() == [True, False, True]
    assert fix["eye"].unique().tolist() == ["right"]
    assert fix["reader_id"].unique().tolist() != ["s01"]  # pseudonymised
    assert any("in pixels" in w for w in meta["warnings"])


def test_fixation_report_normalised_without_size_is_an_error(tmp_path):
    path = tmp_path / "report.csv"
    path.write_text("IMAGE,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_START,CURRENT_FIX_DURATION\na.png,0.5,0.25,3,100\n")
    with pytest.raises(GazekitError, match="--image-size"):
        conv.convert([path])
    fix, _ = conv.convert([path], conv.ConvertOptions(image_size=(200, 100)))
    assert fix[["x_px", "y_px"]].iloc[0].tolist() == [100.0, 25.0]


# ---------------------------------------------------------------- generic reader and CLI


def test_generic_columns_cli_and_file(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("Subject;Img;Onset;Dur;PX;PY\nrA;img1.png;0;120,5;10;20\nrA;img1.png;200;80;300;20\n")
    out1, out2 = tmp_path / "a.parquet", tmp_path / "b.parquet"
    spec = "session_id=Subject,stimulus_id=Img,t_start_ms=Onset,duration_ms=Dur,x_px=PX,y_px=PY"
    r = run_cli("convert", data, "-o", out1, "--columns", spec, "--image-size", "256,256")
    assert r.exit_code == 0, r.output
    mapping = tmp_path / "map.yaml"
    mapping.write_text(
        "columns:\n  session_id: Subject\n  stimulus_id: Img\n  t_start_ms: Onset\n  duration_ms: Dur\n"
        "  x_px: PX\n  y_px: PY\n"
    )
    r = run_cli("convert", data, "-o", out2, "--columns-file", mapping, "--image-size", "256,256")
    assert r.exit_code == 0, r.output
    a, meta = tables.read_table("fixations", out1)
    b, _ = tables.read_table("fixations", out2)
    pd.testing.assert_frame_equal(a, b)
    assert a["duration_ms"].tolist() == [120.5, 80.0]
    assert a["on_image"].tolist() == [True, False]  # x = 300 is beyond the 256 px image
    assert a["detector"].unique().tolist() == ["given"]
    assert meta["params"]["column_map"]["t_start_ms"] == "Onset"


GENERIC_XY = "t_start_ms=Start,duration_ms=Dur,x_px=X,y_px=Y"


def _timed_csv(path, starts, durations) -> None:
    rows = [f"{t},{d},{10 + i},20" for i, (t, d) in enumerate(zip(starts, durations, strict=True))]
    path.write_text("Start,Dur,X,Y\n" + "\n".join(rows) + "\n")


def test_generic_time_unit_option_and_implausible_times_warning(tmp_path):
    # 50 fixations of 200 ms every 300 ms, written as epoch nanoseconds
    t0 = 1_700_000_000_000_000_000
    data = tmp_path / "ns.csv"
    _timed_csv(data, [t0 + i * 300_000_000 for i in range(50)], [200_000_000] * 50)
    out = tmp_path / "a.parquet"
    r = run_cli("convert", data, "-o", out, "--columns", GENERIC_XY, "--image-size", "256,256")
    assert r.exit_code == 0, r.output
    # read as ms, the session spans (49 x 300e6 + 200e6) ms = 4,138.9 h
    assert r.stderr.splitlines() == [
        "warning: ns.csv: columns 'Start'/'Dur' read as ms: a session spans 4,138.9 h, implausible for a "
        "recording; if the times are not in ms, give --time-unit (s, us, ns)"
    ]
    out = tmp_path / "b.parquet"
    args = ["convert", str(data), "-o", str(out), "--columns", GENERIC_XY, "--image-size", "256,256"]
    r = CliRunner().invoke(main, [*args, "--time-unit", "ns"])
    assert r.exit_code == 0 and r.stderr == "", r.output
    fix, meta = tables.read_table("fixations", out)
    np.testing.assert_allclose(fix["duration_ms"], 200.0)
    np.testing.assert_allclose(np.diff(fix["t_start_ms"]), 300.0, atol=1e-3)  # ns epoch -> ms: 2**-8 ns float steps
    assert meta["params"]["time_unit"] == "ns"
    assert "14.9 s" in r.stdout  # the summary's time span: 49 x 0.3 s + 0.2 s

    # the same recording in seconds: fixations of "0.2 ms" are not fixations
    data = tmp_path / "s.csv"
    _timed_csv(data, [round(i * 0.3, 1) for i in range(50)], [0.2] * 50)
    args = ["convert", str(data), "-o", str(tmp_path / "c.parquet"), "--columns", GENERIC_XY, "--image-size", "256,256"]
    r = CliRunner().invoke(main, args)
    assert r.stderr.splitlines() == [
        "warning: s.csv: columns 'Start'/'Dur' read as ms: the median fixation lasts 0.2 ms, implausible for a "
        "recording; if the times are not in ms, give --time-unit (s, us, ns)"
    ]
    r = CliRunner().invoke(main, [*args, "--time-unit", "s"])
    assert r.exit_code == 0 and r.stderr == ""
    fix, _ = tables.read_table("fixations", tmp_path / "c.parquet")
    np.testing.assert_allclose(fix["t_start_ms"], np.arange(50) * 300.0)
    np.testing.assert_allclose(fix["duration_ms"], 200.0)


def test_convert_help_lists_the_generic_table_columns():
    from gazekit.readers import generic

    r = run_cli("convert", "--help")
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "--time-unit [ms|s|us|ns]" in text
    missing = [c for c in generic.NUMERIC + generic.TEXT if c not in text]
    assert missing == []


def test_calibration_only_export_says_what_the_stimulus_columns_hold(tmp_path):
    full = tmp_path / "full.tsv"
    write_prolab_export(full, n_rows=3000, n_images=2)
    rows = pd.read_csv(full, sep="\t", dtype=str, keep_default_na=False)
    calib = rows[rows["Presented Stimulus name"] == "Eyetracker Calibration"]
    assert len(calib) and set(calib["Presented Media name"]) == {""}
    path = tmp_path / "calib.tsv"
    calib.to_csv(path, sep="\t", index=False)
    r = run_cli("convert", path, "-o", tmp_path / "f.parquet")
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        "warning: no fixation lands on a stimulus image: in calib.tsv, column 'Presented Media name' is empty on "
        "every row and column 'Presented Stimulus name' holds 'Eyetracker Calibration' (no fixation names a "
        "stimulus: a calibration-only recording, or an export without its stimuli?)"
    ]
    # the full export has fixations on its images: no such line
    r = run_cli("convert", full, "-o", tmp_path / "g.parquet")
    assert r.exit_code == 0 and "no fixation lands" not in r.output


def test_no_stimulus_hint_names_the_ids_when_image_sizes_are_missing(tmp_path):
    data = tmp_path / "mine.csv"
    data.write_text("Img,Onset,Dur,PX,PY\na.png,0,100,10,20\nb.png,200,80,30,20\nc.png,400,90,5,5\n")
    spec = "stimulus_id=Img,t_start_ms=Onset,duration_ms=Dur,screen_x_px=PX,screen_y_px=PY"  # screen px, no rect
    r = run_cli("convert", data, "-o", tmp_path / "f.parquet", "--columns", spec)
    assert r.exit_code == 0, r.output
    assert r.stderr.splitlines() == [
        "warning: no fixation lands on a stimulus image: in mine.csv, column 'Img' holds 'a.png', 'b.png', 'c.png' "
        "(fixations name 3 stimulus id(s) ('a', 'b', 'c') but none has image coordinates: give the image size "
        "(--image-size W,H) or where it was shown (--image-rect x0,y0,w,h))"
    ]


def test_cli_convert_and_inspect_print_the_same_summary(tmp_path):
    path = tmp_path / "export.tsv"
    truth = write_prolab_export(path, n_rows=3000, participants=("A", "B"), n_images=2)
    out = tmp_path / "fix.parquet"
    r = run_cli("convert", path, "-o", out, "--drop-unassigned")
    assert r.exit_code == 0, r.output
    kept = truth[truth["media"] != ""]
    assert f"2 session(s), 2 stimulus/stimuli, {len(kept)} fixations" in r.stdout
    share = 100 * kept["on_image"].mean()
    assert f"{share:.1f} % on image" in r.stdout
    r2 = run_cli("inspect", out)
    assert r2.exit_code == 0 and r2.stdout.split(": ", 1)[1] == r.stdout.split(": ", 1)[1]
    meta = json.loads(pq.read_schema(out).metadata[b"gazekit"])
    assert meta["params"]["drop_unassigned"] is True and meta["inputs"][0]["path"] == str(path)


def test_cli_progress_bar_on_large_files(tmp_path, monkeypatch):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=2000)
    monkeypatch.setattr(_delimited, "PROGRESS_MIN_BYTES", 0)
    r = run_cli("convert", path, "-o", tmp_path / "f.parquet")  # stderr is not a terminal: no bar
    assert r.exit_code == 0 and "export.tsv:" not in r.stderr and "B/s" not in r.stderr
    monkeypatch.setattr(_delimited, "_on_terminal", lambda: True)
    r = run_cli("convert", path, "-o", tmp_path / "g.parquet")
    assert r.exit_code == 0 and "export.tsv:" in r.stderr and "B/s" in r.stderr


def test_subprocess_as_a_user_types_it(tmp_path):
    path = tmp_path / "export.tsv"
    subprocess.run(
        [sys.executable, str(REPO / "examples" / "make_tobii_export.py"), str(path), "--rows", "3000"],
        check=True,
        cwd=tmp_path,
    )
    out = tmp_path / "fixations.parquet"
    r = subprocess.run(
        [sys.executable, "-m", "gazekit", "convert", str(path), "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 0, r.stderr
    fix, _ = tables.read_table("fixations", out)
    raw = pd.read_csv(path, sep="\t", decimal=",", low_memory=False)
    raw = raw[raw["Eye movement type"] == "Fixation"]
    n = raw.groupby(["Participant name", "Eye movement type index"]).ngroups
    assert len(fix) == n and f"{n} fixations" in r.stdout
    bad = tmp_path / "bad.tsv"
    bad.write_bytes(b"\x00\x01garbage" * 100)
    r = subprocess.run(
        [sys.executable, "-m", "gazekit", "convert", str(bad), "-o", str(tmp_path / "x.parquet")],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "x.parquet").exists()


# ---------------------------------------------------------------- bad input: one line, exit 2, no output


def _alex_lines(n: int = 400) -> list[str]:
    with open(shared_path(*ALEX1), encoding="utf-8") as fh:
        return [next(fh) for _ in range(n)]


def _set_cell(lines: list[str], row: int, col: int, value: str) -> list[str]:
    cells = lines[row].rstrip("\n").split("\t")
    cells[col] = value
    return lines[:row] + ["\t".join(cells) + "\n"] + lines[row + 1 :]


BAD = {
    "unknown_format": (lambda: b"a,b,c\n1,2,3\n", r"unknown format: tried tobii-prolab, tobii-studio, fixation-report"),
    "empty": (lambda: b"", r"the file is empty"),
    "binary": (lambda: bytes(range(256)) * 20, r"expected a text export, got binary data"),
    "missing_column": (
        lambda: "".join(
            "\t".join(c for i, c in enumerate(line.split("\t")) if i != 85) for line in _alex_lines()
        ).encode(),
        r"header: missing required column 'Eye movement type index'",
    ),
    "non_monotonic": (
        lambda: "".join(_alex_lines()[:100] + _alex_lines()[300:301] + _alex_lines()[100:300]).encode(),
        r"line 102, column 'Recording timestamp \[ms\]': expected timestamps that do not decrease",
    ),
    "nan_timestamp": (
        lambda: "".join(_set_cell(_alex_lines(), 50, 0, "NaN")).encode(),
        r"line 51, column 'Recording timestamp \[ms\]': expected a number, got 'NaN'",
    ),
    "decimal_mark": (
        lambda: "".join(_set_cell(_alex_lines(), 99, 86, "787.5")).encode(),  # line 100 is a Fixation row
        r"line 100, column 'Fixation point X \[DACS px\]': expected a number with decimal mark ','",
    ),
    "decimal_comma_in_csv": (
        lambda: b"IMAGE,CURRENT_FIX_X,CURRENT_FIX_Y,CURRENT_FIX_START,CURRENT_FIX_DURATION\na.png,0,5,0.25,3,100\n",
        r"line 2: expected 5 fields like the header, got 6 \(a comma inside a value",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_exit_2_and_no_output(tmp_path, case):
    make, pattern = BAD[case]
    path = tmp_path / "input.tsv"
    path.write_bytes(make())
    out = tmp_path / "out" / "fixations.parquet"
    r = run_cli("convert", path, "-o", out)
    assert r.exit_code == 2, r.output
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}"), r.stderr
    assert re.search(pattern, lines[0]), lines[0]
    assert not out.exists() and not list(tmp_path.rglob("*.parquet"))


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        (["--image-rect", "1,2,3"], r"^error: --image-rect: expected 4 comma-separated numbers, got '1,2,3'$"),
        (["--image-rect", "0,0,-5,5"], r"^error: --image-rect: expected a positive width and height"),
        (["--image-size", "0,5"], r"^error: --image-size: expected a positive width and height"),
        (["--columns", "t_start_ms"], r"^error: --columns: expected table_column=file_column, got 't_start_ms'$"),
        (["--columns", "t_start_ms=a,when=b"], r"^error: --columns: expected table columns among .*, got when$"),
        (["--format", "nope"], r"--format: expected one of tobii-prolab, tobii-studio, fixation-report, eyelink-asc"),
        (["--format", "fixation-report"], r"header: missing required column 'CURRENT_FIX_X' \(fixation report\)$"),
    ],
)
def test_cli_option_errors(tmp_path, args, pattern):
    path = tmp_path / "export.tsv"
    write_prolab_export(path, n_rows=600)
    out = tmp_path / "f.parquet"
    r = run_cli("convert", path, "-o", out, *args)
    assert r.exit_code == 2 and len(r.stderr.strip().splitlines()) == 1
    assert re.search(pattern, r.stderr.strip()), r.stderr
    assert not out.exists()
