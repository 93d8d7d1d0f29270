"""Issue 11 regressions, each built from the exact input the issue describes (made here from the shared
recordings): no hang on one huge line or a lost-newline header, EyeLink MSG variants accepted, incomplete
last lines dropped with a warning (never converted wrong), decimal commas, empty Tobii participant cells,
duplicate rows, input line numbers in errors, no numpy/pandas warning text for the user."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gazekit import readers
from gazekit.cli import main
from tests.conftest import shared_path
from tests.test_readers_samples import GP_ALL

SCREEN = ["--screen-px", "1920x1080", "--screen-mm", "531x299", "--distance-mm", "650"]
MONO = ("gaze-samples", "pymovements_eyelink_monocular_example.asc")
PUPIL = ("gaze-samples", "pupilcore_fixations.csv")
ALEX1 = ("gaze-samples", "tobiiprolab_bracketed_ivt_normal_alex1_first5000.tsv")


def convert(*args) -> object:
    return CliRunner().invoke(main, ["convert", *[str(a) for a in args]])


def _fix(path, *args) -> tuple[pd.DataFrame, list[str]]:
    """Fixations and warnings of one file through the library (the CLI adds nothing to what is compared)."""
    rec = readers.read(path, readers.ReadOptions(*args))
    return rec.fixations.reset_index(drop=True), rec.warnings


def _clean_error(res, pattern: str) -> None:
    assert res.exit_code == 2, res.output
    assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("error: "), res.output
    assert pattern in res.output, res.output


# ---------------------------------------------------------------- hangs (linear in input size)


def test_eyelink_one_huge_line_is_fast(tmp_path):
    lines = shared_path(*MONO).read_text().splitlines(keepends=True)
    huge = "\t".join(str(i % 1000) for i in range(1_000_000)) + "\n"  # 1 M numbers, ~3.9 MB
    k = next(i for i, ln in enumerate(lines) if ln[0].isdigit()) + 5
    path = tmp_path / "huge.asc"
    path.write_text("".join(lines[:k] + [huge] + lines[k:]))
    t0 = time.perf_counter()
    res = convert(path, "-o", tmp_path / "f.parquet")
    assert time.perf_counter() - t0 < 10
    _clean_error(res, f"line {k + 1}: expected a sample line (time, x, y, pupil, ...), got a line of 3,")


@pytest.mark.parametrize("kind", ["gazepoint", "pupil-core"])
def test_lost_newlines_fail_fast(tmp_path, kind):
    if kind == "gazepoint":
        head, body = GP_ALL.split("\n", 1)
        text = head + "\n" + body * 1500  # ~7,500 rows
    else:
        text = shared_path(*PUPIL).read_text() * 130
    path = tmp_path / "lost.csv"
    path.write_text(text.replace("\n", ""))
    assert path.read_text().count(",") > 60_000
    t0 = time.perf_counter()
    res = convert(path, "-o", tmp_path / "f.parquet", "--format", kind, *SCREEN)
    assert time.perf_counter() - t0 < 5
    _clean_error(res, "line 1: expected a header row of at most 4096 names, got")


# ---------------------------------------------------------------- EyeLink MSG variants


def test_eyelink_msg_variants_are_messages_and_display_coords_with_equals(tmp_path):
    src = shared_path(*MONO)
    base, _ = _fix(src)
    text = src.read_text()
    variants = [
        "MSG\t2095866 DISPLAY_COORDS = 0 0 1919 1079\n",  # 2015 EyeLink 1000 host: with " = "
        "MSG\t2095866   TRIAL_VAR   condition  easy  \n",
        "MSG\t2095866 !V TRIAL_VAR_DATA 1 2 3\n",
        "MSG\t2095866 !V IMGLOAD CENTER scans/a.png 640 512\n",
        "MSG\t2095866 RECCFG CR ? 2 1 L\n",
        "MSG\t2095866 GAZE_COORDS = 0.00 0.00 x y\n",
        "MSG\n",
        "MSG\tnot-a-time something\n",
    ]
    at = text.index("MSG\t2095865 RETRACE_INTERVAL")
    path = tmp_path / "variants.asc"
    path.write_text(text[:at] + "".join(variants) + text[at:])
    res = convert(path, "-o", tmp_path / "f.parquet")
    assert res.exit_code == 0, res.output
    fix, warns = _fix(path)
    pd.testing.assert_frame_equal(fix, base.assign(session_id="variants"))
    rec = readers.read(path)
    assert rec.sessions["variants"]["screen_fields"] == {"width_px": 1920.0, "height_px": 1080.0}
    kept = set(rec.messages["text"])
    assert {"TRIAL_VAR   condition  easy", "!V TRIAL_VAR_DATA 1 2 3", "DISPLAY_COORDS = 0 0 1919 1079"} <= kept
    assert any("2 MSG line(s) without a time stamp" in w for w in warns)


# ---------------------------------------------------------------- incomplete last lines


def _cut_cases():
    kvasir = shared_path("kvasir-seg", "fixations.csv").read_bytes()
    head = b"".join(kvasir.splitlines(keepends=True)[:60])
    pupil = shared_path(*PUPIL).read_bytes()
    alex = b"".join(shared_path(*ALEX1).read_bytes().splitlines(keepends=True)[:400])
    gp = GP_ALL.encode()
    last = pupil.rstrip(b"\n").rsplit(b"\n", 1)[1]
    y_at = len(pupil.rstrip(b"\n")) - len(last) + last.index(b",", last.index(b"0.")) + 5  # inside norm_pos_y
    return {
        # GazeMedSeg report cut inside IMAGE_WIDTH: 622.0 -> "6" would give a 6 px wide image
        "fixation-report": (head, len(head.rstrip(b"\n")) - 4, ()),
        "pupil-core": (pupil, y_at, tuple(SCREEN)),
        "gazepoint": (gp, len(gp.rstrip(b"\n")) - 40, tuple(SCREEN)),
        "tobii-prolab": (alex, len(alex.rstrip(b"\n")) - 700, ()),
    }


@pytest.mark.parametrize("kind", ["fixation-report", "pupil-core", "gazepoint", "tobii-prolab"])
def test_incomplete_last_line_is_dropped_with_a_warning(tmp_path, kind):
    data, cut, args = _cut_cases()[kind]
    cut_file, whole = tmp_path / "cut.csv", tmp_path / "whole.csv"
    cut_file.write_bytes(data[:cut])
    complete = data[:cut].rsplit(b"\n", 1)[0] + b"\n"  # the same file without its incomplete last line
    whole.write_bytes(complete)
    fix, warns = _fix(cut_file)
    expected, _ = _fix(whole)
    fix["session_id"] = expected["session_id"] = ""  # named after the file stem
    assert any("the last line has no line end" in w and "dropped it" in w for w in warns), warns
    pd.testing.assert_frame_equal(
        fix.drop(columns="source", errors="ignore"), expected.drop(columns="source", errors="ignore")
    )
    res = convert(cut_file, "-o", tmp_path / "f.parquet", *args)
    assert res.exit_code == 0 and "dropped it (truncated export?)" in res.output, res.output


def test_eyelink_cut_inside_an_efix_line(tmp_path):
    text = shared_path(*MONO).read_text()
    efix = text.rindex("EFIX")
    line_end = text.index("\n", efix)
    path = tmp_path / "cut.asc"
    path.write_text(text[: line_end - 3])  # inside the last EFIX's pupil field
    fix, warns = _fix(path)
    base, _ = _fix(shared_path(*MONO))
    assert len(fix) == len(base) - 1 and any("may be incomplete" in w for w in warns)
    pd.testing.assert_frame_equal(fix, base.iloc[:-1].assign(session_id="cut"))


# ---------------------------------------------------------------- silently wrong successes


def test_gazepoint_decimal_comma_in_one_row_is_a_clean_error(tmp_path):
    lines = GP_ALL.splitlines(keepends=True)
    lines[3] = lines[3].replace("0.03125,300,0.50200", "0,03125,300,0,50200")
    path = tmp_path / "user_0_all_gaze.csv"
    path.write_text("".join(lines))
    res = convert(path, "-o", tmp_path / "f.parquet", *SCREEN)
    _clean_error(res, "line 4: expected 22 comma-separated fields like the header, got 24")


def test_prolab_empty_participant_inside_a_recording_inherits(tmp_path):
    src = shared_path(*ALEX1)
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    header = lines[0].rstrip("\n").split("\t")
    col = header.index("Participant name")
    blanked = []
    for i, ln in enumerate(lines):
        fields = ln.split("\t")
        if i and i % 3 == 0:  # every third row loses its participant cell
            fields[col] = ""
        blanked.append("\t".join(fields))
    path = tmp_path / "alex1.tsv"
    path.write_text("".join(blanked), encoding="utf-8")
    fix, warns = _fix(path)
    base, _ = _fix(src)
    assert len(base) == 40 and len(fix) == 40
    pd.testing.assert_frame_equal(fix, base)
    assert any("empty 'Participant name' inside a recording" in w for w in warns)


def test_duplicate_fixation_rows_are_dropped_with_a_warning(tmp_path):
    lines = shared_path(*PUPIL).read_text().splitlines(keepends=True)
    path = tmp_path / "fixations.csv"
    path.write_text("".join(lines[:10] + lines[9:12] + lines[12:]))  # line 10 written twice
    fix, warns = _fix(path)
    base, _ = _fix(shared_path(*PUPIL))
    assert len(base) == 36 and len(fix) == 36
    pd.testing.assert_frame_equal(fix.assign(session_id=""), base.assign(session_id=""))
    assert any("1 fixation row(s) repeat an earlier row exactly" in w for w in warns)


# ---------------------------------------------------------------- messages


def test_int32_overflow_names_the_input_line(tmp_path):
    lines = shared_path("kvasir-seg", "fixations.csv").read_text().splitlines(keepends=True)[:20]
    lines[7] = lines[7].rsplit(",", 1)[0] + ",9223372036854775808\n"
    path = tmp_path / "fixations.csv"
    path.write_text("".join(lines))
    _clean_error(convert(path, "-o", tmp_path / "f.parquet"), "line 8, column 'IMAGE_WIDTH': expected a whole number")


def test_no_python_warning_reaches_the_user(tmp_path):
    lines = GP_ALL.splitlines(keepends=True)
    lines[3] = lines[3].replace("0.50200,0.50100,0.00000,", "0.50200,0.50100,1e308,")  # FPOGS * 1000 overflows
    path = tmp_path / "user_0_all_gaze.csv"
    path.write_text("".join(lines))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a numpy RuntimeWarning would fail the read
        rec = readers.read(path)
    assert np.isinf(rec.fixations["t_start_ms"]).sum() == 1 and rec.fixations["t_start_ms"].iloc[0] == 250.0
    res = convert(path, "-o", tmp_path / "f.parquet", *SCREEN)
    assert "Warning" not in res.output


def test_convert_help_lists_every_format():
    """--format's help is made from readers.READERS (one list): every reader's NAME, in detection order."""
    res = CliRunner().invoke(main, ["convert", "--help"])
    text = "".join(res.output.split())  # unwrapped (click breaks lines inside names: "pupil-" "core")
    listed = text.split("forceareaderinsteadofdetectingit:")[1].split("--")[0].split(",")
    assert listed == [r.NAME for r in readers.READERS] == ["tobii-prolab", "tobii-studio", "fixation-report",
                                                          "eyelink-asc", "tobii-sdk", "gazepoint", "pupil-core",
                                                          "generic"]  # fmt: skip


def test_image_size_beyond_int32_names_the_input_not_the_output_column(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("Onset,Dur,X,Y,W,H\n0,100,5,5,64,48\n200,100,6,6,64,3000000000\n")
    cols = "t_start_ms=Onset,duration_ms=Dur,x_px=X,y_px=Y,image_width_px=W,image_height_px=H"
    res = convert(path, "-o", tmp_path / "f.parquet", "--columns", cols)
    _clean_error(res, "session 'mine', fixation at 200 ms: expected an image height of 1..2147483647 whole px")
    assert "image_height_px" not in res.output and not (tmp_path / "f.parquet").exists()


def test_normalised_formats_without_geometry_name_what_to_give(tmp_path):
    sdk = shared_path("gaze-samples", "tobiisdk_tobii_research_sample_gaze_data.csv")
    res = convert(sdk, "-o", tmp_path / "f.parquet")  # samples only: detection needs the whole geometry
    _clean_error(res, "give --screen-px WxH, --screen-mm WxH and --distance-mm D (or a session.json with")
    res = convert(shared_path(*PUPIL), "-o", tmp_path / "f.parquet")  # vendor fixations: the resolution is enough
    _clean_error(res, "positions are normalised: give --screen-px WxH (or a session.json with ScreenResolution)")
    res = convert(shared_path(*PUPIL), "-o", tmp_path / "f.parquet", "--screen-px", "1920x1080")
    assert res.exit_code == 0, res.output


@pytest.mark.parametrize("header_comma", [True, False])
def test_gazepoint_trailing_comma_on_header_or_rows_only(tmp_path, header_comma):
    head, body = GP_ALL.split("\n", 1)
    rows = body.splitlines(keepends=True)
    if header_comma:  # the header keeps its trailing comma, the rows lose theirs
        text = head + "\n" + "".join(r.replace(",\n", "\n") for r in rows)
    else:
        text = head.rstrip(",") + "\n" + body
    path = tmp_path / "user_0_all_gaze.csv"
    path.write_text(text)
    base = tmp_path / "base" / "user_0_all_gaze.csv"
    base.parent.mkdir()
    base.write_text(GP_ALL)
    pd.testing.assert_frame_equal(_fix(path)[0], _fix(base)[0])
