"""Raw-sample readers (EyeLink ASC, Tobii Pro SDK, Gazepoint, Pupil Core), the detection step and quality.

Real files: ../shared/data/gaze-samples (skipped when absent); expected values are counted from the
files with plain line/CSV parsing here, independently of the readers.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gazekit import readers, tables
from gazekit.cli import main
from gazekit.convert import coordinates, detection, detectors
from gazekit.convert import pipeline as conv
from gazekit.errors import GazekitError
from gazekit.geometry import Screen, resolve_screen, screen_fields_from_cli, screen_fields_from_session_json
from gazekit.qc import data_quality
from gazekit.readers import ReadOptions
from tests.conftest import REPO, shared_path

GEOMETRY = ["--screen-px", "1920x1080", "--screen-mm", "531x299", "--distance-mm", "650"]
CLI_SCREEN = {"width_px": 1920.0, "height_px": 1080.0, "width_mm": 531.0, "height_mm": 299.0, "distance_mm": 650.0}


def efix_lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines() if line.startswith("EFIX")]


# --- geometry sources -----------------------------------------------------------------------------------


def test_screen_from_cli_session_json_and_file(tmp_path):
    cli = screen_fields_from_cli("1280x1024", None, 700)
    sidecar = tmp_path / "session.json"
    sidecar.write_text(
        json.dumps({"ScreenResolution": [1920, 1080], "ScreenSize": [0.531, 0.299], "ScreenDistance": 0.65})
    )
    js = screen_fields_from_session_json(sidecar)
    assert js == {"width_px": 1920.0, "height_px": 1080.0, "width_mm": 531.0, "height_mm": 299.0, "distance_mm": 650.0}
    # CLI wins over session.json, which wins over the file
    s = resolve_screen(cli, js, {"width_px": 800, "height_px": 600})
    assert s == Screen(1280, 1024, 531.0, 299.0, 700.0)
    partial = resolve_screen({}, {}, {"width_px": 800, "height_px": 600})
    assert (partial.width_px, partial.height_px) == (800, 600) and not partial.complete
    assert resolve_screen({}, {"distance_mm": 600.0}) is None
    with pytest.raises(GazekitError, match="--screen-px: expected WIDTHxHEIGHT"):
        screen_fields_from_cli("1920", None, None)
    sidecar.write_text(json.dumps({"ScreenSize": [0.5]}))
    with pytest.raises(GazekitError, match="field 'ScreenSize'"):
        screen_fields_from_session_json(sidecar)


# --- EyeLink ---------------------------------------------------------------------------------------------


def test_eyelink_binocular_real_file(tmp_path):
    path = shared_path("gaze-samples", "pymovements_eyelink_binocular_example.asc")
    efix = efix_lines(path)
    rec = readers.read(path)
    fix = rec.fixations
    assert len(fix) == len(efix) == 4
    assert sorted(fix["eye"]) == sorted({"L": "left", "R": "right"}[e[1]] for e in efix) == ["left"] * 2 + ["right"] * 2
    start = float(re.search(r"^START\s+(\d+)", path.read_text(), re.M).group(1))
    got = fix.sort_values(["eye", "t_start_ms"])
    want = sorted(efix, key=lambda e: (e[1], float(e[2])))
    np.testing.assert_allclose(got["t_start_ms"], [float(e[2]) - start for e in want])
    np.testing.assert_allclose(got["duration_ms"], [float(e[4]) for e in want])
    np.testing.assert_allclose(got["screen_x_px"], [float(e[5]) for e in want])
    # TRIALID I902C_low comes after the first two fixations started
    trial_t = float(re.search(r"^MSG\s+(\d+) TRIALID", path.read_text(), re.M).group(1)) - start
    assert got["stimulus_id"].tolist() == ["I902C_low" if t >= trial_t else "" for t in got["t_start_ms"]]
    assert rec.sessions[path.stem]["screen_fields"] == {"width_px": 1920.0, "height_px": 1080.0}  # GAZE_COORDS
    assert rec.sessions[path.stem]["nominal_rate_hz"] == 1000.0
    n_samples = sum(1 for line in path.read_text().splitlines() if line[:1].isdigit())
    assert len(rec.samples) == 2 * n_samples
    n_dot_left = sum(1 for line in path.read_text().splitlines() if line[:1].isdigit() and line.split()[1] == ".")
    assert (~rec.samples.loc[rec.samples["eye"] == "left", "valid"]).sum() == n_dot_left
    q = data_quality.session_quality(rec.samples, None, 1000.0)
    assert q["left"]["lost_share"] == pytest.approx(n_dot_left / n_samples) and q["left"]["rate_hz"] == 1000.0
    n_msg = sum(1 for line in path.read_text().splitlines() if line.startswith("MSG"))
    assert len(rec.messages) == n_msg
    assert readers.read(path, ReadOptions(eye="right")).fixations["eye"].tolist() == ["right", "right"]
    avg = readers.read(path, ReadOptions(eye="average")).fixations
    assert avg["eye"].tolist() == ["both", "both"]
    left, right = got[got["eye"] == "left"], got[got["eye"] == "right"]
    np.testing.assert_allclose(
        avg["screen_x_px"], (left["screen_x_px"].to_numpy() + right["screen_x_px"].to_numpy()) / 2
    )


def test_eyelink_monocular_real_file():
    path = shared_path("gaze-samples", "pymovements_eyelink_monocular_example.asc")
    efix = efix_lines(path)
    fix = readers.read(path).fixations
    assert len(fix) == len(efix) == 2
    assert fix["eye"].tolist() == ["left", "left"]
    np.testing.assert_allclose(fix["pupil"], [float(e[7]) for e in efix])
    # the last TRIALID (by time) at or before each fixation: 1 then 3 (messages are out of order in the file)
    assert fix["stimulus_id"].tolist() == ["1", "3"]
    sessions = readers.read(path).sessions[path.stem]
    assert sessions["screen_fields"] == {"width_px": 1280.0, "height_px": 1024.0}  # DISPLAY_COORDS 0 0 1279 1023


ASC_2KHZ = """** CONVERTED FROM test.edf
MSG\t999.5 DISPLAY_COORDS 0 0 1919 1079
MSG\t999.5 RECCFG CR 2000 2 1 LR
START\t1000.0 \tLEFT\tRIGHT\tSAMPLES\tEVENTS
SAMPLES\tGAZE\tLEFT\tRIGHT\tRATE\t2000.00\tTRACKING\tCR\tFILTER\t2
MSG\t1000.0 !V IMGLOAD CENTER images/chest_01.png 960 540
1000.0\t  -12.5\t  100.0\t  500.0\t  10.0\t  101.0\t  510.0\t.....
1000.5\t    .\t    .\t    0.0\t  10.5\t  101.5\t  511.0\t.C...
1001.0\t  -12.0\t  100.5\t  502.0\t  11.0\t  102.0\t  512.0\t.....
EFIX L   1000.0\t1001.0\t1.5\t  -12.2\t  100.2\t    501
EFIX R   1000.0\t1001.0\t1.5\t  10.5\t  101.5\t    511
ESACC R  1001.0\t1001.5\t1.0\t  10.5\t  101.5\t  300.0\t  301.0\t   5.00\t    300
EBLINK L 1000.5\t1000.5\t0.5
1001.5\t  -11.0\t  101.0\t  503.0\t  300.0\t  301.0\t  513.0\t.....
1002.0\t  -11.0\t  101.0\t  503.0\t  300.0"""


def test_eyelink_2khz_negative_missing_truncated_and_pattern(tmp_path):
    path = tmp_path / "rec.asc"
    path.write_text(ASC_2KHZ)  # no END line, and the last sample line is cut (no newline)
    rec = readers.read(path, ReadOptions(stimulus_pattern=r"IMGLOAD \w+ (\S+)"))
    assert any("no END line" in w for w in rec.warnings)
    fix = rec.fixations
    assert fix["t_start_ms"].tolist() == [0.0, 0.0] and fix["duration_ms"].tolist() == [1.5, 1.5]
    assert fix["stimulus_id"].tolist() == ["chest_01", "chest_01"]
    left = rec.samples[rec.samples["eye"] == "left"]
    assert left["t_ms"].tolist() == [0.0, 0.5, 1.0, 1.5]  # the cut last line is dropped
    assert left["x_screen_px"].iloc[0] == -12.5 and np.isnan(left["x_screen_px"].iloc[1])
    assert left["valid"].tolist() == [True, False, True, True]
    s = rec.sessions["rec"]
    assert s["nominal_rate_hz"] == 2000.0 and (s["n_saccades"], s["n_blinks"]) == (1, 1)
    assert s["screen_fields"] == {"width_px": 1920.0, "height_px": 1080.0}
    q = data_quality.session_quality(rec.samples, Screen(1920, 1080, 531, 299, 650), 2000.0)
    assert q["left"]["rate_hz"] == 2000.0 and q["left"]["lost_share"] == 0.25
    assert q["right"]["lost_share"] == 0.0


def test_eyelink_href_positions_not_mappable(tmp_path):
    text = ASC_2KHZ.replace("SAMPLES\tGAZE", "SAMPLES\tHREF") + "\nEND\t1003"
    path = tmp_path / "href.asc"
    path.write_text(text)
    rec = readers.read(path)
    assert any("HREF" in w and "not mappable" in w for w in rec.warnings)
    assert len(rec.fixations) == 2 and rec.fixations["screen_x_px"].isna().all()
    assert not rec.samples["valid"].any()
    out = tmp_path / "f.parquet"
    result = CliRunner().invoke(main, ["convert", str(path), "-o", str(out)])
    assert result.exit_code == 0 and "HREF" in result.output
    df, _ = tables.read_table("fixations", out)
    assert df["screen_x_px"].isna().all() and not df["on_image"].any()


def test_eyelink_bad_line_is_a_clean_error(tmp_path):
    path = tmp_path / "bad.asc"
    path.write_text(ASC_2KHZ.replace("EFIX R   1000.0", "EFIX R   x1000") + "\nEND\t1003\n")
    with pytest.raises(GazekitError, match=r"line 11: expected a well-formed EFIX line"):
        readers.read(path)
    path.write_text(ASC_2KHZ.replace("EFIX R   1000.0", "EFIX X   1000.0") + "\nEND\t1003\n")  # unknown eye
    with pytest.raises(GazekitError, match=r"line 11: expected a well-formed EFIX line"):
        readers.read(path)


# --- Tobii Pro SDK ---------------------------------------------------------------------------------------


def test_tobii_sdk_real_file_through_ivt():
    path = shared_path("gaze-samples", "tobiisdk_tobii_research_sample_gaze_data.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    rec = readers.read(path)
    assert rec.source_format == "tobii-sdk" and rec.fixations is None
    assert len(rec.samples) == 2 * len(rows)
    fix, rec, info = detection.process(rec, path, None, {}, CLI_SCREEN)
    fix = tables.to_frame(fix)  # the steps of convert work on tables.Columns
    assert info["detection"]["method"] == "ivt" and len(fix) > 10
    assert (fix["duration_ms"] >= 60).all()
    # lost-data gaps of the averaged stream (a time is lost when neither eye has a valid point)
    t0 = min(int(r["device_time_stamp"]) for r in rows)

    def ok(r, eye):
        x, y = (float(v) for v in r[f"{eye}_gaze_point_on_display_area"].strip("()").split(","))
        return r[f"{eye}_gaze_point_validity"] == "1" and np.isfinite(x) and np.isfinite(y)

    t_valid = np.array([(int(r["device_time_stamp"]) - t0) / 1000 for r in rows if ok(r, "left") or ok(r, "right")])
    spans = np.diff(t_valid)
    _assert_no_fixation_spans(fix, t_valid[:-1][spans > 75], t_valid[1:][spans > 75])
    # make a 200 ms hole (12 samples at 60 Hz) in both eyes: no fixation may span it
    holed = rec.samples.copy()
    hole = (holed["t_ms"] > 5000) & (holed["t_ms"] < 5200)
    holed.loc[hole, "valid"] = False
    fix2 = detectors.ivt(holed, rec.screen)
    tv = np.unique(holed.loc[holed["valid"], "t_ms"])
    gap = np.diff(tv) > 75
    assert gap.sum() >= 1
    _assert_no_fixation_spans(fix2, tv[:-1][gap], tv[1:][gap])


def _assert_no_fixation_spans(fix, gap_start, gap_end):
    s = fix["t_start_ms"].to_numpy()
    e = s + fix["duration_ms"].to_numpy()
    for a, b in zip(gap_start, gap_end, strict=True):
        assert not ((s <= a) & (e > b)).any(), f"a fixation spans the lost-data gap {a}..{b} ms"


def test_tobii_sdk_json_lines(tmp_path):
    rows = [
        {
            "device_time_stamp": 1_000_000 + 16_667 * i,
            "system_time_stamp": 5,
            "left_gaze_point_on_display_area": [0.5, 0.25] if i != 2 else [float("nan"), float("nan")],
            "left_gaze_point_validity": 1 if i != 2 else 0,
            "left_pupil_diameter": 3.0,
            "left_pupil_validity": 1,
            "right_gaze_point_on_display_area": "(0.75, 0.5)",
            "right_gaze_point_validity": 1,
            "right_pupil_diameter": -1,
            "right_pupil_validity": 0,
        }
        for i in range(4)
    ]
    path = tmp_path / "gaze.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    rec = readers.read(path)
    rec = coordinates.to_screen_px(rec, Screen(1000, 800, np.nan, np.nan, np.nan), path)
    left = rec.samples[rec.samples["eye"] == "left"]
    right = rec.samples[rec.samples["eye"] == "right"]
    assert left["t_ms"].tolist() == pytest.approx([0, 16.667, 33.334, 50.001])
    assert left["valid"].tolist() == [True, True, False, True]
    assert left["x_screen_px"].iloc[0] == 500.0 and left["y_screen_px"].iloc[0] == 200.0
    assert right["x_screen_px"].iloc[0] == 750.0 and right["pupil"].isna().all()


def test_tobii_sdk_garbage_is_a_clean_error(tmp_path):
    path = tmp_path / "g.csv"
    path.write_text(
        "device_time_stamp,system_time_stamp,left_gaze_point_on_display_area,left_gaze_point_validity,"
        "right_gaze_point_on_display_area,right_gaze_point_validity\n"
        '1,1,"(0.1, 0.2)",1,"(0.1, 0.2)",1\n2,2,"(0.1; 0.2)",1,"(0.1, 0.2)",1\n'
    )
    with pytest.raises(GazekitError, match=r"line 3, column 'left_gaze_point_on_display_area'"):
        readers.read(path)


# --- Gazepoint ---------------------------------------------------------------------------------------------

GP_HEADER = (
    "MEDIA_ID,MEDIA_NAME,CNT,TIME(2024/03/01 10:00:00.000),TIMETICK(f=10000000),FPOGX,FPOGY,FPOGS,FPOGD,FPOGID,"
    "FPOGV,LPOGX,LPOGY,LPOGV,RPOGX,RPOGY,RPOGV,LPMM,LPMMV,RPMM,RPMMV,"
)
GP_ALL = (
    GP_HEADER
    + """
0,scan_01.dcm,1,0.00000,100,0.50000,0.50000,0.00000,0.01563,1,1,0.49,0.5,1,0.51,0.5,1,3.5,1,3.6,1,
0,scan_01.dcm,2,0.01563,200,0.50100,0.50000,0.00000,0.03125,1,1,0.49,0.5,1,0.51,0.5,1,3.5,1,3.6,1,
0,scan_01.dcm,3,0.03125,300,0.50200,0.50100,0.00000,0.20000,1,1,0.49,0.5,1,0.51,0.5,1,3.5,1,3.6,1,
0,scan_01.dcm,4,0.04688,400,1.20000,-0.10000,0.25000,0.01563,2,0,0,0,0,1.2,-0.1,1,0,0,3.6,1,
0,scan_01.dcm,5,0.06250,500,1.20000,-0.10000,0.25000,0.15000,2,1,1.2,-0.1,1,1.2,-0.1,1,3.5,1,3.6,1,
"""
)


def test_gazepoint_all_gaze_and_fixation_exports(tmp_path):
    path = tmp_path / "user_0_all_gaze.csv"
    path.write_text(GP_ALL)
    rec = readers.read(path)
    assert (
        rec.source_format == "gazepoint" and rec.sessions["user_0_all_gaze"]["start_time"] == "2024/03/01 10:00:00.000"
    )
    fix = rec.fixations
    # one fixation per valid FPOGID, from its last valid row
    assert fix["t_start_ms"].tolist() == [0.0, 250.0]
    assert fix["duration_ms"].tolist() == pytest.approx([200.0, 150.0])
    assert fix["screen_x_norm"].tolist() == [0.502, 1.2] and fix["screen_y_norm"].tolist() == [0.501, -0.1]
    assert fix["stimulus_id"].tolist() == ["scan_01", "scan_01"]
    rec = coordinates.to_screen_px(rec, Screen(1920, 1080, np.nan, np.nan, np.nan), path)
    assert rec.fixations["screen_x_px"].tolist() == pytest.approx([0.502 * 1920, 1.2 * 1920])
    left = rec.samples[rec.samples["eye"] == "left"]
    assert left["valid"].tolist() == [True, True, True, False, True]
    assert left["t_ms"].tolist() == pytest.approx([0.0, 15.63, 31.25, 46.88, 62.5])
    # the fixation export: one row per fixation
    fpath = tmp_path / "user_0_fixations.csv"
    lines = GP_ALL.splitlines()
    fpath.write_text("\n".join([lines[0], lines[3], lines[5]]) + "\n")
    assert readers.read(fpath).fixations["duration_ms"].tolist() == pytest.approx([200.0, 150.0])


# --- Pupil Core -------------------------------------------------------------------------------------------


def test_pupil_core_fixations_real_file():
    path = shared_path("gaze-samples", "pupilcore_fixations.csv")
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    fix, rec, _ = detection.process(readers.read(path), path, None, {}, {"width_px": 1280.0, "height_px": 720.0})
    fix = tables.to_frame(fix)
    assert len(fix) == len(rows) == 36
    t0 = min(float(r["start_timestamp"]) for r in rows)
    np.testing.assert_allclose(fix["t_start_ms"], [(float(r["start_timestamp"]) - t0) * 1000 for r in rows])
    np.testing.assert_allclose(fix["duration_ms"], [float(r["duration"]) for r in rows])
    # bottom-left origin flipped to top-left
    np.testing.assert_allclose(fix["screen_y_px"], [(1 - float(r["norm_pos_y"])) * 720 for r in rows])
    with pytest.raises(GazekitError, match="positions are normalised: give --screen-px"):
        detection.process(readers.read(path), path, None, {}, {})


def test_pupil_core_gaze_positions_confidence(tmp_path):
    path = tmp_path / "gaze_positions.csv"
    path.write_text(
        "gaze_timestamp,world_index,confidence,norm_pos_x,norm_pos_y,base_data\n"
        "100.000,0,0.95,0.5,0.25,x\n100.004,0,0.30,0.5,0.25,x\n100.008,1,0.60,0.25,1.0,x\n"
    )
    s = readers.read(path).samples
    assert s["t_ms"].tolist() == pytest.approx([0.0, 4.0, 8.0])
    assert s["valid"].tolist() == [True, False, True]
    assert s["y_norm"].iloc[0] == 0.75 and s["y_norm"].iloc[2] == 0.0
    assert readers.read(path, ReadOptions(min_confidence=0.2)).samples["valid"].all()


# --- quality --------------------------------------------------------------------------------------------


def test_quality_hand_computed():
    t = np.arange(10) * 10.0  # 100 Hz
    x = np.array([0, 1, 2, 3, 0, 0, 0, 7, 8, 9], float)
    valid = np.array([1, 1, 1, 1, 0, 0, 0, 1, 1, 1], bool)
    screen = Screen(1000, 1000, 1000, 1000, 1000)  # 1 mm per px
    q = data_quality.stream_quality(t, x, np.zeros(10), valid, screen)
    assert q["rate_hz"] == 100.0 and q["lost_share"] == 0.3
    assert q["longest_gap_ms"] == 30.0  # valid at 30 ms and 70 ms: 40 ms apart, minus one 10 ms interval
    # consecutive valid pairs: (0,1),(1,2),(2,3),(7,8),(8,9), each 1 px; px_to_deg differences
    xd, _ = screen.px_to_deg(x, np.zeros(10))
    d = np.diff(xd)[[0, 1, 2, 7, 8]]
    assert q["precision_rms_s2s_deg"] == pytest.approx(np.sqrt(np.mean(d**2)))
    assert "precision_rms_s2s_deg" not in data_quality.stream_quality(t, x, np.zeros(10), valid, None)


# --- CLI ------------------------------------------------------------------------------------------------


def test_cli_convert_detect_samples_and_inspect(tmp_path):
    path = shared_path("gaze-samples", "tobiisdk_tobii_research_sample_gaze_data.csv")
    out, smp = tmp_path / "f.parquet", tmp_path / "s.parquet"
    args = ["convert", str(path), "-o", str(out), "--samples", str(smp), *GEOMETRY, "--detect", "idt"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    fix, meta = tables.read_table("fixations", out)
    samples, smeta = tables.read_table("samples", smp)
    assert (fix["detector"] == "idt").all() and (fix["duration_ms"] >= 100).all()
    assert meta["detection"][str(path)]["params"]["dispersion_threshold_deg"] == 1.0
    assert len(samples) == 2 * 980 and set(samples["eye"]) == {"left", "right"}
    q = meta["quality"][path.stem]["left"]
    assert q["rate_hz"] == pytest.approx(60.0, abs=0.5) and smeta["quality"] == meta["quality"]
    result = CliRunner().invoke(main, ["inspect", str(out)])
    assert "rate 60" in result.output and "precision RMS-S2S" in result.output
    result = CliRunner().invoke(main, ["inspect", str(smp)])
    assert f"{smp}: 1960 samples" in result.output and "lost" in result.output
    # without geometry, detection is a clean one-line error and nothing is written
    out2 = tmp_path / "g.parquet"
    result = CliRunner().invoke(main, ["convert", str(path), "-o", str(out2), "--screen-px", "1920x1080"])
    assert result.exit_code == 2 and "needs the screen geometry" in result.output and not out2.exists()
    result = CliRunner().invoke(main, ["convert", str(path), "-o", str(out2), *GEOMETRY, "--detect-param", "speed=1"])
    assert result.exit_code == 2 and "--detect-param" in result.output


def test_cli_vendor_default_and_eye_option(tmp_path):
    path = shared_path("gaze-samples", "pymovements_eyelink_binocular_example.asc")
    out = tmp_path / "f.parquet"
    assert CliRunner().invoke(main, ["convert", str(path), "-o", str(out)]).exit_code == 0
    fix, _ = tables.read_table("fixations", out)
    assert len(fix) == 4 and (fix["detector"] == "vendor").all()
    result = CliRunner().invoke(
        main, ["convert", str(path), "-o", str(out), "--eye", "left", "--detect", "ivt", *GEOMETRY]
    )
    assert result.exit_code == 0, result.output
    fix, _ = tables.read_table("fixations", out)
    assert (fix["eye"] == "left").all() and (fix["detector"] == "ivt").all()


def test_session_json_next_to_input_gives_geometry(tmp_path):
    src = shared_path("gaze-samples", "tobiisdk_tobii_research_sample_gaze_data.csv")
    path = tmp_path / "gaze.csv"
    path.write_bytes(src.read_bytes())
    (tmp_path / "session.json").write_text(
        json.dumps({"ScreenResolution": [1920, 1080], "ScreenSize": [0.531, 0.299], "ScreenDistance": 0.65})
    )
    fix, meta = conv.convert([path], conv.ConvertOptions())
    with_cli, _ = conv.convert([src], conv.ConvertOptions(screen=tuple(CLI_SCREEN.items())))
    assert meta["screens"][str(path)]["distance_mm"] == 650.0
    np.testing.assert_allclose(fix["t_start_ms"], with_cli["t_start_ms"])


def test_subprocess_as_a_user_types_it(tmp_path):
    path = shared_path("gaze-samples", "pymovements_eyelink_monocular_example.asc")
    out = tmp_path / "fix.parquet"
    cmd = [sys.executable, "-m", "gazekit", "convert", str(path), "-o", str(out), "--detect", "vendor"]
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=_env())
    assert done.returncode == 0, done.stderr
    assert "2 fixations" in done.stdout
    done = subprocess.run([*cmd[:-2], "--detect", "ivt"], capture_output=True, text=True, cwd=REPO, env=_env())
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr


def _env() -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO)}


def test_samples_table_schema_of_every_reader_output():
    """What --samples writes validates against the samples schema for each real file with samples."""
    for name in ("pymovements_eyelink_binocular_example.asc", "tobiisdk_tobii_research_sample_gaze_data.csv"):
        path = shared_path("gaze-samples", name)
        parts: list[pd.DataFrame] = []
        conv.convert([path], conv.ConvertOptions(screen=tuple(CLI_SCREEN.items())), samples=parts)
        table = tables.to_arrow("samples", conv.concat_samples(parts))
        assert table.num_rows == sum(len(p) for p in parts) > 0
