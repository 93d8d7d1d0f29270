"""evaluate / predict / pack round trips and the images / nifti formats."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner

from hgdtgl.checkpoints import load_checkpoint, model_from_checkpoint
from hgdtgl.cli import main
from hgdtgl.config import TrainConfig
from hgdtgl.data.formats import load_cases
from hgdtgl.engine import train
from hgdtgl.evaluate import case_metrics, predict_case, summarise
from tests.hgdtgl_testdata import acdc_store, blob, make_acdc, make_images, make_label_maps, make_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def acdc_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("acdc_eval")
    data = make_acdc(root / "data")
    store = acdc_store(data, root / "store")
    cfg = TrainConfig(
        data=str(data),
        gaze_dir=str(store),
        out=str(root / "run"),
        method="hgdtgl",
        labeled=2,
        iterations=12,
        pretrain_iterations=4,
        batch_size=4,
        labeled_bs=2,
        size=32,
        base_channels=4,
        val_every=6,
        device="cpu",
    )
    return data, store, train(cfg)


def test_evaluate_cli_matches_metrics_of_predicted_volumes(acdc_run, tmp_path):
    data, _, run = acdc_run
    out = tmp_path / "metrics.csv"
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(run / "checkpoint_best.pt"),
            "--data",
            str(data),
            "--split",
            "val",
            "-o",
            str(out),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    table = pd.read_csv(out)
    assert list(table.columns) == ["case", "class", "dice", "jaccard", "hd95", "asd", "empty_pred"]
    assert set(table["class"]) == {"rv", "myo", "lv"} and len(table) == 2 * 3 + 6
    # recompute one case independently: predict the volume, zoom back, metrics
    ckpt = load_checkpoint(run / "checkpoint_best.pt")
    model = model_from_checkpoint(ckpt)
    case = load_cases(data, "val")[0]
    pred = predict_case(model, case.image, 32, torch.device("cpu"))
    assert pred.shape == case.label.shape
    rows = summarise(case_metrics(case.name, pred, case.label, ["rv", "myo", "lv"]))
    mine = table[table["case"] == case.name].reset_index(drop=True)
    assert np.allclose(
        mine[["dice", "hd95", "asd"]].to_numpy(float), rows.iloc[:3][["dice", "hd95", "asd"]].to_numpy(float)
    )
    # the validation Dice written at the best iteration is the Dice of checkpoint_best on val
    m = pd.read_csv(run / "metrics.csv")
    best = m.loc[m["iteration"] == ckpt["iteration"], "val_dice_mean"].item()
    assert table[table["case"] == "mean"]["dice"].mean() == pytest.approx(best, abs=1e-9)
    # class mismatch: a 2-class data set
    lab_bad = tmp_path / "bad"
    (lab_bad / "data").mkdir(parents=True)
    import h5py

    with h5py.File(lab_bad / "data" / "x.h5", "w") as f:
        f["image"] = np.zeros((2, 8, 8), np.float32)
        f["label"] = np.full((2, 8, 8), 7, np.uint8)
    (lab_bad / "data" / "slices").mkdir()
    (lab_bad / "val.list").write_text("x\n")
    r = CliRunner().invoke(
        main, ["evaluate", str(run / "checkpoint_best.pt"), "--data", str(lab_bad), "-o", str(tmp_path / "m.csv")]
    )
    assert r.exit_code == 2 and "classes" in r.output and not (tmp_path / "m.csv").exists()
    # a file that is not a checkpoint
    (tmp_path / "x.pt").write_bytes(b"nope")
    r = CliRunner().invoke(
        main, ["evaluate", str(tmp_path / "x.pt"), "--data", str(data), "-o", str(tmp_path / "m.csv")]
    )
    assert r.exit_code == 2 and "checkpoint" in r.output


def test_predict_ssl4mis_volumes_and_nifti_round_trip(acdc_run, tmp_path):
    data, _, run = acdc_run
    ckpt = run / "checkpoint_best.pt"
    r = CliRunner().invoke(
        main, ["predict", str(ckpt), str(data), "--split", "val", "-o", str(tmp_path / "pred"), "--device", "cpu"]
    )
    assert r.exit_code == 0, r.output
    model = model_from_checkpoint(load_checkpoint(ckpt))
    for case in load_cases(data, "val"):
        vol = np.asarray(nib.load(tmp_path / "pred" / f"{case.name}.nii.gz").dataobj)
        assert np.array_equal(vol, predict_case(model, case.image, 32, torch.device("cpu")))
    # NIfTI in -> NIfTI out with the input's affine, slices along the last axis
    case = load_cases(data, "val")[0]
    affine = np.diag([1.5, 1.5, 10.0, 1.0])
    affine[:3, 3] = [-20, 5, 3]
    nii_in = tmp_path / "vol.nii.gz"
    nib.save(nib.Nifti1Image((case.image[:, 0] * 1000).transpose(1, 2, 0).astype(np.float32), affine), nii_in)
    r = CliRunner().invoke(
        main, ["predict", str(ckpt), str(nii_in), "-o", str(tmp_path / "seg.nii.gz"), "--device", "cpu"]
    )
    assert r.exit_code == 0, r.output
    seg = nib.load(tmp_path / "seg.nii.gz")
    assert np.allclose(seg.affine, affine)
    expected = predict_case(model, case.image, 32, torch.device("cpu")).transpose(1, 2, 0)
    assert np.array_equal(np.asarray(seg.dataobj), expected)  # min-max rescaling of the input changes nothing


def test_pack_round_trip_and_training_from_npz(acdc_run, tmp_path):
    data, store, run = acdc_run
    out = tmp_path / "data.npz"
    r = CliRunner().invoke(main, ["pack", str(data), "--gaze-dir", str(store), "--size", "32", "-o", str(out)])
    assert r.exit_code == 0, r.output
    assert "16 training images (16 with gaze), cases val: 2" in r.output
    from hgdtgl.data.formats import load_train
    from hgdtgl.data.gaze import join_gaze

    ref = join_gaze(load_train(data, 32), str(store))
    packed = load_train(out, 32)
    assert packed.keys == ref.keys and packed.groups == ref.groups and packed.num_classes == 4
    assert np.array_equal(packed.labels, ref.labels)
    assert np.abs(packed.images.astype(np.float32) / 255 - ref.images.astype(np.float32)).max() <= 0.5 / 255 + 1e-3
    h_ref = ref.heat.astype(np.float32) / (32 * 32)
    h_pack = packed.heat.astype(np.float32) / (32 * 32)
    assert np.abs(h_pack - h_ref).max() < 0.01 * h_ref.max()
    cases_ref, cases_pack = load_cases(data, "val"), load_cases(out, "val")
    assert [c.name for c in cases_pack] == [c.name for c in cases_ref]
    assert np.abs(cases_pack[0].image - cases_ref[0].image).max() <= 0.5 / 255 + 1e-6
    r = CliRunner().invoke(
        main,
        [
            "train",
            "--data",
            str(out),
            "--method",
            "hgdtgl",
            "--labeled",
            "2",
            "--iterations",
            "2",
            "--pretrain-iterations",
            "1",
            "--batch-size",
            "4",
            "--labeled-bs",
            "2",
            "--size",
            "32",
            "--base-channels",
            "4",
            "--val-every",
            "2",
            "--device",
            "cpu",
            "--out",
            str(tmp_path / "r"),
        ],
    )
    assert r.exit_code == 0, r.output
    assert load_checkpoint(tmp_path / "r" / "checkpoint_best.pt")["data"]["class_names"] == ["rv", "myo", "lv"]
    r = CliRunner().invoke(
        main, ["train", "--data", str(out), "--method", "mt", "--size", "64", "--out", str(tmp_path / "s")]
    )
    assert r.exit_code == 2 and "--size 32" in r.output


def test_images_format_train_evaluate_predict(tmp_path):
    data = make_images(tmp_path / "kv")
    maps = {}
    for i in range(10):
        m = cv2.imread(str(data / "masks" / f"img{i:02d}.jpg"), cv2.IMREAD_GRAYSCALE) > 127
        maps[(f"img{i:02d}", None)] = blob(m.astype(np.uint8), 4.0).astype(np.float32)
    store = make_store(tmp_path / "store", maps, scales=(1, 2))
    run = tmp_path / "run"
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
        "4",
        "--iterations",
        "6",
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
        "3",
        "--device",
        "cpu",
        "--out",
        str(run),
    ]
    r = subprocess.run(
        cmd, capture_output=True, text=True, cwd=REPO, env={**__import__("os").environ, "PYTHONPATH": str(REPO)}
    )
    assert r.returncode == 0, r.stderr
    assert (
        "10 training images (images), 4 labeled from 4 patients/cases, 6 unlabeled; gaze on 4/4 labeled and 6/6"
        in r.stderr
    )
    ckpt = load_checkpoint(run / "checkpoint_best.pt")
    assert ckpt["model"]["in_channels"] == 3 and ckpt["model"]["num_classes"] == 2
    r = CliRunner().invoke(
        main,
        [
            "evaluate",
            str(run / "checkpoint_best.pt"),
            "--data",
            str(data),
            "-o",
            str(tmp_path / "m.csv"),
            "--device",
            "cpu",
        ],
    )
    assert r.exit_code == 0, r.output
    t = pd.read_csv(tmp_path / "m.csv")
    assert list(t["case"]) == ["img10", "img11", "mean", "std"] and set(t["class"]) == {"class_1"}
    r = CliRunner().invoke(
        main,
        [
            "predict",
            str(run / "checkpoint_best.pt"),
            str(data / "images"),
            "-o",
            str(tmp_path / "png"),
            "--device",
            "cpu",
            "--perception",
        ],
    )
    assert r.exit_code == 0, r.output
    png = cv2.imread(str(tmp_path / "png" / "img11.png"), cv2.IMREAD_UNCHANGED)
    model = model_from_checkpoint(ckpt)
    case = load_cases(data, "val")[1]
    assert png.shape == (40, 46) and set(np.unique(png)) <= {0, 255}
    assert np.array_equal(png, predict_case(model, case.image, 32, torch.device("cpu"))[0] * 255)
    # the fused MGP perception map: the mean over scales of each head's spatial softmax, up-sampled
    seen = cv2.imread(str(tmp_path / "png" / "img11_perception.png"), cv2.IMREAD_UNCHANGED)
    x = torch.from_numpy(cv2.resize(case.image[0].transpose(1, 2, 0), (32, 32)).transpose(2, 0, 1))[None]
    model.eval()
    with torch.no_grad():
        heads = model(x)[1]
    maps = [
        torch.nn.functional.interpolate(h.flatten(1).softmax(1).view_as(h)[:, None], size=(32, 32), mode="bilinear")[
            0, 0
        ]
        / s**2
        for s, h in heads.items()
    ]
    fused = cv2.resize(torch.stack(maps).mean(0).numpy(), (46, 40), interpolation=cv2.INTER_LINEAR)
    assert seen.shape == (40, 46) and seen.max() == 255
    assert np.abs(seen.astype(float) - fused / fused.max() * 255).max() <= 1.0


def test_nifti_format_is_sliced_in_the_display_geometry(tmp_path):
    """An identity affine stores the volume RAS: shown LPS (gazekit.ids), columns run toward -x and rows toward
    -y, so display[k, r, c] = stored[X-1-c, Y-1-r, k] (the test of every orientation is in test_alignment.py)."""
    from hgdtgl.data.formats import load_train

    root = tmp_path / "nn"
    (root / "imagesTr").mkdir(parents=True)
    (root / "labelsTr").mkdir()
    rng = np.random.default_rng(0)
    for c in ("case_a", "case_b"):
        vol = rng.random((20, 24, 3)).astype(np.float32) * 100
        lab = (vol > 60).astype(np.uint8) + (vol > 90)
        nib.save(nib.Nifti1Image(vol, np.eye(4)), root / "imagesTr" / f"{c}_0000.nii.gz")
        nib.save(nib.Nifti1Image(lab, np.eye(4)), root / "labelsTr" / f"{c}.nii.gz")
    (root / "dataset.json").write_text('{"labels": {"background": 0, "a": 1, "b": 2}}')
    d = load_train(root, 16)
    assert d.format == "nifti" and d.num_classes == 3 and len(d.keys) == 6
    (tmp_path / "only_b.list").write_text("case_b\n")
    assert {k[0] for k in load_train(root, 16, train_list=str(tmp_path / "only_b.list")).keys} == {"case_b"}
    assert d.keys[:3] == [("case_a", 0), ("case_a", 1), ("case_a", 2)] and d.groups[:3] == ["case_a"] * 3
    (root / "val.list").write_text("case_b\n")
    cases = load_cases(root, "val")
    assert cases[0].image.shape == (3, 1, 24, 20) and cases[0].label.shape == (3, 24, 20)
    lab = np.asarray(nib.load(root / "labelsTr" / "case_b.nii.gz").dataobj)
    assert np.array_equal(cases[0].label[1], lab[::-1, ::-1, 1].T)


def test_class_names_from_classes_json_reach_metrics(tmp_path):
    """classes.json next to the training list names the classes of a grey label-map dataset; the names go into
    the checkpoint and from there into `hgdtgl evaluate`'s metrics.csv and printout (and through a pack)."""
    from hgdtgl.data.formats import load_train, packed
    from hgdtgl.data.pack import pack

    data = make_label_maps(tmp_path / "d")
    splits = tmp_path / "splits"
    splits.mkdir()
    (splits / "train.list").write_text("".join(f"c{i}\n" for i in range(6)))
    (splits / "val.list").write_text("c6\nc7\n")
    d = load_train(data, 32, train_list=str(splits / "train.list"))
    assert d.in_channels == 1 and d.num_classes == 4 and d.class_names == ["class_1", "class_2", "class_3"]
    (splits / "classes.json").write_text('{"labels": {"background": 0, "lv": 1, "myo": 2, "la": 3}}')
    d = load_train(data, 32, train_list=str(splits / "train.list"))
    assert d.class_names == ["lv", "myo", "la"] and d.num_classes == 4
    pack(
        data,
        tmp_path / "p.npz",
        size=32,
        train_list=str(splits / "train.list"),
        splits={"val": str(splits / "val.list")},
    )
    assert packed.load_train(tmp_path / "p.npz", 32).class_names == ["lv", "myo", "la"]
    run = tmp_path / "run"
    opts = ["--data", str(data), "--train-list", str(splits / "train.list"), "--val-split", str(splits / "val.list")]
    opts += ["--method", "supervised", "--labeled", "3", "--iterations", "2", "--batch-size", "2", "--size", "32"]
    r = CliRunner().invoke(main, ["train", *opts, "--base-channels", "4", "--device", "cpu", "--out", str(run)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "m.csv"
    ev = ["evaluate", str(run / "checkpoint_best.pt"), "--data", str(data), "--split", str(splits / "val.list")]
    r = CliRunner().invoke(main, [*ev, "-o", str(out), "--device", "cpu"])
    assert r.exit_code == 0, r.output
    t = pd.read_csv(out)
    assert list(t["class"][:3]) == ["lv", "myo", "la"] and list(t["case"][:3]) == ["c6"] * 3
    assert re.findall(r"(\w+): dice ", r.output) == ["lv", "myo", "la"]


def test_label_names_rule(tmp_path):
    from gazekit.errors import GazekitError
    from hgdtgl.data.formats import load_train
    from hgdtgl.data.formats.base import label_names, name_file

    p = tmp_path / "a.json"
    p.write_text('{"labels": {"0": "background", "2": "heart", "1": "lungs"}}')  # nnU-Net v1: index -> name
    assert label_names(p) == ["background", "lungs", "heart"]
    p.write_text('{"labels": {"background": 0, "heart": 2}}')
    with pytest.raises(GazekitError, match="indices 0 .. K-1"):
        label_names(p)
    p.write_text('{"labels": ["lv"]}')
    with pytest.raises(GazekitError, match='"labels" mapping'):
        label_names(p)
    data = make_label_maps(tmp_path / "d", n=2)
    (data / "dataset.json").write_text('{"labels": {"background": 0, "a": 1, "b": 2, "c": 3}}')
    assert name_file(data, None) == data / "dataset.json"
    (data / "classes.json").write_text('{"labels": {"background": 0, "a": 1, "b": 2}}')  # classes.json first
    assert name_file(data, None) == data / "classes.json"
    assert name_file(data, str(tmp_path / "x.list")) == data / "classes.json"  # nothing next to the list
    (tmp_path / "classes.json").touch()
    assert name_file(data, str(tmp_path / "x.list")) == tmp_path / "classes.json"
    with pytest.raises(GazekitError, match="at least 4 classes"):  # the label maps go to 3
        load_train(data, 16)
