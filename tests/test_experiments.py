"""The experiments package: specs (loading, one-line errors, chosen values equal to the best of the sweep that chose
them), the runner's commands (identical to the retired examples/run_rows.py's), a tiny real row's inputs.json, the
split lists, the sweeps' sub-trees and the converted inputs.json of the committed rows."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from experiments import backfill, runner, splits, sweeps
from experiments.cli import main
from experiments.spec import SPECS, SpecError, load, parse_schedule, protocol
from tests.hgdtgl_testdata import blob, make_images, make_store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def shared_data_as_the_commands_name_it(monkeypatch):
    """The committed commands name the shared data ../shared/data (the default), wherever this machine has it."""
    monkeypatch.setenv("GAZEKIT_SHARED_DATA", "../shared/data")


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path)))


def test_every_spec_loads_with_its_budgets_classes_and_references():
    kv, acdc, camus, scr = (load(d) for d in ("kvasir", "acdc", "camus", "scr"))
    assert (kv.labeled, kv.budgets, kv.classes, kv.n_train) == (81, {"10": 81, "5": 41}, (), 810)
    assert (acdc.labeled, acdc.budgets["5"], acdc.classes, acdc.splits) == (7, 3, ("rv", "myo", "lv"), None)
    assert (camus.labeled, camus.classes, scr.labeled, scr.classes) == (160, ("lv", "myo", "la"), 16, scr.classes)
    assert {k: r.dice for k, r in acdc.references.items()} == {"supervised": 79.41, "bcp": 88.84, "hgdtgl": 90.87}
    assert (
        kv.references["supervised_all"].cell() == "82.12 (all masks)" and kv.references["gaze_only"].cell() == "77.80"
    )
    assert all(r.source for d in (kv, acdc, camus, scr) for r in d.references.values())
    assert list(protocol().rows)[:3] == ["supervised", "supervised_matched", "mt"]  # the tables' order
    assert protocol().recipes["self-ramp-mean-unlabeled"][-2:] == ("--gaze-loss-images", "unlabeled")


def test_the_tables_labels_come_from_the_protocol():
    """Every recipe and schedule carries the label the tables print; the row of HG-DTGL at the chosen gaze-loss
    setting ([chosen_rows]) stands right after HG-DTGL, its label filled from the recipe's label and the weight."""
    from experiments.spec import row_labels

    proto = protocol()
    assert set(proto.recipe_labels) == set(proto.recipes) and all(proto.recipe_labels.values())
    assert proto.recipe_labels["published"] == "published gaze loss"
    labels = list(row_labels())
    assert len(labels) == len(proto.rows) + 1 and set(labels) == {*proto.rows, "hgdtgl_chosen"}
    assert labels[labels.index("hgdtgl") + 1] == "hgdtgl_chosen"
    chosen = proto.chosen_rows["hgdtgl_chosen"]
    assert chosen.of == "hgdtgl" and row_labels()["hgdtgl_chosen"] == chosen.before_sweep
    assert chosen.chosen_label("published gaze loss", "0.03") == (
        "HG-DTGL, published gaze loss, weight 0.03 (chosen on validation)"
    )
    cpu = proto.schedules["cpu"]
    assert cpu.label.format(iterations=cpu.iterations, bf16="") == "cpu (128 px, 3000 it.)"
    assert proto.schedules["gpu"].label_partial == "gpu, time-boxed (stopped early)"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ('of = "hgdtgl"', 'of = "hgdtgl_v2"', "[chosen_rows.hgdtgl_chosen]: 'of' 'hgdtgl_v2' is not a row of [rows]"),
        ('label = "{setting} (chosen', 'label = "{recipe} (chosen', "key 'label': '{recipe} (chosen on validation)': "
         "expected only the placeholders {setting}"),
        ('label = "published gaze loss"\n', "", "protocol.toml, [recipes.published]: key 'label': missing"),
        ('label = "gpu (full schedule)"', 'label = "gpu ({size} px)"', "protocol.toml, [schedules.gpu]: key 'label'"),
    ],
)  # fmt: skip
def test_a_bad_table_label_in_the_protocol_is_refused_in_one_line(tmp_path, old, new, message):
    text = (SPECS / "protocol.toml").read_text()
    assert text.count(old) == 1
    (tmp_path / "protocol.toml").write_text(text.replace(old, new))
    with pytest.raises(SpecError) as e:
        protocol(tmp_path / "protocol.toml")
    assert message in str(e.value) and "\n" not in str(e.value)


def _best(path: Path, key: str) -> str:
    return max(_rows(path), key=lambda r: float(r["dice"]))[key]


def test_every_chosen_value_is_the_best_of_the_sweep_that_chose_it():
    """The spec's chosen values, recomputed from the committed sweep tables (argmax of validation Dice)."""
    lr = _rows(ROOT / "results" / "lr_sweep.csv")
    for ds in ("kvasir", "acdc"):
        best = max((r for r in lr if r["dataset"] == ds), key=lambda r: float(r["dice"]))["lr"]
        assert load(ds).chosen["lr"].value == float(best)
    assert load("camus").chosen["lr"].value == load("kvasir").chosen["lr"].value  # not swept: Kvasir's choice
    kv = load("kvasir")
    assert kv.chosen["gaze_scales"].value == _best(ROOT / "results/kvasir/scale_choice.csv", "gaze_scales")
    store = _best(ROOT / "results/kvasir/sigma_choice.csv", "store")
    assert store.endswith(f"store_sigma{kv.chosen['sigma'].value}")
    for ds in ("kvasir", "acdc"):  # the recipe and weight of the best seed-0 run of the gaze-loss sweep
        best = max(_rows(ROOT / f"results/{ds}/gaze_weight.csv"), key=lambda r: float(r["dice"]))
        chosen = load(ds).chosen["gaze_loss_weight"]
        best_setting = (best.get("recipe", "published"), float(best["gaze_loss_weight"]))
        assert (chosen.recipe, chosen.value) == best_setting, f"update [chosen.gaze_loss_weight] of {ds}.toml"
    for ds in ("kvasir", "acdc", "camus", "scr"):
        for c in load(ds).chosen.values():
            assert c.sweep == "none" or (ROOT / c.sweep).is_file(), (ds, c)


def _spec_dir(tmp_path: Path, name: str, text: str) -> Path:
    d = tmp_path / "specs"
    d.mkdir(exist_ok=True)
    shutil.copy(SPECS / "protocol.toml", d / "protocol.toml")
    base = (SPECS / "scr.toml").read_text()
    (d / f"{name}.toml").write_text(text(base) if callable(text) else text)
    return d


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.replace("10 = 16", '10 = "16"'), "bad.toml, [budgets]: key '10': expected an integer, got '16'"),
        (
            lambda s: s.replace('"bcp", "hgdtgl"', '"bcp", "hgdtgl_v2"'),
            "bad.toml, [campaign 1]: unknown row 'hgdtgl_v2'",
        ),
        (
            lambda s: s.replace('[[campaign]]\nschedule = "cpu"', '[[campaign]]\nschedule = "tpu"'),
            "bad.toml, [campaign 1]: schedule 'tpu': unknown",
        ),
        (lambda s: s.replace('format = "images"', 'format = "dicom"'), "key 'format': expected one of images, ssl4mis"),
        (lambda s: s.replace("n_train = 160\n", ""), "bad.toml, [dataset]: key 'n_train': missing"),
        (lambda s: s.replace("[chosen.lr]", "[chosen.lr]\nswept = 1"), "[chosen.lr]: key 'swept': unknown key"),
        (lambda s: s + "\n[[campaign]\n", "bad.toml: not valid TOML"),
    ],
)
def test_a_bad_spec_is_refused_in_one_line(tmp_path, edit, message):
    specs = _spec_dir(tmp_path, "bad", edit)
    with pytest.raises(SpecError) as e:
        load("bad", specs)
    assert message in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(SpecError, match="no spec nope.toml; expected one of bad"):
        load("nope", specs)


def test_schedule_names():
    assert parse_schedule("cpu") == ("cpu", None, "none") and parse_schedule("gpu") == ("gpu", None, "none")
    assert parse_schedule("cpu-12000-bf16") == ("cpu", 12000, "bf16") and parse_schedule("cpu-bf16")[2] == "bf16"
    for bad in ("cpu-x", "gpu-bf16", "cpu-bf16-12000", "fast"):
        with pytest.raises(
            SpecError, match=r"unknown; expected cpu, cpu-<iterations>, cpu\[-<iterations>\]-bf16 or gpu$"
        ):
            parse_schedule(bad)
    assert runner.schedule_name("cpu", 3000) == "cpu" and runner.schedule_name("cpu", 12000, "bf16") == "cpu-12000-bf16"
    assert runner.schedule_name("gpu", 5000, "bf16") == "gpu"


def test_commands_equal_those_of_the_retired_run_rows():
    """tests/data/run_rows_643f811.json: the train (and evaluate) commands examples/run_rows.py built at 643f811 for
    every row of every dataset on the cpu schedule, Kvasir's cpu-12000-bf16 and gpu (packed .npz) rows, gaze-loss
    recipes and weights, other budgets, a shortened sweep schedule, and gpu dry runs; Kvasir with its gaze levels
    (as examples/kvasir/run_rows.sh passed them)."""
    cases = json.loads((ROOT / "tests" / "data" / "run_rows_643f811.json").read_text())["cases"]
    assert len(cases) == 74
    for c in cases:
        plan = runner.plan_row(
            c["dataset"],
            c["row"],
            c["schedule"],
            c["seed"],
            budget=c["labeled"],
            iters=c["iters"],
            gaze_loss_weight=c["weight"],
            gaze_loss_recipe=c["recipe"],
            data=c["data"],
            device=c["device"],
            precision=parse_schedule(c["schedule"])[2],
        )
        assert " ".join(runner.train_command(plan)) == c["train"], c
        assert " ".join(runner.evaluate_command(plan)) == c["evaluate"], c


def test_campaign_and_sweeps_plan_the_rows_of_the_retired_scripts():
    plans = runner.campaign_plans("kvasir", precision="bf16")
    assert len(plans) == 7 + 8 + 3 + 4 and {p.schedule for p in plans} == {"cpu-12000-bf16"}
    assert [p.name for p in plans if p.export] == [f"{r}_s0" for r in
            ("supervised_l81", "mt_l81", "bcp_l81", "hgdtgl_l81", "hgdtgl_no_gazemix_l81", "hgdtgl_no_gazeloss_l81",
             "supervised_all_l810")]  # fmt: skip
    assert plans[-1].name == "hgdtgl_l41_s0"
    w = sweeps.sweep_plans("acdc", "gaze_loss_weight", precision="none")
    assert [(p.results, p.runs, p.gaze_loss_weight) for p in w] == [
        (f"results/acdc/gaze_weight/w_{v}", f"runs/acdc/gaze_weight/w_{v}", v) for v in (0.01, 0.03, 0.1)
    ]
    r = sweeps.sweep_plans("acdc", "gaze_loss_weight", [0.3], recipe="self-ramp-mean", precision="none")[0]
    assert r.results == "results/acdc/gaze_weight/self-ramp-mean/w_0.3"
    assert "--gaze-loss-stage" in runner.train_command(r)
    confirm = sweeps.confirm_plans("kvasir", precision="bf16")
    assert [(p.row, p.seed, p.results) for p in confirm] == [
        ("hgdtgl", 1, "results/kvasir/chosen_gaze_weight/w_0.03"),
        ("hgdtgl", 2, "results/kvasir/chosen_gaze_weight/w_0.03"),
        ("hgdtgl_no_gazeloss", 1, "results/kvasir"),
        ("hgdtgl_no_gazeloss", 2, "results/kvasir"),
    ]
    lr = sweeps.sweep_plans("kvasir", "lr", precision="none")
    assert [p.lr for p in lr] == [0.001, 0.003, 0.01] and lr[0].schedule == "cpu-1000"
    assert lr[0].run_dir == Path("runs/kvasir/lr_sweep/lr_0.001/cpu-1000/supervised_l81_s0")


def test_sweep_tables_pick_the_best_value(tmp_path):
    res = tmp_path / "results"
    for w, d in (("0.01", 0.70), ("0.03", 0.75), ("0.1", 0.68)):
        p = res / "kvasir" / "gaze_weight" / f"w_{w}" / "summary.csv"
        p.parent.mkdir(parents=True)
        p.write_text(f"row,labeled,seed,schedule,dice,iou\nhgdtgl,81,0,cpu,{d},0.5\n")
    text = sweeps.write_sweep_table("kvasir", "gaze_loss_weight", results=res)
    assert "kvasir gaze_loss_weight 0.03: val Dice 75.00" in text and "best: 0.03" in text
    assert "[chosen.gaze_loss_weight]" in text and not (res / "kvasir" / "gaze_weight.csv").exists()
    (res / "lr_sweep.csv").write_text("dataset,row,labeled,lr,dice\nacdc,supervised,7,0.001,0.6\n")
    p = res / "kvasir" / "lr_sweep" / "lr_0.003" / "summary.csv"
    p.parent.mkdir(parents=True)
    p.write_text("row,labeled,seed,schedule,dice,iou\nsupervised,81,0,cpu,0.48,0.3\n")
    sweeps.write_sweep_table("kvasir", "lr", results=res)
    assert [(r["dataset"], r["lr"]) for r in _rows(res / "lr_sweep.csv")] == [("acdc", "0.001"), ("kvasir", "0.003")]


def test_a_tiny_real_row_writes_its_inputs(tmp_path, monkeypatch):
    """One HG-DTGL row trained for real (2 + 2 iterations on a tiny images folder): the row's folder holds the
    usual files and an inputs.json whose store digest, sigma, scales, lr and levels are the ones used (no export:
    the CLI test checks its command, and test_gpu_scripts runs one)."""
    monkeypatch.chdir(ROOT)  # `python -m hgdtgl` from the repository
    data = make_images(tmp_path / "data", n=12, size=40)
    maps = {}
    for mask in sorted((data / "masks").iterdir()):
        maps[(mask.stem, None)] = blob(cv2.imread(str(mask), cv2.IMREAD_GRAYSCALE) > 127)
    store = make_store(tmp_path / "store", maps, scales=(1, 2))
    names = sorted(p.stem for p in (data / "images").iterdir())
    sp = tmp_path / "splits"
    sp.mkdir()
    (sp / "train.list").write_text("".join(f"{n}\n" for n in names[:9]))
    (sp / "val.list").write_text("".join(f"{n}\n" for n in names[9:]))
    res, runs = tmp_path / "results", tmp_path / "runs"
    plan = runner.plan_row("kvasir", "hgdtgl", "cpu", 0, budget=4, iters=2, lr=0.01, gaze_scales="1",
                           data=str(data), splits=str(sp), gaze_dir=str(store), results=str(res), runs=str(runs),
                           precision="none")  # fmt: skip
    msg = runner.run_one(plan, "abc1234")
    assert msg.startswith("hgdtgl_l4_s0: dice "), msg
    row = res / "cpu-2" / "hgdtgl_l4_s0"
    assert {p.name for p in row.iterdir()} == {"metrics.csv", "config.yaml", "val_metrics.csv", "command.txt",
                                               "inputs.json"}  # fmt: skip
    got = json.loads((row / "inputs.json").read_text())
    meta = json.loads((store / "store.json").read_text())
    assert got["store"]["store_json_sha256"] == hashlib.sha256((store / "store.json").read_bytes()).hexdigest()
    assert got["store"]["path"] == str(store) and got["store"]["sigma"] == {"unit": "px", "value": 6.0}
    assert got["store"]["scales"] == meta["scales"] == [1, 2]
    gaze_loss = (got["gaze_scales"], got["gaze_loss_weight"], got["gaze_loss_recipe"])
    assert got["lr"] == 0.01 and gaze_loss == ("1", None, "published")
    assert got["precision"] == "fp32" and got["commit"] == "abc1234" and got["cpu_capability"]
    assert got["commands"] == (row / "command.txt").read_text().splitlines()
    assert got["commands"][0] == "hgdtgl " + " ".join(runner.train_command(plan))
    assert got["reproduce"] == (
        "python -m experiments run kvasir hgdtgl --schedule cpu-2 --seed 0 --labeled 4 --lr 0.01 "
        f"--data {data} --splits {sp} --gaze-dir {store} --results {res} --runs {runs}"
    )
    # row + budget (4 labeled is not Kvasir's default 81) + schedule
    assert runner.export_command(plan, "cpu-2")[-1] == str(res / "models" / "hgdtgl_l4_cpu2.pt")
    (summary,) = _rows(res / "summary.csv")
    assert (summary["row"], summary["labeled"], summary["schedule"]) == ("hgdtgl", "4", "cpu-2")
    (line,) = _rows(res / "runs.csv")
    assert list(line) == runner.RUNS_COLUMNS and line["iterations"] == "4" and line["precision"] == "fp32"
    # the campaign skips it now: already in summary.csv
    said = []
    runner.run_many([plan], echo=said.append)
    assert said == ["skip hgdtgl labeled 4 seed 0 cpu-2: already in summary.csv"]


def test_cli_dry_run_prints_the_commands_of_one_row():
    r = CliRunner().invoke(main, ["run", "acdc", "supervised_matched", "--schedule", "cpu", "--seed", "2",
                                  "--results", "/nonexistent", "--dry-run"])  # fmt: skip
    assert r.exit_code == 0, r.output
    train, evaluate, export = r.output.splitlines()
    assert train.startswith("hgdtgl train --data ../shared/data/ACDC --format ssl4mis --method supervised --labeled 7")
    assert train.endswith("--lr 0.001 --batch-size 4 --seed 2 --out runs/acdc/cpu/supervised_matched_l7_s2 --resume")
    assert export.endswith("-o /nonexistent/models/supervised_matched_s2.pt")
    r = CliRunner().invoke(main, ["run", "acdc", "nope", "--schedule", "cpu"])
    assert r.exit_code == 1 and "Error: unknown row 'nope'; expected one of supervised," in r.output


def test_split_by_image_is_seeded_and_its_labeled_sets_are_prefixes(tmp_path):
    images = tmp_path / "kvasir-seg" / "images"
    images.mkdir(parents=True)
    names = [f"img{i:04d}" for i in range(900)]
    for n in names:
        (images / f"{n}.jpg").touch()
    (images / "notes.txt").touch()  # not an image
    r = CliRunner().invoke(main, ["split", "kvasir", "--shared-data", str(tmp_path), "-o", str(tmp_path / "a")])
    assert r.exit_code == 0, r.output
    a = tmp_path / "a"
    train, val = (a / "train.list").read_text().split(), (a / "val.list").read_text().split()
    order = np.random.default_rng(0).permutation(900)  # the rule, computed here
    assert val == sorted(names[i] for i in order[:90]) and train == [names[i] for i in order[90:]]
    assert (a / "labeled_10.list").read_text().split() == train[:81]
    assert (a / "labeled_5.list").read_text().split() == train[:41] and not (a / "classes.json").exists()
    r = CliRunner().invoke(main, ["split", "kvasir", "--shared-data", str(tmp_path), "--seed", "1", "-o", str(a / "c")])
    assert r.exit_code == 0, r.output
    assert (a / "c" / "val.list").read_text().split() != val  # another seed, another split
    assert splits.make_split(load("acdc"), tmp_path, tmp_path / "x").endswith("nothing to write")


def test_converted_inputs_of_the_committed_rows():
    """Every committed row folder has an inputs.json; the converter, run again, writes the same; the rows of the
    current protocol are reproduced token for token by their recorded `python -m experiments run` command."""
    results = ROOT / "results"
    folders = sorted(p.parent for p in results.glob("*/**/command.txt"))
    missing = [str(f.relative_to(ROOT)) for f in folders if not (f / "inputs.json").is_file()]
    assert folders and not missing, f"no inputs.json (python -m experiments record-inputs writes it): {missing}"
    records = {f: json.loads((f / "inputs.json").read_text()) for f in folders}
    converted = [f for f, r in records.items() if r["source"] == backfill.SOURCE]
    for f in converted[::7]:
        assert records[f] == backfill.record_for(f, results), f
    ran = {f: r for f, r in records.items() if r["source"] == runner.RUNNER_SOURCE}
    assert set(ran) | set(converted) == set(folders)
    for f, r in ran.items():  # written when the row ran: the machine, the precision and the store it read
        assert r["commit"] and r["precision"] in ("fp32", "bf16") and r["cpu_capability"], f
        assert r["store"] is None or len(r["store"]["store_json_sha256"]) == 64, f
    row = json.loads(
        (results / "kvasir/chosen_gaze_weight/w_0.03/cpu-12000-bf16/hgdtgl_l81_s2/inputs.json").read_text()
    )
    assert row["reproduce"] == ("python -m experiments run kvasir hgdtgl --schedule cpu-12000-bf16 --seed 2 "
                                "--gaze-loss-weight 0.03 --under chosen_gaze_weight/w_0.03")  # fmt: skip
    assert row["reproduce_matches_recorded"] and row["store"]["store_json_sha256"] == "unknown"
    assert row["store"]["sigma"]["value"] == 0.0911
    exact = [json.loads((f / "inputs.json").read_text()) for f in (results / "kvasir" / "cpu-12000-bf16").iterdir()]
    # converted rows: their recorded command is the runner's; rows the runner wrote ran that command
    assert exact and all(r.get("reproduce_matches_recorded", r["source"] == runner.RUNNER_SOURCE) for r in exact)


def test_simulated_gaze_of_a_2d_dataset_covers_its_training_images_only(tmp_path, monkeypatch):
    """`python -m experiments gaze scr`: gaze simulated on the training label maps of the split only, rendered at
    the spec's chosen sigma (store.json says so); a validation image gets no heatmap."""
    from tests.hgdtgl_testdata import make_label_maps

    make_label_maps(tmp_path / "shared" / "scr", n=4)
    splits_dir = tmp_path / "results" / "scr" / "splits"
    splits_dir.mkdir(parents=True)
    (splits_dir / "train.list").write_text("c0\nc1\nc2\n")
    monkeypatch.chdir(tmp_path)  # the spec's splits folder (results/scr/splits) and store (runs/scr/store)
    r = CliRunner().invoke(main, ["gaze", "scr", "--shared-data", str(tmp_path / "shared")])
    assert r.exit_code == 0, r.output
    store = tmp_path / "runs" / "scr" / "store"
    meta = json.loads((store / "store.json").read_text())
    assert meta["sigma"] == {"unit": "frac", "value": load("scr").chosen["sigma"].value} and meta["scales"] == [
        1, 2, 4, 8, 16
    ]  # fmt: skip
    import pandas as pd

    manifest = pd.read_parquet(store / "manifest.parquet")
    assert sorted(manifest.loc[manifest["n_fixations"] > 0, "stimulus_id"]) == ["c0", "c1", "c2"]
    (splits_dir / "train.list").unlink()
    r = CliRunner().invoke(main, ["gaze", "camus"])
    assert r.exit_code == 1 and "results/camus/splits/train.list: missing (run python -m experiments split camus" in (
        r.output
    )
