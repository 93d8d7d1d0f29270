"""Resumable runner of the results table: each row is ONE `hgdtgl train` command, then `hgdtgl evaluate` of its
best checkpoint on the validation split; the row is appended to RESULTS/summary.csv and its small text files
(metrics.csv, config.yaml, val_metrics.csv, command.txt) are copied to RESULTS/<schedule>/<run>/. Rows already in
summary.csv are skipped; an interrupted run continues from its checkpoint (`--resume`).

    python examples/run_rows.py --dataset kvasir --schedule cpu --rows supervised,mt,hgdtgl --seeds 0 --jobs 2
    python examples/run_rows.py --dataset acdc --schedule cpu --rows supervised,mt --labeled 7
    python examples/run_rows.py --dataset camus --schedule cpu --rows supervised,hgdtgl --gaze-dir runs/camus/store

Datasets (DATASETS below): kvasir, camus, scr (images + masks in the shared folder, split lists written by
examples/<dataset>/make_split.py into results/<dataset>/splits) and acdc (SSL4MIS layout and lists).

Rows: supervised, mt, bcp, hgdtgl_no_gazemix, hgdtgl_no_gazeloss, hgdtgl, supervised_all, and supervised_matched
(supervised with the semi-supervised rows' labeled batch, e.g. 4 instead of 8 on cpu: the same labeled images per
iteration as mt / bcp / hgdtgl, which matters while the schedule is iteration-limited); gazesup (GazeMedSeg's
gaze-supervised training: no mask, labeled 0) and gazepseudo (the labeled masks + gaze pseudo-masks of the unlabeled
images, no teacher), both with --gaze-dir.
Schedules (schedule_args below, the one place that defines them):
- ``cpu``: the converged CPU protocol for 2 cores (128 px, 8-128 U-Net, batch 8 = 4 + 4, AdamW with a cosine
  schedule per stage, CPU_ITERS self-training iterations; bcp / hgdtgl add as many labeled-only pre-training
  iterations before them). The learning rate is CPU_LR, chosen on validation (examples/choose_lr.sh).
- ``gpu``: the published recipe (256 px, SSL4MIS 16-256 U-Net, batch 24, SGD 0.01, method-default schedules,
  ITERS iterations, bf16).
Environment: ITERS overrides the iterations (a cpu run with other than CPU_ITERS is named ``cpu-<iters>``: its
own run folders and table rows). ``--amp`` (env AMP, default auto) trains a cpu row under bf16 autocast with
channels-last tensors where the CPU has native bf16 (~1.75x faster per iteration on an AVX-512-BF16 CPU, one
thread; emulated bf16 is 15-30x slower), else in float32; the schedule name gets ``-bf16`` when bf16 ran.
With --export, the best student of each finished row is written as an fp16 file (``hgdtgl export``) to
RESULTS/models/ (model_file_name: row, schedule, seed). runs.csv records the precision that ran and the CPU's
capability (from the run's machine.json).
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROWS = {
    "supervised": ["--method", "supervised"],
    "mt": ["--method", "mt"],
    "bcp": ["--method", "bcp"],
    "hgdtgl_no_gazemix": ["--method", "hgdtgl", "--no-gazemix"],
    "hgdtgl_no_gazeloss": ["--method", "hgdtgl", "--no-mgp"],
    "hgdtgl": ["--method", "hgdtgl"],
    "supervised_all": ["--method", "supervised"],
    "supervised_matched": ["--method", "supervised"],
    "gazesup": ["--method", "gazesup"],  # GazeMedSeg: gaze pseudo-masks of every training image with gaze, 0 masks
    "gazepseudo": ["--method", "gazepseudo"],  # the labeled masks + gaze pseudo-masks of the unlabeled images
}
# rows trained with as many labeled images per batch as the semi-supervised rows (the schedule's --labeled-bs):
# a supervised control that sees the labeled set exactly as often as mt / bcp / hgdtgl do
MATCHED_BATCH_ROWS = {"supervised_matched"}
GAZE_ROWS = {"hgdtgl_no_gazemix", "hgdtgl_no_gazeloss", "hgdtgl", "gazesup", "gazepseudo"}
NO_MASK_ROWS = {"gazesup"}  # trained with no mask: labeled 0 in the tables
MGP_ROWS = {"hgdtgl_no_gazemix", "hgdtgl"}  # rows with the gaze loss: --gaze-scales applies to them
# how the gaze loss enters training (`hgdtgl train --gaze-loss-*`), by name; "published" = the method's defaults:
# on from the first pre-training iteration, full weight, summed over the decoder levels, on every image with gaze
GAZE_LOSS_RECIPES = {
    "published": [],
    "self-ramp-mean": ["--gaze-loss-stage", "self", "--gaze-loss-ramp", "--gaze-loss-reduce", "mean"],
    "self-ramp-mean-unlabeled": [
        *["--gaze-loss-stage", "self", "--gaze-loss-ramp", "--gaze-loss-reduce", "mean"],
        *["--gaze-loss-images", "unlabeled"],
    ],
}


CPU_ITERS = 3000  # self-training iterations of the cpu protocol
CPU_LR = 0.003  # AdamW learning rate of the cpu protocol, chosen on validation: results/lr_sweep.csv
CPU_OPTIONS = ["--size", "128", "--base-channels", "8", "--batch-size", "8", "--labeled-bs", "4"]
CPU_OPTIONS += ["--optimizer", "adamw", "--lr-schedule", "cosine", "--weight-decay", "1e-4", "--device", "cpu"]


def schedule_args(schedule: str, iters: int, lr: float | None = None, amp: str = "none") -> list[str]:
    """Training options of a schedule with ``iters`` (self-)training iterations (bcp/hgdtgl pre-training before
    them: iters on cpu, iters/3 on gpu as BCP; consistency ramp-up 3/4 iters). ``gpu`` reads SIZE (default 256;
    must equal a packed .npz's size) and GPU_DEVICE (default cuda; ``cpu`` for a dry run of the GPU script).
    ``amp`` (cpu, resolved: see cpu_precision): ``bf16`` = bf16 autocast and channels-last (the losses stay
    float32), ``none`` = float32."""
    # cpu: pre-training as long as self-training (cheap: labeled images only), since its validation curve was
    # still rising after iters/3 (bcp cpu row, seed 0, 33 % val Dice at 1000 iterations: a teacher too weak to teach)
    pretrain = iters if schedule == "cpu" else iters // 3
    common = ["--iterations", str(iters), "--pretrain-iterations", str(pretrain)]
    common += ["--rampup-iterations", str(3 * iters // 4)]
    if schedule == "cpu":
        val = ["--val-every", str(max(iters // 10, 1))]
        precision = ["--amp", "bf16", "--channels-last"] if amp == "bf16" else ["--amp", "none"]
        return [*common, *val, *CPU_OPTIONS, *precision, "--lr", str(lr if lr is not None else CPU_LR)]
    device = os.environ.get("GPU_DEVICE", "cuda")
    gpu_amp = ["--amp", "bf16"] if device == "cuda" else ["--amp", "none"]
    gpu = ["--size", os.environ.get("SIZE", "256"), "--batch-size", "24", "--labeled-bs", "12", "--device", device]
    return [*common, "--val-every", str(max(iters // 5, 1)), *gpu, *gpu_amp]


def schedule_name(schedule: str, iters: int, amp: str = "none") -> str:
    """The schedule as rows, run folders and tables name it: ``cpu`` with CPU_ITERS iterations, ``cpu-<iters>``
    with other counts (e.g. the longer all-mask bound), ``-bf16`` appended for a cpu run in bf16, ``gpu`` whatever
    its (time-boxed) iterations."""
    if schedule != "cpu":
        return schedule
    return ("cpu" if iters == CPU_ITERS else f"cpu-{iters}") + ("-bf16" if amp == "bf16" else "")


def cpu_precision(amp: str) -> str:
    """The cpu schedule's precision on this machine: ``--amp auto`` is bf16 only where the CPU runs bf16 natively
    (hgdtgl.precision), and an explicit bf16 without it falls back to float32 (``none``) with one line saying why,
    so a row is always named by what ran."""
    from hgdtgl.precision import resolve_precision

    precision, fallback = resolve_precision(amp, "cpu")
    if fallback:
        print(fallback, file=sys.stderr, flush=True)
    return "bf16" if precision == "bf16" else "none"


def model_file_name(row: str, schedule: str, seed: int) -> str:
    """File name of a row's exported student: ``<row>[_<schedule>][_s<seed>].pt``, the schedule without dashes and
    left out for ``cpu``, the seed left out for seed 0 (``hgdtgl_cpu12000bf16_s1.pt``, ``bcp.pt``)."""
    sched = "" if schedule == "cpu" else "_" + schedule.replace("-", "")
    return f"{row}{sched}" + (f"_s{seed}" if seed else "") + ".pt"


def machine_facts(run_dir: Path) -> dict[str, str]:
    """Precision and CPU capability that a run recorded in its machine.json (blank for runs older than it)."""
    path = run_dir / "machine.json"
    facts = json.loads(path.read_text()) if path.is_file() else {}
    return {"precision": facts.get("precision", ""), "cpu_capability": facts.get("cpu_capability", "")}


def labeled_batch_args(sched: list[str]) -> list[str]:
    """``--batch-size`` equal to the schedule's ``--labeled-bs`` (appended after ``sched``, it wins)."""
    last = max(i for i, opt in enumerate(sched) if opt == "--labeled-bs")
    return ["--batch-size", sched[last + 1]]


# dataset -> (folder under the shared data, default labeled images/patients, training images/patients, foreground
# class names of the multi-class summary (None: binary, mean per-image Dice / IoU), split lists or None for ACDC)
DATASETS = {
    "kvasir": ("kvasir-seg", 81, 810, None, "results/kvasir/splits"),
    "acdc": ("ACDC", 7, 70, ("rv", "myo", "lv"), None),
    "camus": ("camus", 160, 1600, ("lv", "myo", "la"), "results/camus/splits"),  # 160 images = 40 patients
    "scr": ("scr", 16, 160, ("lungs", "heart", "clavicles"), "results/scr/splits"),
}


def summary_columns(dataset: str) -> list[str]:
    classes = DATASETS[dataset][3]
    if classes is None:
        return ["row", "labeled", "seed", "schedule", "dice", "iou"]
    return ["row", "labeled", "seed", "schedule", *[f"dice_{c}" for c in classes], "dice_mean", "hd95_mean", "asd_mean"]


RUNS_COLUMNS = [
    "row",
    "labeled",
    "seed",
    "schedule",
    "iterations",
    "wall_train_s",
    "wall_eval_s",
    "commit",
    "precision",
    "cpu_capability",
    "command",
]


def code_commit() -> str:
    """The commit of the code that trains the rows (``+dirty`` when tracked files outside ``results/`` have changes:
    the rows this runner appends there are not code), or ``unknown``."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        status = ["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)results"]
        dirty = subprocess.run(status, capture_output=True, text=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def data_args(dataset: str, data: str, splits: str | None) -> list[str]:
    if data.endswith(".npz"):
        return ["--data", data]
    if splits:
        return ["--data", data, "--format", "images", "--train-list", f"{splits}/train.list"]
    return ["--data", data, "--format", "ssl4mis"]


def eval_split_args(dataset: str, data: str, splits: str | None) -> list[str]:
    """`hgdtgl evaluate` data and split options: the validation split (a packed .npz holds it as 'val')."""
    if data.endswith(".npz"):
        return ["--data", data, "--split", "val"]
    if splits:
        return ["--data", data, "--format", "images", "--split", f"{splits}/val.list"]
    return ["--data", data, "--format", "ssl4mis", "--split", "val"]


def summary_values(dataset: str, metrics_csv: Path) -> dict[str, float]:
    """The summary columns of one run from `hgdtgl evaluate`'s metrics.csv (its per-class ``mean`` rows)."""
    rows = [r for r in csv.DictReader(open(metrics_csv)) if r["case"] == "mean"]
    by = {r["class"]: r for r in rows}
    classes = DATASETS[dataset][3]
    if classes is None:
        (r,) = rows
        return {"dice": float(r["dice"]), "iou": float(r["jaccard"])}
    out = {f"dice_{c}": float(by[c]["dice"]) for c in classes}
    out["dice_mean"] = sum(out.values()) / len(classes)
    out["hd95_mean"] = sum(float(by[c]["hd95"]) for c in classes) / len(classes)
    out["asd_mean"] = sum(float(by[c]["asd"]) for c in classes) / len(classes)
    return out


def last_iteration(metrics_csv: Path) -> int:
    """The last validated iteration of a run's metrics.csv (the run may have been stopped early)."""
    rows = list(csv.DictReader(open(metrics_csv)))
    return int(rows[-1]["iteration"]) if rows else 0


def logged_training_seconds(metrics_csv: Path) -> float:
    """Training time (s) a run's metrics.csv already holds (sum of its windows' ``wall_s``); 0 for a new run.
    Added to the time of a resumed process, so that a row's wall time counts every process that trained it."""
    if not metrics_csv.is_file():
        return 0.0
    return sum(float(r["wall_s"]) for r in csv.DictReader(open(metrics_csv)) if r.get("wall_s"))


def planned_iterations(config_yaml: Path) -> int:
    """Pre-training + (self-)training iterations of a run, from its resolved config.yaml."""
    import yaml

    cfg = yaml.safe_load(config_yaml.read_text())
    return int(cfg["iterations"]) + int(cfg.get("pretrain_iterations") or 0)


def done_keys(path: Path) -> set[tuple[str, str, str, str]]:
    if not path.is_file():
        return set()
    return {(r["row"], r["labeled"], r["seed"], r["schedule"]) for r in csv.DictReader(open(path))}


def append_row(path: Path, columns: list[str], row: dict) -> None:
    """Append one row under an exclusive lock (parallel jobs), with the header when the file is new. A file whose
    header differs from ``columns`` (written before a column existed) is rewritten first, missing values blank."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", newline="") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        reader = csv.DictReader(f)
        old = list(reader)
        w = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        if reader.fieldnames != columns:
            f.seek(0)
            f.truncate()
            w.writeheader()
            w.writerows(old)
        w.writerow(row)
        fcntl.flock(f, fcntl.LOCK_UN)


def row_labeled(row: str, labeled: int, n_train: int) -> int:
    """Masks a row trains with: all for the all-mask bound, none for a gaze-only row, else the budget."""
    return n_train if row == "supervised_all" else 0 if row in NO_MASK_ROWS else labeled


def run_one(a: argparse.Namespace, row: str, labeled: int, seed: int) -> str:
    py = [sys.executable, "-m", "hgdtgl"]
    n_lab = row_labeled(row, labeled, a.n_train)
    name = f"{row}_l{n_lab}_s{seed}"
    run_dir = Path(a.runs) / a.name / name
    train = ["train", *data_args(a.dataset, a.data, a.splits), *ROWS[row]]
    if row in GAZE_ROWS and a.gaze_dir and not a.data.endswith(".npz"):
        train += ["--gaze-dir", a.gaze_dir]
    if row in MGP_ROWS and a.gaze_scales:
        train += ["--gaze-scales", a.gaze_scales]
    if row in MGP_ROWS and a.gaze_loss_weight is not None:
        train += ["--gaze-loss-weight", str(a.gaze_loss_weight)]
    if row in MGP_ROWS:
        train += GAZE_LOSS_RECIPES[a.gaze_loss_recipe]
    if row != "supervised_all" and row not in NO_MASK_ROWS:
        train += ["--labeled", str(labeled)]
    if a.splits and not a.data.endswith(".npz"):
        train += ["--val-split", f"{a.splits}/val.list"]
    sched = schedule_args(a.schedule, a.iters, a.lr, a.amp)
    if row in MATCHED_BATCH_ROWS:
        sched += labeled_batch_args(sched)
    train += [*sched, "--seed", str(seed), "--out", str(run_dir), "--resume"]
    evaluate = ["evaluate", str(run_dir / "checkpoint_best.pt"), *eval_split_args(a.dataset, a.data, a.splits)]
    evaluate += ["-o", str(run_dir / "val_metrics.csv")]
    evaluate += ["--device", "cpu" if a.schedule == "cpu" else os.environ.get("GPU_DEVICE", "cuda")]
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / "log.txt", "a")
    t0 = time.time() - logged_training_seconds(run_dir / "metrics.csv")  # a resumed row keeps its earlier time
    try:
        rc = subprocess.run(py + train, stdout=log, stderr=log, timeout=a.train_timeout).returncode
    except subprocess.TimeoutExpired:  # the wall-time budget ran out: the best checkpoint so far is evaluated
        rc = 0 if (run_dir / "checkpoint_best.pt").is_file() else 1
    if rc != 0:
        return f"{name}: train FAILED (see {run_dir}/log.txt)"
    t1 = time.time()
    done_iters = last_iteration(run_dir / "metrics.csv")
    # a row stopped by the wall-time budget is never mixed with full ones: schedule "<name>-partial"
    schedule = a.name if done_iters >= planned_iterations(run_dir / "config.yaml") else f"{a.name}-partial"
    res_dir = Path(a.results) / schedule / name
    if subprocess.run(py + evaluate, stdout=log, stderr=log).returncode != 0:
        return f"{name}: evaluate FAILED (see {run_dir}/log.txt)"
    t2 = time.time()
    res_dir.mkdir(parents=True, exist_ok=True)
    for f in ("metrics.csv", "config.yaml", "val_metrics.csv"):
        if (run_dir / f).is_file():
            shutil.copy(run_dir / f, res_dir / f)
    cmd_train = "hgdtgl " + shlex.join(train)
    cmd_eval = "hgdtgl " + shlex.join(evaluate)
    commands = [cmd_train, cmd_eval]
    if a.export:
        model = Path(a.results) / "models" / model_file_name(row, a.name, seed)
        model.parent.mkdir(parents=True, exist_ok=True)
        export = ["export", str(run_dir / "checkpoint_best.pt"), "-o", str(model)]
        if subprocess.run(py + export, stdout=log, stderr=log).returncode != 0:
            return f"{name}: export FAILED (see {run_dir}/log.txt)"
        commands.append("hgdtgl " + shlex.join(export))
    (res_dir / "command.txt").write_text("\n".join(commands) + "\n")
    key = {"row": row, "labeled": n_lab, "seed": seed, "schedule": schedule}
    vals = summary_values(a.dataset, run_dir / "val_metrics.csv")
    append_row(Path(a.results) / "summary.csv", summary_columns(a.dataset), {**key, **vals})
    append_row(
        Path(a.results) / "runs.csv",
        RUNS_COLUMNS,
        {
            **key,
            "iterations": done_iters,
            "wall_train_s": round(t1 - t0),
            "wall_eval_s": round(t2 - t1),
            "commit": a.commit,
            **machine_facts(run_dir),
            "command": cmd_train,
        },
    )
    return f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in vals.items()) + f" (train {t1 - t0:.0f} s)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", choices=list(DATASETS), required=True)
    ap.add_argument("--schedule", choices=["cpu", "gpu"], required=True)
    ap.add_argument("--rows", default=",".join(ROWS), help="comma-separated row names, run in this order")
    ap.add_argument("--seeds", default="0", help="comma-separated seeds")
    ap.add_argument("--labeled", type=int, default=None, help="labeled images/patients (default: DATASETS)")
    ap.add_argument(
        "--iters",
        type=int,
        default=None,
        help="self-training iterations (default: CPU_ITERS for cpu, 30000 for gpu; env ITERS)",
    )
    ap.add_argument("--data", default=None, help="dataset folder or packed .npz")
    ap.add_argument("--splits", default=None, help="split lists (default: DATASETS, make_split.py writes them)")
    ap.add_argument("--gaze-dir", default=None, help="heatmap store (not needed with a packed .npz)")
    ap.add_argument("--results", default=None, help="default results/<dataset>")
    ap.add_argument("--runs", default=None, help="run directories (checkpoints), default runs/<dataset>")
    ap.add_argument("--jobs", type=int, default=1, help="rows trained at the same time")
    ap.add_argument("--gaze-scales", default=None, help="decoder levels of the gaze loss for the gaze-loss rows")
    ap.add_argument("--gaze-loss-weight", type=float, default=None, help="lambda of the gaze loss for those rows")
    ap.add_argument(
        "--gaze-loss-recipe",
        choices=list(GAZE_LOSS_RECIPES),
        default="published",
        help="how the gaze loss enters the gaze-loss rows (GAZE_LOSS_RECIPES)",
    )
    ap.add_argument("--train-timeout", type=float, default=None, help="seconds; then the best checkpoint is used")
    ap.add_argument("--lr", type=float, default=None, help="cpu schedule: learning rate (default CPU_LR)")
    ap.add_argument(
        "--amp",
        choices=["auto", "none", "bf16"],
        default=os.environ.get("AMP", "auto"),
        help="cpu schedule: bf16 autocast + channels-last (schedule name gets -bf16) where the CPU has native bf16 "
        "(auto, or bf16 that falls back to float32 without it), none = float32; env AMP",
    )
    ap.add_argument("--export", action="store_true", help="fp16 student of every row -> RESULTS/models/")
    a = ap.parse_args()
    shared = os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data")
    folder, labeled, a.n_train, _, splits = DATASETS[a.dataset]
    a.data = a.data or f"{shared}/{folder}"
    a.labeled = a.labeled or labeled
    a.splits = a.splits or splits
    a.iters = a.iters or int(os.environ.get("ITERS", CPU_ITERS if a.schedule == "cpu" else 30000))
    if a.schedule == "cpu":
        a.amp = cpu_precision(a.amp)
    a.name = schedule_name(a.schedule, a.iters, a.amp)
    a.results = a.results or f"results/{a.dataset}"
    a.runs = a.runs or f"runs/{a.dataset}"
    a.commit = code_commit()
    done = done_keys(Path(a.results) / "summary.csv")
    todo = []
    for seed in [int(s) for s in a.seeds.split(",")]:
        for row in a.rows.split(","):
            if row not in ROWS:
                sys.exit(f"--rows: unknown row {row!r}; expected one of {', '.join(ROWS)}")
            n_lab = row_labeled(row, a.labeled, a.n_train)
            if (row, str(n_lab), str(seed), a.name) in done:
                print(f"skip {row} labeled {n_lab} seed {seed} {a.name}: already in summary.csv", flush=True)
                continue
            todo.append((row, a.labeled, seed))
    with ThreadPoolExecutor(max_workers=a.jobs) as pool:
        for msg in pool.map(lambda t: run_one(a, *t), todo):
            print(msg, flush=True)


if __name__ == "__main__":
    main()
