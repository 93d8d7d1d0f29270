"""The published-recipe switches: BCP's two stages, learning-rate schedules and optimisers, largest-component
pseudo-labels, GroupNorm, logits up-sampled before the argmax, exported fp16 students, and the trainer's
one-line errors for bad options and bad checkpoints."""

from __future__ import annotations

import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.cli import main
from hgdtgl.config import TrainConfig
from hgdtgl.engine import make_optimizer, train
from hgdtgl.evaluate import predict_case
from hgdtgl.mixing import largest_component_per_class
from hgdtgl.models import build_model
from tests.hgdtgl_testdata import make_acdc

REPO = Path(__file__).resolve().parents[1]


def cfg(**kw) -> TrainConfig:
    base = dict(data="d", out="o", method="supervised", iterations=100, lr=0.01)
    base.update(kw)
    return TrainConfig(**base).resolved()


def test_lr_schedules_restart_with_each_stage():
    poly = cfg(lr_schedule="poly")
    assert poly.lr_at(0) == pytest.approx(0.01)
    assert poly.lr_at(50) == pytest.approx(0.01 * 0.5**0.9)
    cos = cfg(lr_schedule="cosine")
    assert cos.lr_at(50) == pytest.approx(0.005)
    assert cos.lr_at(99) == pytest.approx(0.005 * (1 + math.cos(0.99 * math.pi)))
    # bcp: 30 pre-training iterations (a third) before the 100 of self-training, each stage its own schedule
    bcp = cfg(method="bcp", lr_schedule="cosine")
    assert bcp.pretrain == 33 and bcp.total_iterations == 133
    assert bcp.lr_at(33) == pytest.approx(0.01)  # self-training restarts the schedule
    assert bcp.lr_at(33 + 50) == pytest.approx(0.005)
    assert bcp.lr_at(16) == pytest.approx(0.005 * (1 + math.cos(math.pi * 16 / 33)))
    # published defaults: constant for the copy-paste methods (BCP), poly for supervised / mean teacher (SSL4MIS)
    assert cfg(method="bcp").schedule == "constant" and cfg(method="hgdtgl").schedule == "constant"
    assert cfg(method="mt").schedule == "poly" and cfg().schedule == "poly"
    assert cfg(method="bcp").pseudo_lcc is True and cfg(method="mt").pseudo_lcc is False


def test_optimizers():
    params = [torch.nn.Parameter(torch.zeros(3))]
    sgd = make_optimizer(cfg(momentum=0.99, nesterov=True, weight_decay=4e-4), params)
    assert isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["nesterov"] and sgd.defaults["momentum"] == 0.99 and sgd.defaults["weight_decay"] == 4e-4
    adam = make_optimizer(cfg(optimizer="adamw", lr=3e-3), params)
    assert isinstance(adam, torch.optim.AdamW) and adam.defaults["betas"] == (0.9, 0.999)


def test_largest_component_per_class():
    lab = np.zeros((1, 8, 8), np.int64)
    lab[0, 0:3, 0:3] = 1  # class 1: 9 px
    lab[0, 6:8, 6:8] = 1  # class 1: 4 px, removed
    lab[0, 5, 0] = 2  # class 2: 1 px, removed
    lab[0, 0:2, 5:8] = 2  # class 2: 6 px
    lab[0, 2, 4] = 2  # diagonal neighbour of (1, 5): 8-connected, kept
    out = largest_component_per_class(torch.from_numpy(lab), 3).numpy()
    expected = lab.copy()
    expected[0, 6:8, 6:8] = 0
    expected[0, 5, 0] = 0
    assert (out == expected).all()


def test_group_norm_network_and_checks():
    spec = {"in_channels": 1, "num_classes": 4, "base_channels": 8, "dropout": False}
    model = build_model({**spec, "norm": "group"}).train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.GroupNorm | torch.nn.BatchNorm2d)]
    assert norms and all(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 8 for m in norms)
    # in training mode GroupNorm is per image: an image's output does not depend on the rest of the batch;
    # BatchNorm's does (the check can fail)
    x = torch.rand(3, 1, 32, 32)
    assert torch.allclose(model(x)[0][:1], model(x[:1])[0], atol=1e-5)
    batch = build_model(spec).train()
    assert not torch.allclose(batch(x)[0][:1], batch(x[:1])[0], atol=1e-5)
    from gazekit.errors import GazekitError

    for bad, where in (
        (dict(norm="group", base_channels=4), "base_channels"),
        (dict(size=0), "size"),
        (dict(base_channels=0), "base_channels"),
        (dict(lr=0), "lr"),
        (dict(optimizer="rmsprop"), "optimizer"),
    ):
        with pytest.raises(GazekitError, match=where):
            cfg(**bad)


class FixedLogits(torch.nn.Module):
    """A 'model' returning given logits [K,S,S] for any input (to test the evaluation's resampling alone)."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = logits

    def forward(self, x):
        return self.logits[None].expand(x.shape[0], -1, -1, -1), None


def test_prediction_upsamples_logits_then_argmax():
    s, h, w = 16, 37, 53
    yy, xx = np.mgrid[0:s, 0:s] + 0.5
    disc = 4.5 - np.hypot(yy - 8.2, xx - 7.3)  # a signed distance: the logit of a disc, background logit 0
    logits = torch.from_numpy(np.stack([np.zeros_like(disc), disc]).astype(np.float32))
    pred = predict_case(FixedLogits(logits), np.zeros((1, 1, h, w), np.float32), s, torch.device("cpu"))
    # independent: OpenCV's bilinear resize of each logit map (pixel-centre aligned), then the argmax
    up = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in logits.numpy()])
    assert (pred[0] == up.argmax(axis=0)).all()
    # and it is not the old argmax-then-nearest-neighbour (which is blockier)
    old = cv2.resize(logits.numpy().argmax(axis=0).astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST)
    assert (pred[0] != old).any()


@pytest.fixture(scope="module")
def bcp_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("bcp")
    data = make_acdc(root / "data")
    c = TrainConfig(
        data=str(data),
        out=str(root / "run"),
        method="bcp",
        labeled=2,
        iterations=4,
        pretrain_iterations=6,
        batch_size=4,
        labeled_bs=2,
        size=32,
        base_channels=4,
        val_every=2,
        device="cpu",
        lr=0.03,
    )
    return data, train(c)


def test_bcp_pretraining_comes_first_and_best_pretraining_weights_are_kept(bcp_run):
    _, run = bcp_run
    m = pd.read_csv(run / "metrics.csv")
    assert list(m["iteration"]) == [2, 4, 6, 8, 10]
    assert list(m["stage"]) == ["pretrain"] * 3 + ["train"] * 2
    assert set(m.loc[m["stage"] == "pretrain", "loss_mix"].notna()) == {True}
    pre = load_checkpoint(run / "checkpoint_pretrain_best.pt")
    pre_rows = m[m["stage"] == "pretrain"]
    assert pre["iteration"] == int(pre_rows["iteration"][pre_rows["val_dice_mean"].idxmax()])
    assert "optimizer" not in pre and "teacher" not in pre
    best = load_checkpoint(run / "checkpoint_best.pt")
    assert best["iteration"] in (8, 10)  # checkpoint_best.pt holds self-training weights
    assert best["config"]["lr_schedule"] == "constant" and best["config"]["pseudo_lcc"] is True


def test_export_fp16_student_scores_like_the_checkpoint(bcp_run, tmp_path):
    data, run = bcp_run
    small = tmp_path / "model.pt"
    r = CliRunner().invoke(main, ["export", str(run / "checkpoint_best.pt"), "-o", str(small)])
    assert r.exit_code == 0, r.output
    exported = load_checkpoint(small)
    assert exported["teacher"] is None and "optimizer" not in exported
    assert all(v.dtype == torch.float16 for v in exported["student"].values() if v.is_floating_point())
    assert small.stat().st_size < (run / "checkpoint_best.pt").stat().st_size / 2
    full = model_from_checkpoint(load_checkpoint(run / "checkpoint_best.pt"))
    half = model_from_checkpoint(exported)
    for k, v in full.state_dict().items():
        if v.is_floating_point():
            assert torch.allclose(v, half.state_dict()[k], rtol=2e-3, atol=1e-4), k
    outs = {}
    for name, ckpt in (("full", run / "checkpoint_best.pt"), ("small", small)):
        outs[name] = tmp_path / f"{name}.csv"
        args = ["evaluate", str(ckpt), "--data", str(data), "--split", "val", "-o", str(outs[name]), "--device", "cpu"]
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 0, r.output
    a, b = pd.read_csv(outs["full"]), pd.read_csv(outs["small"])
    assert np.allclose(a["dice"], b["dice"], atol=0.02)
    r = CliRunner().invoke(main, ["predict", str(small), str(data), "--split", "val", "-o", str(tmp_path / "p")])
    assert r.exit_code == 0 and len(list((tmp_path / "p").glob("*.nii.gz"))) == 2, r.output
    r = CliRunner().invoke(main, ["evaluate", str(small), "--data", str(data), "--teacher", "-o", str(tmp_path / "t")])
    assert r.exit_code == 2 and "student only" in r.output and "Traceback" not in r.output


def test_bad_checkpoints_and_options_are_one_line_errors(bcp_run, tmp_path):
    data, run = bcp_run
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    ckpt = load_checkpoint(run / "checkpoint_best.pt")
    wrong = tmp_path / "wrong.pt"
    torch.save({**ckpt, "model": {**ckpt["model"], "base_channels": 8}}, wrong)
    for path, expected in ((empty, "empty (0 bytes)"), (wrong, "weights matching the model")):
        r = CliRunner().invoke(main, ["evaluate", str(path), "--data", str(data), "-o", str(tmp_path / "m.csv")])
        assert r.exit_code == 2 and expected in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
    base = ["train", "--data", str(data), "--method", "supervised", "--device", "cpu"]
    for extra, expected in (
        (["--size", "0"], "size"),
        (["--base-channels", "0"], "base_channels"),
        (["--val-split", str(tmp_path / "missing.list")], "missing.list"),
    ):
        r = CliRunner().invoke(main, [*base, *extra, "--out", str(tmp_path / "r")])
        assert r.exit_code == 2 and expected in r.output and "Traceback" not in r.output, r.output


def test_train_without_data_fails_before_importing_torch():
    code = (
        "import sys; from click.testing import CliRunner; from hgdtgl.cli import main; "
        "r = CliRunner().invoke(main, ['train', '--out', 'x']); print(r.exit_code, 'torch' in sys.modules); "
        "print(r.output)"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    first, message = r.stdout.split("\n", 1)
    assert first == "2 False", r.stdout + r.stderr
    assert message.strip() == "error: missing option --data: hgdtgl train needs --data DIR and --out RUN_DIR"


def test_gazemedseg_reference_network_is_one_command(tmp_path):
    data = make_acdc(tmp_path / "data")
    args = ["train", "--data", str(data), "--method", "supervised", "--base-channels", "8", "--norm", "group"]
    args += ["--no-dropout", "--optimizer", "sgd", "--lr", "0.01", "--momentum", "0.99", "--nesterov"]
    args += ["--weight-decay", "4e-4", "--lr-schedule", "cosine", "--size", "32", "--batch-size", "4"]
    args += ["--iterations", "2", "--val-every", "2", "--device", "cpu", "--out", str(tmp_path / "run")]
    r = CliRunner().invoke(main, args)
    assert r.exit_code == 0, r.output
    saved = load_checkpoint(tmp_path / "run" / "checkpoint_latest.pt")
    c = saved["config"]
    assert (c["norm"], c["nesterov"], c["momentum"], c["weight_decay"], c["lr_schedule"]) == (
        "group",
        True,
        0.99,
        4e-4,
        "cosine",
    )
    assert saved["model"]["norm"] == "group" and saved["optimizer"]["param_groups"][0]["nesterov"] is True
    assert dataclasses.asdict(TrainConfig(data="d", out="o"))["norm"] == "batch"


def test_an_error_after_a_progress_bar_stands_on_its_own_line(tmp_path):
    """A bad image in the middle of decoding: the decode bar is closed before the one-line error is printed."""
    from tests.hgdtgl_testdata import make_images

    data = make_images(tmp_path / "d")
    bad = sorted((data / "images").iterdir())[3]
    bad.write_bytes(b"not an image")
    code = (
        "import sys; from hgdtgl.cli import main; "
        f"sys.argv = ['hgdtgl', 'train', '--data', {str(data)!r}, '--method', 'supervised', '--size', '32', "
        f"'--iterations', '1', '--device', 'cpu', '--out', {str(tmp_path / 'run')!r}]; main()"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr
    last = r.stderr.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("error: ") and bad.name in last and "Traceback" not in r.stderr


def test_hgdtgl_output_options_never_delete_a_users_files(bcp_run, tmp_path):
    data, run = bcp_run
    user = tmp_path / "user"
    user.mkdir()
    (user / "notes.txt").write_text("mine")
    ckpt = str(run / "checkpoint_best.pt")
    for args in (
        ["evaluate", ckpt, "--data", str(data), "-o", str(user)],
        ["export", ckpt, "-o", str(user)],
        ["pack", str(data), "--size", "32", "-o", str(user)],
    ):
        r = CliRunner().invoke(main, args)
        assert r.exit_code == 2 and "Traceback" not in r.output, (args, r.output)
    r = CliRunner().invoke(main, ["predict", ckpt, str(data), "--split", "val", "-o", str(user)])
    assert r.exit_code == 0, r.output
    assert (user / "notes.txt").read_text() == "mine" and len(list(user.glob("*.nii.gz"))) == 2
    train = ["train", "--data", str(data), "--method", "supervised", "--size", "32", "--base-channels", "4"]
    train += ["--batch-size", "4", "--iterations", "1", "--val-every", "1", "--device", "cpu", "--out", str(user)]
    r = CliRunner().invoke(main, train)
    assert r.exit_code == 0, r.output
    assert (user / "notes.txt").read_text() == "mine" and (user / "checkpoint_latest.pt").is_file()


def test_one_list_of_methods_their_classes_recipes_and_cli_choices():
    """hgdtgl.recipes.METHODS is the one list: the method classes, TrainConfig and ``--method`` follow it."""
    from hgdtgl.methods import METHOD_CLASSES
    from hgdtgl.recipes import METHODS, RECIPES

    assert tuple(METHOD_CLASSES) == METHODS == ("supervised", "mt", "bcp", "hgdtgl", "gazesup", "gazepseudo")
    assert all(cls.recipe is RECIPES[name] for name, cls in METHOD_CLASSES.items())
    train = next(p for p in main.commands["train"].params if p.name == "method")
    assert tuple(train.type.choices) == METHODS
    # the rules as the method classes held them before the table (DESIGN.md section 4)
    which = {flag: {m for m, r in RECIPES.items() if getattr(r, flag)} for flag in ("uses_teacher", "copy_paste")}
    assert which == {"uses_teacher": {"mt", "bcp", "hgdtgl"}, "copy_paste": {"bcp", "hgdtgl"}}
    assert {m: r.lr_schedule for m, r in RECIPES.items() if r.lr_schedule != "poly"} == {
        "bcp": "constant",
        "hgdtgl": "constant",
        "gazesup": "cosine",
    }
    three_levels = TrainConfig(data="d", out="o", gaze_levels=3)
    assert {m: r.heads(three_levels) for m, r in RECIPES.items()} == {m: 3 if m == "gazesup" else 0 for m in METHODS}
