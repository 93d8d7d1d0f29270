"""gazekit qc end to end: figures, agreement with labels, overlays, contact sheet, index.html in Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from gazekit import store, tables
from gazekit.cli import main
from gazekit.qc import metrics
from tests.test_store_render import fixation_table

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
REPO = Path(__file__).resolve().parents[1]
H, W = 48, 64


@pytest.fixture
def study(tmp_path):
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    rng = np.random.default_rng(0)
    for sid in ("a", "b"):
        cv2.imwrite(str(images / f"{sid}.png"), rng.integers(60, 120, (H, W, 3), dtype=np.uint8))
        mask = np.zeros((H, W), np.uint8)
        mask[10:30, 20:50] = 255  # target: rows 10-29, columns 20-49
        cv2.imwrite(str(masks / f"{sid}.png"), mask)
    rows = [
        ("s1", "r1", "a", None, 0.0, 300.0, 25.5, 15.5),  # inside
        ("s1", "r1", "a", None, 400.0, 200.0, 45.0, 25.0),  # inside
        ("s1", "r1", "a", None, 700.0, 100.0, 5.0, 40.0),  # outside
        ("s1", "r1", "b", None, 900.0, 250.0, 30.0, 20.0),  # inside
        ("s1", "r1", "", None, 1200.0, 250.0, np.nan, np.nan),  # calibration, no stimulus
    ]
    df = fixation_table(rows)
    df.loc[4, "on_image"] = False
    table = tmp_path / "fix.parquet"
    tables.write_table("fixations", df, table, {"sessions": {"s1": {"quality": {"validation_accuracy_deg": 0.6}}}})
    return tmp_path, table, images, masks


def test_qc_figures_agreement_and_overlays(study):
    tmp, table, images, masks = study
    out = tmp / "report"
    res = CliRunner().invoke(
        main, ["qc", str(table), "-o", str(out), "--stimuli", str(images), "--labels", str(masks), "--sigma-px", "6"]
    )
    assert res.exit_code == 0, res.output
    sess = pd.read_csv(out / "sessions.csv").iloc[0]
    assert sess["n_fixations"] == 5 and sess["share_on_image"] == pytest.approx(0.8)
    assert sess["dwell_on_image_ms"] == 850.0 and sess["validation_accuracy_deg"] == 0.6
    stim = pd.read_csv(out / "stimuli.csv").set_index("stimulus_id")
    assert stim.loc["a", "share_inside"] == pytest.approx(2 / 3) and stim.loc["b", "share_inside"] == 1.0
    assert stim.loc["a", "dwell_ms"] == 600.0 and stim.loc["a", "target_px"] == 600
    # b: one fixation at (30, 20) sigma 6: the map above half its max is the disc r = 6 sqrt(2 ln 2) around it
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    disc = (xx - 30) ** 2 + (yy - 20) ** 2 < 2 * np.log(2) * 36
    target = np.zeros((H, W), bool)
    target[10:30, 20:50] = True
    assert stim.loc["b", "dice"] == pytest.approx(metrics.dice(disc, target), abs=0.01)
    assert stim.loc["b", "auc_judd"] > 0.8 and stim.loc["b", "nss"] > 0
    summary = json.loads((out / "qc.json").read_text())
    assert summary["mean"]["share_inside"] == pytest.approx((2 / 3 + 1) / 2)
    # index.html: people's numbers (no JSON dicts, no 16-digit floats), tables scroll instead of overflowing
    page = (out / "index.html").read_text()
    facts = page[page.index("<ul>") : page.index("</ul>")]
    assert "{" not in facts and not re.search(r"\d\.\d{6,}", facts)
    assert f"share_inside {(2 / 3 + 1) / 2:.4g}" in facts and "sigma_px 6" in facts
    assert page.count('<div class="scroll"><table') == 2 and "overflow-x: auto" in page
    ov = cv2.imread(str(out / "overlays" / "a.png"))[..., ::-1]
    assert ov.shape == (384, 512, 3)  # drawn at 512 px on the long side (x8)
    base = cv2.resize(cv2.imread(str(images / "a.png"))[..., ::-1], (512, 384), interpolation=cv2.INTER_LINEAR)
    # heatmap drawn between the two first fixations, nothing far from every fixation (bottom right corner)
    assert np.abs(ov[160, 280].astype(int) - base[160, 280]).sum() > 60
    assert np.abs(ov[375, 500].astype(int) - base[375, 500]).sum() < 10
    assert cv2.imread(str(out / "contact_sheet_001.png")).shape[1] == 8 * 224


def test_report_numbers_one_format_per_column_and_a_legend(study):
    from gazekit.qc.report import LEGEND, column_decimals, format_cell, format_value

    # a column of whole numbers gets thousands separators, never e-notation; a column with fractions one
    # number of decimals for every row; shares always three
    dwell = pd.Series([13240.0, 4997.0], name="dwell_ms")
    assert [format_cell(v, column_decimals(dwell)) for v in dwell] == ["13,240", "4,997"]
    mean = pd.Series([13240.25, 264.7], name="mean_duration_ms")
    assert [format_cell(v, column_decimals(mean)) for v in mean] == ["13,240.2", "264.7"]
    share = pd.Series([1.0, 0.8], name="share_on_image")
    assert [format_cell(v, column_decimals(share)) for v in share] == ["1.000", "0.800"]
    small = pd.Series([1.121, 0.5], name="nss")
    assert [format_cell(v, column_decimals(small)) for v in small] == ["1.121", "0.500"]
    assert format_value(13240.0) == "13,240" and format_value(13240) == "13,240" and format_value(0.97778) == "0.9778"

    tmp, table, images, masks = study
    out = tmp / "report"
    args = ["qc", str(table), "-o", str(out), "--stimuli", str(images), "--labels", str(masks), "--sigma-px", "6"]
    assert CliRunner().invoke(main, args).exit_code == 0
    page = (out / "index.html").read_text()
    assert "images:" not in page and "<script" not in page  # the status line for tests is gone
    assert not re.search(r"\de[+-]\d", page)  # no e-notation anywhere
    stim = page[page.index("<h2>Stimuli</h2>") : page.index('<h2 id="legend">')]
    assert "<td>0.667</td><td>0." in stim or "<td>0.667</td>" in stim  # share_inside of a: 2 of 3, three decimals
    assert "<td>600</td>" in stim  # target_px: whole numbers, no decimals
    legend = page[page.index('<h2 id="legend">') :]
    sessions = pd.read_csv(out / "sessions.csv")
    per_stim = pd.read_csv(out / "stimuli.csv")
    summary = json.loads((out / "qc.json").read_text())
    for key in [*summary, *sessions.columns, *per_stim.columns]:
        if key in LEGEND:
            assert f"<dt>{key}</dt><dd>" in legend, key
    explained = {k for k in [*summary, *sessions.columns, *per_stim.columns] if f"<dt>{k}</dt>" in legend}
    unexplained = set(sessions.columns) - explained
    assert unexplained == {"validation_accuracy_deg"}  # the session metadata's own quality entry
    assert "numeric quality entries of the session" in legend
    assert {"dice", "nss", "cc", "kld", "sim", "auc_judd", "share_inside"} <= explained


def test_qc_uses_the_store_maps(study):
    tmp, table, images, masks = study
    res = CliRunner().invoke(
        main, ["render-heatmaps", str(table), "-o", str(tmp / "st"), "--stimuli", str(images), "--sigma-px", "9"]
    )
    assert res.exit_code == 0, res.output
    args = ["qc", str(table), "-o", str(tmp / "rep"), "--store", str(tmp / "st"), "--labels", str(masks)]
    res = CliRunner().invoke(main, [*args, "--stimuli", str(images)])
    assert res.exit_code == 0, res.output
    stim = pd.read_csv(tmp / "rep" / "stimuli.csv").set_index("stimulus_id")
    target = np.zeros((H, W), bool)
    target[10:30, 20:50] = True
    heat = store.open_store(tmp / "st").get("a")
    assert stim.loc["a", "dice"] == pytest.approx(metrics.heatmap_dice(heat, target))
    assert stim.loc["a", "cc"] == pytest.approx(metrics.cc(heat, target))


def test_partial_stimuli_folder_renders_what_is_there_and_qc_reads_the_partial_store(study):
    tmp, table, images, masks = study
    partial = tmp / "partial"
    partial.mkdir()
    shutil.copy(images / "a.png", partial / "a.png")  # b, looked at once, is missing
    st = tmp / "st"
    args = ["render-heatmaps", str(table), "-o", str(st), "--stimuli", str(partial), "--sigma-px", "6"]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert res.stderr == "warning: skipped 1 stimulus with gaze not in the --stimuli folder: b\n"
    assert res.stdout == f"{st}: 1 map(s) with gaze, 0 without, scales [1]\n"
    opened = store.open_store(st)
    assert opened.keys() == [("a", None)] and opened.params["skipped_stimuli"] == {"count": 1, "ids": ["b"]}
    for extra in (["--stimuli", str(partial)], []):  # the partial store, with and without the partial folder
        out = tmp / f"rep{len(extra)}"
        res = CliRunner().invoke(main, ["qc", str(table), "-o", str(out), "--store", str(st), *extra])
        assert res.exit_code == 0, res.output
        where = "--stimuli folder or the store" if extra else "store"
        assert res.stderr == f"warning: skipped 1 stimulus with gaze not in the {where}: b\n"
        assert pd.read_csv(out / "stimuli.csv")["stimulus_id"].tolist() == ["a"]
        summary = json.loads((out / "qc.json").read_text())
        assert summary["skipped_stimuli"] == ["b"] and summary["stimuli_with_gaze"] == 1
        assert summary["fixations"] == 4  # the 5 of the table less b's one
    # a folder with none of the table's stimuli is still an error
    (tmp / "none").mkdir()
    shutil.copy(images / "a.png", tmp / "none" / "z.png")
    res = CliRunner().invoke(
        main, ["render-heatmaps", str(table), "-o", str(tmp / "st2"), "--stimuli", str(tmp / "none")]
    )
    assert res.exit_code == 2
    assert res.output.endswith(
        "expected some of the table's stimuli (a, b, ...) in the --stimuli folder (it has z, ...)\n"
    )


def test_qc_bad_input(study):
    tmp, table, images, masks = study
    (masks / "b.png").unlink()
    cmd = [sys.executable, "-m", "gazekit", "qc", str(table), "-o", str(tmp / "rep"), "--labels", str(masks),
           "--stimuli", str(images), "--sigma-px", "5"]  # fmt: skip
    res = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, timeout=120)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert re.fullmatch(
        r"error: .*masks, stimulus_id 'b': expected a label map for every stimulus with gaze \(.*--label-pair.*\)\n",
        res.stderr,
    )
    assert not (tmp / "rep").exists()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (.ci/run installs it with apt-get)")
def test_index_html_renders_in_headless_chromium(study):
    tmp, table, images, masks = study
    out = tmp / "report"
    args = ["qc", str(table), "-o", str(out), "--stimuli", str(images), "--labels", str(masks), "--sigma-px", "6"]
    assert CliRunner().invoke(main, args).exit_code == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--virtual-time-budget=5000"]  # fmt: skip
    url = (out / "index.html").as_uri()
    shot = tmp / "shot.png"
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run([CHROMIUM, *flags, f"--user-data-dir={profile}", f"--screenshot={shot}",
                        "--window-size=1200,1600", url], capture_output=True, timeout=120)  # fmt: skip
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run([CHROMIUM, *flags, f"--user-data-dir={profile}", "--dump-dom", url],
                             capture_output=True, text=True, timeout=120).stdout  # fmt: skip
    assert "images:" not in dom and 'id="status"' not in dom  # no status line meant for tests on the page
    assert dom.count('<img src="contact_sheet_001.png"') == 1 and 'id="legend"' in dom
    img = cv2.imread(str(shot))
    assert img is not None and img.shape[:2] == (1600, 1200)
    assert img.std() > 20  # not blank
    colourful = (img.max(axis=2).astype(int) - img.min(axis=2)) > 60  # the overlays' heatmap colours show
    assert colourful.sum() > 1000
