"""The results scripts: the Kvasir split (sizes, disjointness, labeled prefixes) and the table generator
(table cells equal the summary.csv values, computed here independently)."""

from __future__ import annotations

import csv
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments import figures, runner, tables
from experiments.spec import protocol

CPU_ITERS = protocol().schedules["cpu"].iterations

ROOT = Path(__file__).resolve().parents[1]


def _lines(p: Path) -> list[str]:
    return [s for s in p.read_text().splitlines() if s]


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
    readme.write_text("intro\n<!-- results-tables:begin -->\nstale table\n<!-- results-tables:end -->\ntail\n")
    out = tmp_path / "tables.md"
    cmd = [sys.executable, "-m", "experiments", "tables", "--results", str(res), "-o", str(out)]
    subprocess.run([*cmd, "--readme", str(readme)], cwd=ROOT, check=True, capture_output=True)
    md = out.read_text()

    sup, sup_5 = _table_rows(md, "supervised (labeled only)")
    assert sup_5[1:5] == ["cpu (128 px, 3000 it.)", "41", "1", "40.00"]
    order = [
        row[2]
        for row in _table_rows(md, "supervised (labeled only)")
        + _table_rows(md, "HG-DTGL (full), published gaze loss (weight 0.1)")
    ]
    kvasir = md.split("#### ACDC")[0].splitlines()
    labels = [line.split("|")[3].strip() for line in kvasir if line.startswith("| ") and "cpu" in line]
    assert labels == ["81", "81", "810", "41"] and order == ["81", "41", "81"]  # 10 % block + upper bound, then 5 %
    m, s = np.mean(dice_sup) * 100, np.std(dice_sup, ddof=1) * 100
    assert sup[4] == f"{m:.2f} +- {s:.2f}" == "65.33 +- 4.51"
    assert sup[5] == f"{np.mean(iou_sup) * 100:.2f} +- {np.std(iou_sup, ddof=1) * 100:.2f}"
    assert sup[1:4] == ["cpu (128 px, 3000 it.)", "81", "3"]
    assert sup[7] == "800" and sup[9] == f"{(630 + 690 + 750) / 3 / 60:.1f}"
    (full,) = _table_rows(md, "HG-DTGL (full), published gaze loss (weight 0.1)")
    assert full[4] == "72.34" and full[3] == "1"
    (gaze,) = _table_rows(md, "gaze only (heatmap >= 0.5, no training)")
    assert gaze[4] == "75.00" and gaze[6] == "77.80"
    (mt,) = _table_rows(md, "mean teacher")
    assert mt[4:10] == ["50.00", "60.00", "70.00", "60.00", "12.50", "3.25"]
    commands = (res / "kvasir" / "commands.md").read_text()  # the long command lines live beside the results
    assert "hgdtgl train --method hgdtgl" in commands and "hgdtgl train" not in md
    assert "[`results/kvasir/commands.md`](results/kvasir/commands.md)" in md
    assert not (res / "acdc" / "commands.md").exists()  # no runs.csv there: no command, no link
    text = readme.read_text()
    assert text.startswith("intro\n<!-- results-tables:begin -->\n") and text.endswith(
        "<!-- results-tables:end -->\ntail\n"
    )
    assert "stale table" not in text and md in text


def test_camus_split_keeps_patients_whole_and_uses_the_shipped_lists(tmp_path):
    camus = tmp_path / "camus"
    camus.mkdir()
    views = ("2CH_ED", "2CH_ES", "4CH_ED", "4CH_ES")
    train_names = [f"patient{p:04d}_{v}" for p in range(1, 41) for v in views]  # 40 patients
    val_names = [f"patient{p:04d}_{v}" for p in range(41, 46) for v in views]
    (camus / "train.list").write_text("".join(f"{n}\n" for n in train_names))
    (camus / "val.list").write_text("".join(f"{n}\n" for n in val_names))
    cmd = [sys.executable, "-m", "experiments", "split", "camus", "--shared-data", str(tmp_path)]
    for seed, out in ((0, "a"), (0, "b"), (1, "c")):
        subprocess.run(
            [*cmd, "--seed", str(seed), "-o", str(tmp_path / out)], cwd=ROOT, check=True, capture_output=True
        )
    a = tmp_path / "a"
    train, val = _lines(a / "train.list"), _lines(a / "val.list")
    assert val == val_names and sorted(train) == sorted(train_names)
    patients = [n[:11] for n in train]
    # each patient's four images are consecutive, in their shipped order
    assert all(train[4 * i : 4 * i + 4] == [f"{patients[4 * i]}_{v}" for v in views] for i in range(40))
    lab10, lab5 = _lines(a / "labeled_10.list"), _lines(a / "labeled_5.list")
    assert (len(lab10), len(lab5)) == (16, 8)  # 10 % of 40 patients = 4 patients = 16 images; 5 % = 2 patients
    assert lab10 == train[:16] and lab5 == train[:8]
    assert (a / "train.list").read_text() == (tmp_path / "b" / "train.list").read_text()
    assert _lines(tmp_path / "c" / "labeled_10.list") != lab10
    assert __import__("json").loads((a / "classes.json").read_text())["labels"] == {
        "background": 0,
        "lv": 1,
        "myo": 2,
        "la": 3,
    }


def test_scr_split_by_image(tmp_path):
    images = tmp_path / "scr" / "images"
    images.mkdir(parents=True)
    names = [f"JPCLN{i:03d}" for i in range(200)]
    for n in names:
        (images / f"{n}.png").touch()
    out = tmp_path / "s"
    subprocess.run(
        [sys.executable, "-m", "experiments", "split", "scr", "--shared-data", str(tmp_path), "-o", str(out)],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    train, val = _lines(out / "train.list"), _lines(out / "val.list")
    assert (len(val), len(train)) == (40, 160) and sorted(train + val) == names
    # the same seeded permutation as the Kvasir split, with 40 validation images
    order = np.random.default_rng(0).permutation(200)
    assert val == sorted(names[i] for i in order[:40]) and train == [names[i] for i in order[40:]]
    assert _lines(out / "labeled_10.list") == train[:16] and _lines(out / "labeled_5.list") == train[:8]
    assert "clavicles" in (out / "classes.json").read_text()


def test_runner_multiclass_summary(tmp_path):
    rr = runner
    m = tmp_path / "val_metrics.csv"
    rows = [("c0", "lungs", 0.9, 3.0, 1.0), ("mean", "lungs", 0.8, 4.0, 1.5), ("mean", "heart", 0.7, 10.0, 2.5)]
    rows += [("mean", "clavicles", 0.3, 20.0, 6.5), ("std", "lungs", 0.1, 1.0, 0.5)]
    _write(m, [{"case": c, "class": k, "dice": d, "hd95": h, "asd": s} for c, k, d, h, s in rows])
    v = rr.summary_values("scr", m)
    assert v == pytest.approx(
        {"dice_lungs": 0.8, "dice_heart": 0.7, "dice_clavicles": 0.3, "dice_mean": 0.6, "hd95_mean": 34 / 3}
        | {"asd_mean": 3.5}
    )
    assert rr.summary_columns("camus")[4:] == ["dice_lv", "dice_myo", "dice_la", "dice_mean", "hd95_mean", "asd_mean"]
    assert rr.summary_columns("kvasir")[4:] == ["dice", "iou"]


def test_camus_scr_tables(tmp_path):
    res = tmp_path / "results"
    cam = {"row": "hgdtgl", "labeled": 160, "seed": 0, "schedule": "cpu", "dice_lv": 0.9, "dice_myo": 0.8}
    cam |= {"dice_la": 0.85, "dice_mean": 0.85, "hd95_mean": 5.5, "asd_mean": 1.25}
    sup = cam | {"row": "supervised_all", "labeled": 1600, "dice_lv": 0.95}
    _write(res / "camus" / "summary.csv", [cam, cam | {"seed": 1, "dice_lv": 0.7}, sup])
    scr = {"row": "hgdtgl", "labeled": 16, "seed": 0, "schedule": "cpu", "dice_lungs": 0.96, "dice_heart": 0.9}
    scr |= {"dice_clavicles": 0.8, "dice_mean": 0.8867, "hd95_mean": 7.0, "asd_mean": 2.0}
    _write(res / "scr" / "summary.csv", [scr])
    out = tmp_path / "t.md"
    cmd = [sys.executable, "-m", "experiments", "tables", "--results", str(res), "-o", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    md = out.read_text()
    camus, scr_md = md.split("#### CAMUS")[1].split("#### SCR")
    assert "| lv | myo | la | mean Dice % | HD95 px | ASD px |" in camus and "lungs | heart | clavicles" in scr_md
    (h,) = _table_rows(camus, "HG-DTGL (full), published gaze loss (weight 0.1)")
    lv = f"{np.mean([0.9, 0.7]) * 100:.2f} +- {np.std([0.9, 0.7], ddof=1) * 100:.2f}"
    assert h[1:11] == [
        "cpu (128 px, 3000 it.)",
        "160",
        "2",
        lv,
        "80.00 +- 0.00",
        "85.00 +- 0.00",
        "85.00 +- 0.00",
    ] + [
        "5.50 +- 0.00",
        "1.25 +- 0.00",
        "88.05",
    ]
    (u,) = _table_rows(camus, "supervised, all masks (upper bound)")
    assert u[2:5] == ["1600", "1", "95.00"] and u[10] == ""
    (h,) = _table_rows(scr_md, "HG-DTGL (full), published gaze loss (weight 0.1)")
    assert h[4:11] == ["96.00", "90.00", "80.00", "88.67", "7.00", "2.00", "90.75"]
    assert "unpublished" in scr_md and "SIMULATED gaze" in camus


def test_overlays_of_a_label_map_run(tmp_path, monkeypatch):
    """The overlay figure of a multi-class images dataset: the shown images are the first training images after the
    run's labeled prefix (masks unseen), one figure row each."""
    import cv2
    from click.testing import CliRunner

    from experiments.cli import main as experiments_main
    from hgdtgl.cli import main
    from tests.hgdtgl_testdata import blob, make_label_maps, make_store

    data = make_label_maps(tmp_path / "shared" / "scr", n=8)
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.list").write_text("".join(f"c{i}\n" for i in (5, 0, 1, 2, 3, 4)))
    (splits / "val.list").write_text("c6\nc7\n")
    maps = {}
    for i in range(6):
        lab = cv2.imread(str(data / "masks" / f"c{i}.png"), cv2.IMREAD_GRAYSCALE)
        maps[(f"c{i}", None)] = blob((lab > 0).astype(np.uint8), 4.0).astype(np.float32)
    store = make_store(tmp_path / "store", maps, scales=(1, 2))
    run = tmp_path / "run"
    opts = ["--data", str(data), "--train-list", str(splits / "train.list"), "--val-split", str(splits / "val.list")]
    opts += ["--method", "supervised", "--labeled", "3", "--iterations", "2", "--batch-size", "2", "--size", "32"]
    r = CliRunner().invoke(main, ["train", *opts, "--base-channels", "4", "--device", "cpu", "--out", str(run)])
    assert r.exit_code == 0, r.output
    names, what = figures.overlay_names("scr", tmp_path, run)
    assert names == ["c2", "c3", "c4"] and what.startswith("unlabeled training images")
    fig = tmp_path / "ov.png"
    args = ["tables", "--results", str(tmp_path / "none"), "-o", str(tmp_path / "t.md")]
    args += ["--overlays", str(fig), "--overlay-dataset", "scr", "--run-dir", str(run), "--store", str(store)]
    monkeypatch.chdir(ROOT)  # `hgdtgl predict` runs as `python -m hgdtgl` from the repository
    r = CliRunner().invoke(experiments_main, [*args, "--shared-data", str(tmp_path / "shared")])
    assert r.exit_code == 0, r.output
    assert cv2.imread(str(fig)).shape[:2] == (3 * 130, 500)  # 2.6 x 10 inches per row at 50 dpi


@pytest.mark.parametrize("dataset", ["camus", "scr"])
def test_committed_splits_are_what_the_scripts_write(tmp_path, dataset):
    """results/<dataset>/splits is reproduced by `python -m experiments split` from the shared data (skipped without
    it); every listed image has its mask there."""
    from tests.conftest import SHARED, shared_path

    shared_path(dataset)
    out = tmp_path / "splits"
    cmd = [sys.executable, "-m", "experiments", "split", dataset, "--shared-data", str(SHARED), "-o", str(out)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    committed = ROOT / "results" / dataset / "splits"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in committed.iterdir())
    for p in out.iterdir():
        assert p.read_text() == (committed / p.name).read_text(), p.name
    names = _lines(out / "train.list") + _lines(out / "val.list")
    masks = {p.stem for p in (SHARED / dataset / "masks").iterdir()}
    assert len(set(names)) == len(names) == {"camus": 1800, "scr": 200}[dataset] and set(names) <= masks


def test_a_row_stopped_before_its_planned_iterations_is_labelled_partial(tmp_path):
    (tmp_path / "config.yaml").write_text("method: bcp\niterations: 30\npretrain_iterations: 10\n")
    assert runner.planned_iterations(tmp_path / "config.yaml") == 40
    (tmp_path / "config.yaml").write_text("method: mt\niterations: 30\npretrain_iterations: 0\n")
    assert runner.planned_iterations(tmp_path / "config.yaml") == 30
    assert tables.schedule_label("gpu-partial") == "gpu, time-boxed (stopped early)"  # protocol.toml's label_partial
    assert tables.schedule_label("cpu-partial") == "cpu, stopped early"
    assert tables.schedule_label("gpu") == "gpu (full schedule)" and tables.schedule_label("cpu-x") == "cpu-x"


def test_a_resumed_row_counts_the_training_time_logged_before_the_resume(tmp_path):
    """The runner's wall time of a row = this process + the windows an earlier process logged in metrics.csv."""
    from hgdtgl.runlog import write_metrics

    rr = runner
    metrics = tmp_path / "metrics.csv"
    assert rr.logged_training_seconds(metrics) == 0.0  # a new run
    rows = [{"iteration": 1200, "stage": "pretrain", "wall_s": 150.5}, {"iteration": 2400, "stage": "train"}]
    rows += [{"iteration": 3600, "stage": "train", "wall_s": 149.25}]
    write_metrics(metrics, rows)
    assert rr.logged_training_seconds(metrics) == pytest.approx(299.75)


def test_gaze_levels_the_trainers_choice_is_the_closest_to_the_reference(tmp_path):
    """examples/kvasir/gaze_levels.py on synthetic gaze: the trainer's map (the store's scale on the training
    grid, sum-pooled after augmentation) is at every level at least as close to the fine reference as the
    resized scale-1 map and as the store's own scale at that level, and clearly closer at the coarsest."""
    import cv2
    import pandas as pd

    from gazekit import api, tables

    rng = np.random.default_rng(0)
    images = tmp_path / "images"
    images.mkdir()
    rows = []
    for k in range(6):
        h, w = 96 + 8 * k, 128
        cv2.imwrite(str(images / f"img{k}.png"), np.full((h, w, 3), 90, np.uint8))
        for j in range(int(rng.integers(3, 8))):
            rows.append((f"s{k}", "r1", f"img{k}", j, 100.0 * j, float(rng.uniform(100, 400)),
                         float(rng.uniform(10, w - 10)), float(rng.uniform(10, h - 10)), w, h))  # fmt: skip
    df = pd.DataFrame(rows, columns=["session_id", "reader_id", "stimulus_id", "fixation_index", "t_start_ms",
                                     "duration_ms", "x_px", "y_px", "image_width_px", "image_height_px"])  # fmt: skip
    df["slice_index"] = pd.array([None] * len(df), dtype="Int64")
    for col in ("screen_x_px", "screen_y_px", "pupil"):
        df[col] = np.nan
    df["on_image"], df["eye"], df["source_format"], df["detector"] = True, "both", "test", "given"
    table = tmp_path / "fix.parquet"
    tables.write_table("fixations", df, table)
    api.render_heatmaps(table, tmp_path / "store", stimuli=images, sigma_frac=0.05, norm="minmax",
                        scales=(1, 2, 4, 8, 16), size=(128, 128))  # fmt: skip
    out = tmp_path / "levels.csv"
    subprocess.run(
        [sys.executable, "examples/kvasir/gaze_levels.py", "--fixations", str(table), "--store",
         str(tmp_path / "store"), "--size", "64", "--levels", "1,2,4,8", "-o", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    got = {(int(r["level"]), r["candidate"]): float(r["tv_mean"]) for r in csv.DictReader(out.open())}
    assert set(got) == {(s, c) for s in (1, 2, 4, 8) for c in ("resized", "trainer", "store")}
    for s in (1, 2, 4, 8):
        assert got[s, "trainer"] < 0.02
        assert got[s, "trainer"] <= min(got[s, "resized"], got[s, "store"]) + 2e-4
    assert got[1, "trainer"] == pytest.approx(got[1, "store"], rel=1e-4)  # the store scale on the training grid
    assert got[8, "store"] > 2 * got[8, "trainer"]


def test_code_commit_ignores_the_rows_the_runner_writes(tmp_path, monkeypatch):
    """A campaign appends rows to results/*.csv in its own work tree: that is not a code change (+dirty is)."""
    mod = runner
    git = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "summary.csv").write_text("row\n")
    (tmp_path / "code.py").write_text("x = 1\n")
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "c"]):
        subprocess.run([*git, *cmd], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    clean = mod.code_commit()
    assert len(clean) >= 7 and "+" not in clean
    (tmp_path / "results" / "summary.csv").write_text("row\nsupervised\n")
    assert mod.code_commit() == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert mod.code_commit() == clean + "+dirty"


def test_matched_supervised_row_trains_with_the_labeled_batch_of_the_semi_supervised_rows():
    rr = runner
    for schedule, labeled_bs in (("cpu", "4"), ("gpu", "12")):
        sched = rr.schedule_args(schedule, 30)
        assert rr.labeled_batch_args(sched) == ["--batch-size", labeled_bs]
    assert protocol().rows["supervised_matched"].batch == "labeled"


def test_a_cpu_run_with_other_iterations_is_its_own_schedule():
    rr = runner
    assert rr.schedule_name("cpu", CPU_ITERS) == "cpu" and rr.schedule_name("gpu", 5000) == "gpu"
    assert rr.schedule_name("cpu", 12000) == "cpu-12000"
    assert tables.schedule_label("cpu-12000") == "cpu (128 px, 12000 it.)"
    assert tables.schedule_label("cpu-12000-partial").endswith("stopped early")


def test_a_bf16_cpu_run_is_its_own_schedule_and_trains_in_bf16_channels_last():
    rr = runner
    assert rr.schedule_name("cpu", 12000, "bf16") == "cpu-12000-bf16"
    assert rr.schedule_name("cpu", CPU_ITERS, "bf16") == "cpu-bf16"
    assert rr.schedule_name("gpu", 5000, "bf16") == "gpu"
    fast, plain = rr.schedule_args("cpu", 30, amp="bf16"), rr.schedule_args("cpu", 30)
    assert fast[fast.index("--amp") + 1] == "bf16" and "--channels-last" in fast
    # float32 is asked for explicitly: the trainer's own default (auto) would pick bf16 on a CPU with native bf16
    assert plain[plain.index("--amp") + 1] == "none" and "--channels-last" not in plain
    assert tables.schedule_label("cpu-12000-bf16") == "cpu (128 px, 12000 it., bf16)"
    assert tables.schedule_label("cpu-bf16-partial") == "cpu (128 px, 3000 it., bf16), stopped early"
    assert tables.schedule_label("cpu-12000") == "cpu (128 px, 12000 it.)"


def test_evidence_pairs_rows_only_within_a_schedule(tmp_path):
    rows = ["row,labeled,seed,schedule,dice,iou"]
    for sched, hg, sup in (("cpu", 0.5, 0.6), ("cpu-12000-bf16", 0.8, 0.7)):
        rows += [f"hgdtgl,81,0,{sched},{hg},0", f"supervised,81,0,{sched},{sup},0"]
    rows += ["hgdtgl,81,0,cpu-12000-bf16-partial,0.1,0"]
    (tmp_path / "summary.csv").write_text("\n".join(rows) + "\n")
    text = tables.evidence(tmp_path, "dice")
    assert tables.evidence_schedules(tables.read_csv(tmp_path / "summary.csv")) == ["cpu", "cpu-12000-bf16"]
    first, second = text.split("Schedule cpu (128 px, 12000 it., bf16):")
    assert "| 81 | supervised (labeled only) | 0 | -10.00 |" in first
    assert "| 81 | supervised (labeled only) | 0 | +10.00 |" in second


def test_the_chosen_gaze_weight_is_paired_seed_by_seed_with_the_table_rows(tmp_path):
    """The weight with the best seed-0 validation Dice is the chosen one; its seed 0 (the sweep's run) and further
    seeds (chosen_gaze_weight/) are each compared with the same seed of the table's rows, default weight included."""
    head = "row,labeled,seed,schedule,dice,iou\n"
    for w, d in (("0.01", 0.70), ("0.03", 0.75), ("0.1", 0.68)):
        (tmp_path / "gaze_weight" / f"w_{w}").mkdir(parents=True)
        (tmp_path / "gaze_weight" / f"w_{w}" / "summary.csv").write_text(head + f"hgdtgl,81,0,cpu-x,{d},0\n")
    (tmp_path / "chosen_gaze_weight" / "w_0.03").mkdir(parents=True)
    (tmp_path / "chosen_gaze_weight" / "w_0.03" / "summary.csv").write_text(
        head + "hgdtgl,81,1,cpu-x,0.74,0\nhgdtgl,81,2,cpu-x,0.72,0\n"
    )
    default = {"supervised": (0.70, 0.75, 0.70), "hgdtgl": (0.68, 0.73, 0.74)}
    table = [f"{row},81,{s},cpu-x,{d},0" for row, ds in default.items() for s, d in enumerate(ds)]
    (tmp_path / "summary.csv").write_text(head + "\n".join(table) + "\nhgdtgl,81,0,cpu,0.10,0\n")
    text = tables.gaze_weight_section(tmp_path, "dice")
    assert "0.01 -> 70.00, **0.03 -> 75.00**, 0.1 -> 68.00" in text
    assert "seeds 0,1,2: 75.00 / 74.00 / 72.00 (73.67 +- 1.53)" in text
    rows = _table_rows(text, "81")
    assert rows[0] == ["81", "supervised (labeled only)", "0,1,2", "+5.00 / -1.00 / +2.00", "+2.00", "-1.00 .. +5.00"]
    assert rows[1][1:4] == [tables.ROW_LABEL["hgdtgl"], "0,1,2", "+7.00 / +1.00 / -2.00"]
    assert len(rows) == 2  # no row of another schedule is paired, no baseline without rows appears
    # the chosen setting is a row of the table, labelled with its weight, beside the published default
    summary, _ = tables.table_rows(tmp_path)
    assert [r["seed"] for r in summary if r["row"] == "hgdtgl_chosen"] == ["0", "1", "2"]
    assert tables.row_labels(tmp_path)["hgdtgl_chosen"].endswith(
        "published gaze loss, weight 0.03 (chosen on validation)"
    )
    (tmp_path / "chosen_gaze_weight" / "w_0.03" / "summary.csv").unlink()
    assert "| 81 |" not in tables.gaze_weight_section(tmp_path, "dice")  # one seed: the sweep line only


def test_the_gaze_loss_recipe_is_chosen_with_the_weight_and_becomes_the_headline(tmp_path):
    """A sweep over recipes (gaze_weight/<recipe>/w_W/) competes with the published one (gaze_weight/w_W/); the best
    seed-0 setting is chosen, its further seeds are read from chosen_gaze_weight/<recipe>/w_W/, gaze_weight.csv
    lists every setting, and the verdict is read from the chosen setting, not from the published default."""
    cam = tmp_path / "camus"
    cases = [f"patient{i:04d}_2CH_ED" for i in range(6)]
    base = {c: [0.7, 0.7, 0.7] for c in cases}
    head = {"labeled": 160, "schedule": "cpu", "dice_lv": 0.8, "dice_myo": 0.8, "dice_la": 0.8}
    head |= {"hd95_mean": 1, "asd_mean": 1}
    summary = []
    for seed in (0, 1):
        for row, d in (("supervised", 0.7), ("hgdtgl", 0.69)):
            _val_metrics(cam / "cpu" / f"{row}_l160_s{seed}", {c: [d] * 3 for c in cases})
            summary.append({"row": row, "seed": seed, **head, "dice_mean": d})
    _write(cam / "summary.csv", summary)
    for sub, seeds, d in (
        ("w_0.01", (0,), 0.71), ("self-ramp-mean/w_0.1", (0,), 0.74), ("self-ramp-mean/w_0.3", (0,), 0.72)
    ):  # fmt: skip
        for seed in seeds:
            _val_metrics(cam / "gaze_weight" / sub / "cpu" / f"hgdtgl_l160_s{seed}", {c: [d] * 3 for c in base})
        _write(cam / "gaze_weight" / sub / "summary.csv", [{"row": "hgdtgl", "seed": 0, **head, "dice_mean": d}])
    _val_metrics(cam / "chosen_gaze_weight" / "self-ramp-mean" / "w_0.1" / "cpu" / "hgdtgl_l160_s1", {
        c: [0.73] * 3 for c in cases
    })  # fmt: skip
    _write(
        cam / "chosen_gaze_weight" / "self-ramp-mean" / "w_0.1" / "summary.csv",
        [{"row": "hgdtgl", "seed": 1, **head, "dice_mean": 0.73}],
    )
    assert tables.chosen_setting(cam) == tables.GazeSetting("self-ramp-mean", "0.1")
    assert [(r["recipe"], r["gaze_loss_weight"]) for r in tables.gaze_sweep(cam)] == [
        ("published", "0.01"), ("self-ramp-mean", "0.1"), ("self-ramp-mean", "0.3")
    ]  # fmt: skip
    section = tables.gaze_weight_section(cam, "dice_mean")
    assert (
        "**0.1 -> 74.00**" in section
        and "published gaze loss (`--gaze-loss-recipe published`): 0.01 -> 71.00" in section
    )
    stats = tables.stats_section(cam)
    label = "HG-DTGL, gaze loss off in pre-training, ramped, mean over levels, weight 0.1"
    assert f"| 160 | {label} minus supervised (labeled only) | +3.50 | [+3.00, +4.00] |" in stats
    verdict = stats.split("**Does gaze help?")[1]
    assert f"- {label} minus supervised (labeled only)" in verdict and "published gaze loss minus" not in verdict


def test_confirm_gaze_weight_trains_the_chosen_weight_and_the_row_without_the_gaze_loss(tmp_path, monkeypatch):
    """`python -m experiments confirm kvasir` (the spec's chosen weight 0.03, its confirm seeds 1,2, its lr and gaze
    levels, the sweep's schedule cpu-12000-bf16 on a CPU with native bf16), as a dry run."""
    from click.testing import CliRunner

    import hgdtgl.precision
    from experiments.cli import main

    monkeypatch.setattr(hgdtgl.precision, "cpu_native", lambda p: p == "bf16")
    monkeypatch.chdir(tmp_path)  # no summary.csv here: nothing is skipped
    r = CliRunner().invoke(main, ["confirm", "kvasir", "--dry-run"])
    assert r.exit_code == 0, r.output
    trains = [line.split() for line in r.output.splitlines() if line.startswith("hgdtgl train")]
    assert len(trains) == 4
    for cmd, seed in zip(trains[:2], ("1", "2"), strict=True):
        opt = {k: v for k, v in zip(cmd, cmd[1:], strict=False) if k.startswith("--")}
        got = (opt["--method"], opt["--gaze-loss-weight"], opt["--gaze-scales"], opt["--lr"])
        assert got == ("hgdtgl", "0.03", "1", "0.003")
        assert opt["--out"] == f"runs/kvasir/chosen_gaze_weight/w_0.03/cpu-12000-bf16/hgdtgl_l81_s{seed}"
        assert opt["--iterations"] == "12000" and opt["--amp"] == "bf16" and opt["--seed"] == seed
    for cmd, seed in zip(trains[2:], ("1", "2"), strict=True):
        assert "--no-mgp" in cmd and "--gaze-loss-weight" not in cmd
        assert cmd[cmd.index("--out") + 1] == f"runs/kvasir/cpu-12000-bf16/hgdtgl_no_gazeloss_l81_s{seed}"


def test_a_cpu_row_is_named_by_the_precision_that_runs_on_this_machine(monkeypatch, capsys):
    """auto and bf16 give a bf16 schedule only on a CPU with native bf16; without it, float32 and one line why."""
    import hgdtgl.precision as precision

    rr = runner
    monkeypatch.setattr(precision, "cpu_native", lambda p: False)
    assert rr.cpu_precision("auto") == "none" and capsys.readouterr().err == ""
    assert rr.cpu_precision("bf16") == "none"
    assert "no native bf16" in capsys.readouterr().err
    assert rr.schedule_name("cpu", 12000, rr.cpu_precision("auto")) == "cpu-12000"
    monkeypatch.setattr(precision, "cpu_native", lambda p: p == "bf16")
    assert rr.cpu_precision("auto") == "bf16" and rr.cpu_precision("none") == "none"


def test_every_seed_exports_a_model_named_by_row_schedule_and_seed():
    rr = runner
    assert rr.model_file_name("bcp", "cpu", 0) == "bcp.pt"  # the names of the committed seed-0 files
    assert rr.model_file_name("hgdtgl", "cpu-12000-bf16", 0) == "hgdtgl_cpu12000bf16.pt"
    assert rr.model_file_name("hgdtgl", "cpu-12000-bf16", 2) == "hgdtgl_cpu12000bf16_s2.pt"
    assert rr.model_file_name("supervised", "cpu", 1) == "supervised_s1.pt"
    assert rr.model_file_name("bcp", "cpu", 2, 3) == "bcp_l3_s2.pt"  # a budget other than the dataset's default
    assert rr.export_command(rr.plan_row("acdc", "bcp", "cpu", 2, budget=3), "cpu")[-1].endswith("/bcp_l3_s2.pt")
    assert rr.export_command(rr.plan_row("acdc", "bcp", "cpu", 2), "cpu")[-1].endswith("/bcp_s2.pt")


def test_runs_csv_gains_new_columns_without_losing_old_rows(tmp_path):
    rr = runner
    path = tmp_path / "runs.csv"
    path.write_text("row,seed,command\nbcp,0,hgdtgl train x\n")
    rr.append_row(path, ["row", "seed", "precision", "command"], {"row": "mt", "seed": 1, "precision": "fp32"})
    rr.append_row(path, ["row", "seed", "precision", "command"], {"row": "mt", "seed": 2, "precision": "bf16"})
    assert path.read_text().splitlines() == [
        "row,seed,precision,command",
        "bcp,0,,hgdtgl train x",
        "mt,1,fp32,",
        "mt,2,bf16,",
    ]


def _val_metrics(run: Path, dice: dict[str, list[float]]) -> None:
    """A run's val_metrics.csv: per case one row per class (lv / myo / la), then the summary rows, whose values
    must not be read as cases."""
    rows = [
        {"case": case, "class": cls, "dice": d, "jaccard": 0, "hd95": 1, "asd": 1, "empty_pred": 0}
        for case, ds in dice.items()
        for cls, d in zip(("lv", "myo", "la"), ds, strict=True)
    ]
    rows += [
        {"case": "mean", "class": c, "dice": 0.0, "jaccard": 0, "hd95": 0, "asd": 0, "empty_pred": 0} for c in "ab"
    ]
    _write(run / "val_metrics.csv", rows)


def test_gaze_verdict_comes_from_per_case_scores_paired_by_seed_and_case(tmp_path):
    """HG-DTGL = supervised + 5 points on every class of every case of both seeds: the interval is exactly +5; BCP
    (seed 0 only, lower) is compared on cases only; the README section ends with the verdict and the forest plot."""
    res = tmp_path / "results"
    cam = res / "camus"
    rng = np.random.default_rng(0)
    cases = [f"patient{i:04d}_2CH_ED" for i in range(10)]
    summary, dice = [], {}
    for seed in (0, 1):
        sup = {c: list(rng.uniform(0.6, 0.9, 3)) for c in cases}  # another draw per seed: pairing must use the seed
        bcp = {c: [d - rng.uniform(0.0, 0.1) for d in sup[c]] for c in cases}
        runs = {"supervised": sup, "hgdtgl": {c: [d + 0.05 for d in sup[c]] for c in cases}}
        if seed == 0:
            runs["bcp"] = bcp
        for row, scores in runs.items():
            _val_metrics(cam / "cpu" / f"{row}_l160_s{seed}", scores)
            summary.append({"row": row, "labeled": 160, "seed": seed, "schedule": "cpu", "dice_lv": 0.8})
            summary[-1] |= {"dice_myo": 0.8, "dice_la": 0.8, "dice_mean": 0.8, "hd95_mean": 1, "asd_mean": 1}
        dice[seed] = runs
    _write(cam / "summary.csv", summary)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results-tables:begin -->\n<!-- results-tables:end -->\n")
    cmd = [sys.executable, "-m", "experiments", "tables", "--results", str(res), "--readme", str(readme)]
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    camus = readme.read_text().split("#### CAMUS")[1].split("#### SCR")[0]
    rows = {r[1]: r[2:] for r in _table_rows(camus, "160") if " minus " in r[1]}
    assert rows["HG-DTGL, published gaze loss minus supervised (labeled only)"] == [
        "+5.00", "[+5.00, +5.00]", "100 % of cases", "2 x 10", "helps"
    ]  # fmt: skip
    hg0 = {c: np.mean(d) * 100 for c, d in dice[0]["hgdtgl"].items()}
    bcp_diff = np.mean([hg0[c] - np.mean(d) * 100 for c, d in dice[0]["bcp"].items()])
    bcp = rows["HG-DTGL, published gaze loss minus BCP"]
    assert bcp[0] == f"{bcp_diff:+.2f}" and bcp[3] == "1 x 10 (cases only)"
    assert "HG-DTGL, published gaze loss minus HG-DTGL without GazeMix" not in rows  # no runs, no line
    # the section ends with the headline verdicts (strongest baseline = supervised, then BCP) and the plot's link
    tail = camus.rstrip().splitlines()
    assert tail[-1] == (
        "Every comparison of this schedule: [forest plot `results/figures/camus_forest.png`]"
        "(results/figures/camus_forest.png)."
    )
    assert tail[-4].startswith(
        "- HG-DTGL, published gaze loss minus supervised (labeled only) (the strongest baseline without gaze; 2 seeds"
    )
    assert tail[-4].endswith("helps by 5.00 points [+5.00, +5.00].")
    assert (
        tail[-3].startswith("- HG-DTGL, published gaze loss minus BCP (GazeMix's copy-paste")
        and "seed variation is not captured" in tail[-3]
    )
    assert (res / "figures" / "camus_forest.png").stat().st_size > 10_000
    assert not (res / "figures" / "scr_forest.png").exists()  # no scr rows: no plot
    # seeds trained later are picked up from the same layout
    for row in ("supervised", "hgdtgl"):
        _val_metrics(cam / "cpu" / f"{row}_l160_s2", dice[1][row])
    assert (
        "| 160 | HG-DTGL, published gaze loss minus supervised (labeled only) | +5.00 | [+5.00, +5.00] "
        "| 100 % of cases | 3 x 10 |" in tables.stats_section(cam)
    )


def test_hgdtgl_is_also_compared_with_the_plain_use_of_the_same_gaze(tmp_path):
    """gazepseudo (masks + gaze pseudo-masks) runs are paired with HG-DTGL like a baseline and named in the
    verdict as the plain use of the same gaze; it is not a baseline without gaze (never the 'strongest')."""
    cam = tmp_path / "camus"
    cases = [f"patient{i:04d}_2CH_ED" for i in range(6)]
    sup = {c: [0.7, 0.7, 0.7] for c in cases}
    runs = {"supervised": sup, "hgdtgl": {c: [0.72] * 3 for c in cases}, "gazepseudo": {c: [0.75] * 3 for c in cases}}
    for row, scores in runs.items():
        _val_metrics(cam / "cpu" / f"{row}_l160_s0", scores)
    comps = tables.comparisons(cam, "cpu")
    plain = [c for c in comps if c["baseline"] == "gazepseudo"]
    assert len(plain) == 1 and round(plain[0]["stats"].mean_points, 6) == -3.0
    heads = tables.headline(comps)
    assert [(c["baseline"], strongest) for c, strongest in heads] == [("supervised", True), ("gazepseudo", False)]
    assert "the plain use of the same gaze" in tables.headline_sentence(*heads[1])


def test_gaze_only_training_is_paired_with_the_untrained_heatmap_it_learns_from(tmp_path):
    """gazesup (0 masks) minus the table's gaze-only row, per image: the heatmap's per-image scores of the store that
    sigma_choice.csv ranks best, at threshold 0.5 (other stores / thresholds ignored), the same for every seed."""
    kv = tmp_path / "kvasir"
    cases = [f"img{i}" for i in range(8)]
    _write(kv / "sigma_choice.csv", [
        {"store": "s_a", "n": 8, "threshold": 0.5, "dice": 0.6, "iou": 0.5, "no_gaze": 0},
        {"store": "s_b", "n": 8, "threshold": 0.5, "dice": 0.7, "iou": 0.6, "no_gaze": 0},
    ])  # fmt: skip
    heat = [{"store": st, "threshold": t, "case": c, "dice": d, "iou": 0, "no_gaze": 0}
            for st, t, d in (("s_a", 0.5, 0.1), ("s_b", 0.3, 0.2), ("s_b", 0.5, 0.7)) for c in cases]  # fmt: skip
    _write(kv / tables.GAZE_ONLY_CASES, heat)
    for seed, d in ((0, 0.75), (1, 0.73)):
        _val_metrics(kv / "cpu" / f"gazesup_l0_s{seed}", {c: [d] * 3 for c in cases})
    assert tables.gaze_only_cases(kv) == {c: 70.0 for c in cases}
    (comp,) = tables.comparisons(kv, "cpu")
    s = comp["stats"]
    assert (comp["labeled"], comp["baseline"], s.n_seeds, s.n_cases) == ("0", "gaze_only", 2, 8)
    assert round(s.mean_points, 6) == 4.0 and round(s.lo_points, 6) == 3.0 and round(s.hi_points, 6) == 5.0
    assert tables.comparison_name(comp) == f"{tables.ROW_LABEL['gazesup']} minus {tables.GAZE_ONLY}"
    (head,) = tables.headline([comp])
    assert "the untrained heatmap its pseudo-masks are cut from" in tables.headline_sentence(*head)
    (kv / tables.GAZE_ONLY_CASES).unlink()  # no per-image heatmap scores: no comparison
    assert tables.comparisons(kv, "cpu") == []


def test_every_gaze_loss_recipe_is_made_of_train_options():
    """The protocol's named gaze-loss recipes pass only options (and choices) that `hgdtgl train` accepts."""
    from hgdtgl.cli import train

    recipes = protocol().recipes
    options = {o: p for p in train.params for o in (*p.opts, *p.secondary_opts)}
    assert recipes["published"] == ()
    for recipe in recipes.values():
        for arg, nxt in itertools.pairwise([*recipe, None]):
            if arg.startswith("--"):
                assert arg in options, arg
                choices = getattr(options[arg].type, "choices", None)
                assert choices is None or nxt in choices, (arg, nxt)
