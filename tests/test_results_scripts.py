"""The results scripts: the Kvasir split (sizes, disjointness, labeled prefixes) and the table generator
(table cells equal the summary.csv values, computed here independently)."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def _lines(p: Path) -> list[str]:
    return [s for s in p.read_text().splitlines() if s]


def _split(tmp: Path, seed: int, out: str) -> Path:
    subprocess.run(
        [sys.executable, "examples/kvasir/make_split.py", "--shared-data", str(tmp), "--seed", str(seed), "-o", out],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return Path(out)


def test_split_sizes_disjoint_and_seeded(tmp_path):
    images = tmp_path / "kvasir-seg" / "images"
    images.mkdir(parents=True)
    names = [f"img{i:04d}" for i in range(900)]
    for n in names:
        (images / f"{n}.jpg").touch()
    (images / "notes.txt").touch()  # not an image
    a = _split(tmp_path, 0, str(tmp_path / "a"))
    train, val = _lines(a / "train.list"), _lines(a / "val.list")
    lab10, lab5 = _lines(a / "labeled_10.list"), _lines(a / "labeled_5.list")
    assert (len(val), len(train), len(lab10), len(lab5)) == (90, 810, 81, 41)
    assert not set(train) & set(val)
    assert sorted(train + val) == names
    assert len(set(train)) == 810
    # the labeled sets are prefixes of train.list (what --labeled 81 / 41 select), nested, and not validation
    assert lab10 == train[:81] and lab5 == train[:41] and set(lab5) < set(lab10)
    # fixed seed: same lists again; another seed: another split
    b = _split(tmp_path, 0, str(tmp_path / "b"))
    assert (b / "train.list").read_text() == (a / "train.list").read_text()
    c = _split(tmp_path, 1, str(tmp_path / "c"))
    assert set(_lines(c / "val.list")) != set(val)


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def _table_rows(md: str, first_cell: str) -> list[list[str]]:
    return [
        [c.strip() for c in line.strip("|").split("|")]
        for line in md.splitlines()
        if line.startswith("| ") and line.split("|")[1].strip() == first_cell
    ]


def test_tables_equal_summary_values(tmp_path):
    res = tmp_path / "results"
    dice_sup, iou_sup = [0.61, 0.65, 0.70], [0.50, 0.52, 0.58]
    summary = [
        {"row": "supervised", "labeled": 81, "seed": s, "schedule": "cpu", "dice": d, "iou": j}
        for s, (d, j) in enumerate(zip(dice_sup, iou_sup, strict=True))
    ]
    summary.append({"row": "supervised", "labeled": 41, "seed": 0, "schedule": "cpu", "dice": 0.4, "iou": 0.3})
    summary.append({"row": "hgdtgl", "labeled": 81, "seed": 0, "schedule": "cpu", "dice": 0.7234, "iou": 0.6})
    summary.append({"row": "supervised_all", "labeled": 810, "seed": 0, "schedule": "cpu", "dice": 0.8, "iou": 0.7})
    _write(res / "kvasir" / "summary.csv", summary)
    runs = [
        {"row": r["row"], "labeled": r["labeled"], "seed": r["seed"], "schedule": "cpu", "iterations": 800}
        | {"wall_train_s": 600 + 60 * r["seed"], "wall_eval_s": 30, "command": f"hgdtgl train --method {r['row']}"}
        for r in summary
    ]
    _write(res / "kvasir" / "runs.csv", runs)
    _write(
        res / "kvasir" / "sigma_choice.csv",
        [{"store": "s1", "dice": 0.5, "iou": 0.4}, {"store": "s2", "dice": 0.75, "iou": 0.61}],
    )
    acdc = {"row": "mt", "labeled": 7, "seed": 0, "schedule": "cpu", "dice_rv": 0.5, "dice_myo": 0.6, "dice_lv": 0.7}
    acdc |= {"dice_mean": 0.6, "hd95_mean": 12.5, "asd_mean": 3.25}
    _write(res / "acdc" / "summary.csv", [acdc])
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results-tables:begin -->\nold\n<!-- results-tables:end -->\ntail\n")
    out = tmp_path / "tables.md"
    cmd = [sys.executable, "examples/make_results_tables.py", "--results", str(res), "-o", str(out)]
    subprocess.run([*cmd, "--readme", str(readme)], cwd=ROOT, check=True, capture_output=True)
    md = out.read_text()

    sup, sup_5 = _table_rows(md, "supervised (labeled only)")
    assert sup_5[1:5] == ["cpu (reduced)", "41", "1", "40.00"]
    order = [row[2] for row in _table_rows(md, "supervised (labeled only)") + _table_rows(md, "HG-DTGL (full)")]
    kvasir = md.split("#### ACDC")[0].splitlines()
    labels = [line.split("|")[3].strip() for line in kvasir if line.startswith("| ") and "cpu" in line]
    assert labels == ["81", "81", "810", "41"] and order == ["81", "41", "81"]  # 10 % block + upper bound, then 5 %
    m, s = np.mean(dice_sup) * 100, np.std(dice_sup, ddof=1) * 100
    assert sup[4] == f"{m:.2f} +- {s:.2f}" == "65.33 +- 4.51"
    assert sup[5] == f"{np.mean(iou_sup) * 100:.2f} +- {np.std(iou_sup, ddof=1) * 100:.2f}"
    assert sup[1:4] == ["cpu (reduced)", "81", "3"]
    assert sup[7] == "800" and sup[9] == f"{(630 + 690 + 750) / 3 / 60:.1f}"
    (full,) = _table_rows(md, "HG-DTGL (full)")
    assert full[4] == "72.34" and full[3] == "1"
    (gaze,) = _table_rows(md, "gaze only (heatmap >= 0.5, no training)")
    assert gaze[4] == "75.00" and gaze[6] == "77.80"
    (mt,) = _table_rows(md, "mean teacher")
    assert mt[4:10] == ["50.00", "60.00", "70.00", "60.00", "12.50", "3.25"]
    assert "hgdtgl train --method hgdtgl" in md
    text = readme.read_text()
    assert text.startswith("intro\n<!-- results-tables:begin -->\n") and text.endswith(
        "<!-- results-tables:end -->\ntail\n"
    )
    assert "old" not in text and md in text
