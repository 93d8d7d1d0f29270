"""Training on crops of the shared ACDC slices: every method learns, resume is exact, errors are clear."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hgdtgl.checkpoints import load_checkpoint
from hgdtgl.cli import main
from hgdtgl.config import TrainConfig
from hgdtgl.engine import Trainer, train, train_step
from tests.hgdtgl_testdata import acdc_store, make_acdc

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def acdc(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("acdc")
    data = make_acdc(root / "data")
    store = acdc_store(data, root / "store", skip_every=5)
    return data, store


def tiny(data: Path, store: Path | None, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        gaze_dir=str(store) if store else None,
        out=str(out),
        labeled=2,
        iterations=40,
        batch_size=4,
        labeled_bs=2,
        size=32,
        base_channels=4,
        val_every=10,
        device="cpu",
        lr=0.03,
        pretrain_iterations=10,
        rampup_iterations=20,
    )
    base.update(kw)
    return TrainConfig(**base)


@pytest.mark.parametrize("method", ["supervised", "mt", "bcp", "hgdtgl"])
def test_method_losses_finite_and_decreasing(acdc, tmp_path, method):
    data, store = acdc
    copy_paste = method in ("bcp", "hgdtgl")  # 10 pre-training iterations come before the 30 of self-training
    cfg = tiny(data, store if method == "hgdtgl" else None, tmp_path / method, method=method)
    out = train(dataclasses.replace(cfg, iterations=30 if copy_paste else 40))
    m = pd.read_csv(out / "metrics.csv")
    assert list(m["iteration"]) == [10, 20, 30, 40]
    assert list(m["stage"]) == ["pretrain" if copy_paste else "train"] + ["train"] * 3
    loss_cols = [c for c in m.columns if c.startswith("loss_")]
    values = m[loss_cols].to_numpy()
    assert np.isfinite(values[~np.isnan(values)]).all() and not np.isnan(m["loss_total"]).any()
    main_term = {"supervised": "loss_sup", "mt": "loss_sup", "bcp": "loss_mix", "hgdtgl": "loss_mix"}[method]
    # the supervised / mixed segmentation loss falls from the first to the last validation window
    # (bcp/hgdtgl: the pre-training window (labeled-only mixing) is the first one, also the easiest)
    first = 1 if method in ("bcp", "hgdtgl") else 0
    assert m[main_term].iloc[-1] < m[main_term].iloc[first]
    expected_terms = {
        "supervised": {"sup"},
        "mt": {"sup", "cons"},
        "bcp": {"mix"},
        "hgdtgl": {"sup", "mix", "cons", "gaze"},
    }
    assert {c[5:] for c in loss_cols} - {"total"} == expected_terms[method]
    if method == "hgdtgl":
        assert m["loss_gaze"].iloc[-1] < m["loss_gaze"].iloc[1]
        assert np.isnan(m["loss_sup"].iloc[0]) and m["loss_sup"].iloc[1:].notna().all()  # no sup term in pre-training
    ckpt = load_checkpoint(out / "checkpoint_latest.pt")
    assert ckpt["iteration"] == 40 and ckpt["model"]["num_classes"] == 4 and ckpt["data"]["n_labeled"] == 8
    assert ckpt["model"]["mgp"] == (method == "hgdtgl")
    best = load_checkpoint(out / "checkpoint_best.pt")
    assert best["best"]["dice"] == pytest.approx(m.loc[m["stage"] == "train", "val_dice_mean"].max())
    assert best["iteration"] > 10 or not copy_paste  # checkpoint_best.pt holds self-training weights
    assert (out / "config.yaml").is_file() and (out / "curves.png").is_file()
    assert any((out / "tensorboard").iterdir())


def test_killed_and_resumed_run_ends_with_the_same_weights(acdc, tmp_path):
    data, store = acdc
    cfg = tiny(data, store, tmp_path / "full", method="hgdtgl", iterations=18, val_every=8, pretrain_iterations=6)
    train(cfg)
    part = dataclasses.replace(cfg, out=str(tmp_path / "part"))
    train(part, stop_after=6)  # "killed" at the end of pre-training, before self-training starts
    train(dataclasses.replace(part, resume=True), stop_after=16)  # and again right after iteration 16
    assert load_checkpoint(tmp_path / "part" / "checkpoint_latest.pt")["iteration"] == 16
    train(dataclasses.replace(part, resume=True))
    a = load_checkpoint(tmp_path / "full" / "checkpoint_latest.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoint_latest.pt")
    for which in ("student", "teacher"):
        for k in a[which]:
            assert torch.equal(a[which][k], b[which][k]), (which, k)
    ma, mb = pd.read_csv(tmp_path / "full" / "metrics.csv"), pd.read_csv(tmp_path / "part" / "metrics.csv")
    assert list(mb["iteration"]) == [6, 8, 16, 24]
    assert np.allclose(ma["loss_total"], mb["loss_total"])


def test_cli_train_config_file_and_errors(acdc, tmp_path):
    data, store = acdc
    cfg = tmp_path / "run.yaml"
    cfg.write_text(
        f"data: {data}\nmethod: mt\nlabeled: 2\niterations: 4\nbatch-size: 4\nlabeled_bs: 2\nsize: 32\n"
        f"base_channels: 4\nval_every: 4\ndevice: cpu\n"
    )
    out = tmp_path / "run"
    args = ["train", "--config", str(cfg), "--iterations", "2", "--val-every", "2", "--gaze-scales", "1,8"]
    r = CliRunner().invoke(main, [*args, "--out", str(out)])
    assert r.exit_code == 0, r.output
    saved = (out / "config.yaml").read_text()
    assert "iterations: 2\n" in saved and "method: mt\n" in saved and "gazemix: false\n" in saved
    assert "gaze_scales:\n- 1\n- 8\n" in saved
    for scales, expected in (("1,3", "a non-empty subset of 1, 2, 4, 8"), ("1;2", "comma-separated integers")):
        r = CliRunner().invoke(main, [*args[:-1], scales, "--out", str(tmp_path / "s")])
        assert r.exit_code == 2 and expected in r.output and "Traceback" not in r.output, r.output
    # the same run directory again without --resume
    r = CliRunner().invoke(main, ["train", "--config", str(cfg), "--out", str(out)])
    assert r.exit_code == 2 and "--resume" in r.output and "Traceback" not in r.output
    # a gaze method without gaze
    r = CliRunner().invoke(main, ["train", "--config", str(cfg), "--method", "hgdtgl", "--out", str(tmp_path / "g")])
    assert r.exit_code == 2 and "gaze" in r.output
    # a folder in no known format
    (tmp_path / "empty").mkdir()
    r = CliRunner().invoke(
        main, ["train", "--data", str(tmp_path / "empty"), "--method", "mt", "--out", str(tmp_path / "e")]
    )
    assert r.exit_code == 2 and "ssl4mis" in r.output and "images/" in r.output
    # resuming with another model width
    r = CliRunner().invoke(
        main,
        ["train", "--config", str(cfg), "--iterations", "2", "--out", str(out), "--resume", "--base-channels", "8"],
    )
    assert r.exit_code == 2 and "base_channels" in r.output


def test_subprocess_train_as_a_user_types_it(acdc, tmp_path):
    data, store = acdc
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "hgdtgl",
        "train",
        "--data",
        str(data),
        "--gaze-dir",
        str(store),
        "--method",
        "hgdtgl",
        "--labeled",
        "2",
        "--iterations",
        "4",
        "--pretrain-iterations",
        "2",
        "--batch-size",
        "4",
        "--labeled-bs",
        "2",
        "--size",
        "32",
        "--base-channels",
        "4",
        "--val-every",
        "4",
        "--device",
        "cpu",
        "--seed",
        "3",
        "--out",
        str(out),
    ]
    r = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)}
    )
    assert r.returncode == 0, r.stderr
    assert "gaze on 6/8 labeled and 6/8 unlabeled images" in r.stderr  # every 5th slice has no gaze (0, 5, 10, 15)
    assert (out / "checkpoint_best.pt").is_file()


def test_fp16_gradscaler_and_channels_last_path_on_cpu(acdc, tmp_path):
    data, store = acdc
    ref = train(tiny(data, store, tmp_path / "fp32", method="hgdtgl", iterations=2, val_every=3, pretrain_iterations=1))
    amp = train(
        tiny(
            data,
            store,
            tmp_path / "fp16",
            method="hgdtgl",
            iterations=2,
            val_every=3,
            pretrain_iterations=1,
            amp="fp16",
            channels_last=True,
        )
    )
    scaler = load_checkpoint(amp / "checkpoint_latest.pt")["scaler"]
    assert scaler["scale"] == 65536.0  # GradScaler was live (a disabled one saves an empty state)
    assert load_checkpoint(ref / "checkpoint_latest.pt")["scaler"] == {}
    a, b = pd.read_csv(ref / "metrics.csv"), pd.read_csv(amp / "metrics.csv")
    assert b["loss_total"].iloc[-1] == pytest.approx(a["loss_total"].iloc[-1], rel=0.05)


def test_the_hooks_split_checkpoints_from_the_run_log_and_the_step_takes_the_parts(acdc, tmp_path, capsys):
    """checkpoint() writes the checkpoint files only; RunLog.on_validation writes metrics.csv, curves.png and the
    progress line; train_step(parts, ...) steps the Trainer's own student and teacher."""
    data, store = acdc
    run = tmp_path / "run"
    t = Trainer(tiny(data, store, run, method="hgdtgl", iterations=4, pretrain_iterations=2, val_every=2))
    t.start()
    before = {k: v.clone() for k, v in t.parts.student.state_dict().items()}
    for it in range(2):
        t.begin_stage(it)
        t.step(it)
    assert any(not torch.equal(before[k], v) for k, v in t.parts.student.state_dict().items())
    row = t.validate(2)
    t.checkpoint(2, row)
    names = {p.name for p in run.iterdir()}
    assert {"checkpoint_latest.pt", "checkpoint_pretrain_best.pt"} <= names
    assert not names & {"metrics.csv", "curves.png", "checkpoint_best.pt"}  # best: self-training weights only
    assert load_checkpoint(run / "checkpoint_latest.pt")["iteration"] == 2
    capsys.readouterr()
    t.runlog.on_validation(row, t.rows, t.stage_best("pretrain"))
    m = pd.read_csv(run / "metrics.csv")
    assert list(m["iteration"]) == [2] and m["loss_total"].iloc[0] == pytest.approx(row["loss_total"])
    assert (run / "curves.png").is_file()
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("iteration 2 (pretrain): loss ") and "at 2)" in line
    # the step works on the parts it is given: in self-training it also moves their EMA teacher
    t.begin_stage(2)  # self-training starts: the teacher becomes the student
    teacher = {k: v.clone() for k, v in t.parts.teacher.state_dict().items()}
    batch, g = t.make_batch(2)
    loss, terms = train_step(t.parts, 2, batch, g)
    assert float(loss.detach()) == pytest.approx(sum(float(v.detach()) for v in terms.values()))
    assert any(not torch.equal(teacher[k], v) for k, v in t.parts.teacher.state_dict().items())
    t.end()


def test_labeled_patients_follow_the_ssl4mis_convention():
    from hgdtgl.data.formats import select_labeled
    from tests.conftest import shared_path

    names = (shared_path("ACDC") / "train_slices.list").read_text().split()
    groups = [n.split("_")[0] for n in names]
    assert select_labeled(groups, 3, None, 0).sum() == 68  # SSL4MIS patients_to_slices: 3 -> 68, 7 -> 136
    assert select_labeled(groups, 7, None, 0).sum() == 136
    assert select_labeled(groups, 7, None, 0)[:136].all()  # the first lines of the list
    ratio = select_labeled(groups, None, 0.1, 5)
    assert len({g for g, lab in zip(groups, ratio, strict=True) if lab}) == 7  # 10 % of 70 patients, seeded
    assert (ratio == select_labeled(groups, None, 0.1, 5)).all()
