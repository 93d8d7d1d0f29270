"""The one runner of result rows. A row of a spec is ONE `hgdtgl train` command, then `hgdtgl evaluate` of its best
checkpoint on the validation split (and `hgdtgl export` of the fp16 student to RESULTS/models/); the row is appended
to RESULTS/summary.csv and runs.csv, and its small text files (metrics.csv, config.yaml, val_metrics.csv,
command.txt) plus ``inputs.json`` (every input it used: store and the sha256 of its store.json, sigma, scales, lr,
gaze-loss levels / weight / recipe, precision, CPU capability, commit) go to RESULTS/<schedule>/<row>_l<K>_s<seed>/.
Rows already in summary.csv are skipped; an interrupted run continues from its checkpoint (``--resume``).

RESULTS is results/<dataset> (or results/<dataset>/<under> for a sweep's runs: gaze_weight/w_0.03, ...), the run
folders (checkpoints) runs/<dataset>[/<under>]/<schedule>/<row>_l<K>_s<seed>/.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from experiments.spec import Dataset, SpecError, load, parse_schedule, protocol

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


def shared_data() -> str:
    return os.environ.get("GAZEKIT_SHARED_DATA", "../shared/data")


@dataclass(frozen=True)
class Plan:
    """Everything one row's run depends on, resolved (spec defaults filled in, schedule named by what runs)."""

    dataset: str
    row: str
    budget: int  # the label budget of the row's group (a row with all / no masks trains with n_train / 0)
    seed: int
    schedule: str  # the name rows, run folders and tables use: cpu, cpu-12000-bf16, gpu, ...
    base: str  # cpu | gpu
    iters: int
    amp: str  # bf16 | none (cpu)
    data: str
    splits: str | None
    gaze_dir: str | None
    lr: float | None
    gaze_scales: str | None
    gaze_loss_weight: float | None
    gaze_loss_recipe: str
    results: str
    runs: str
    export: bool = False
    train_timeout: float | None = None
    size: int | None = None
    device: str | None = None

    @property
    def labeled(self) -> int:
        """Masks the row trains with: all for the all-mask bound, none for a gaze-only row, else the budget."""
        masks = protocol().rows[self.row].masks
        return load(self.dataset).n_train if masks == "all" else 0 if masks == "none" else self.budget

    @property
    def name(self) -> str:
        return f"{self.row}_l{self.labeled}_s{self.seed}"

    @property
    def run_dir(self) -> Path:
        return Path(self.runs) / self.schedule / self.name

    @property
    def packed(self) -> bool:
        return self.data.endswith(".npz")


def schedule_name(base: str, iters: int, amp: str = "none") -> str:
    """The schedule as rows, run folders and tables name it: ``cpu`` with its own iterations, ``cpu-<iters>`` with
    other counts, ``-bf16`` appended for a cpu run in bf16, ``gpu`` whatever its (time-boxed) iterations."""
    sched = protocol().schedules[base]
    if sched.precision != "cpu":
        return base
    return (base if iters == sched.iterations else f"{base}-{iters}") + ("-bf16" if amp == "bf16" else "")


def cpu_precision(amp: str) -> str:
    """The cpu schedule's precision on this machine: ``auto`` is bf16 only where the CPU runs bf16 natively
    (hgdtgl.precision), and an explicit bf16 without it falls back to float32 (``none``) with one line saying why,
    so a row is always named by what ran."""
    from hgdtgl.precision import resolve_precision

    precision, fallback = resolve_precision(amp, "cpu")
    if fallback:
        print(fallback, file=sys.stderr, flush=True)
    return "bf16" if precision == "bf16" else "none"


def schedule_args(
    base: str,
    iters: int,
    lr: float | None = None,
    amp: str = "none",
    size: int | None = None,
    device: str | None = None,
) -> list[str]:
    """Training options of a schedule with ``iters`` (self-)training iterations (protocol.toml [schedules]):
    ``iters // pretrain_divisor`` pre-training iterations for bcp / hgdtgl, consistency ramp-up over 3/4 of
    ``iters``, a validation every ``iters // val_divisor``. cpu: ``amp`` ``bf16`` = bf16 autocast and
    channels-last (the losses stay float32), ``none`` = float32 asked for explicitly; then ``--lr``. gpu: ``size``
    and ``device`` fill the options (default: the schedule's), bf16 on cuda."""
    s = protocol().schedules[base]
    common = ["--iterations", str(iters), "--pretrain-iterations", str(iters // s.pretrain_divisor)]
    common += ["--rampup-iterations", str(3 * iters // 4), "--val-every", str(max(iters // s.val_divisor, 1))]
    size, device = size or s.size, device or s.device
    options = [o.format(size=size, device=device) for o in s.options]
    if s.precision == "cpu":
        precision = ["--amp", "bf16", "--channels-last"] if amp == "bf16" else ["--amp", "none"]
        return [*common, *options, *precision, *(["--lr", str(lr)] if lr is not None else [])]
    return [*common, *options, "--amp", "bf16" if device == "cuda" else "none"]


def labeled_batch_args(sched: list[str]) -> list[str]:
    """``--batch-size`` equal to the schedule's ``--labeled-bs`` (appended after ``sched``, it wins)."""
    last = max(i for i, opt in enumerate(sched) if opt == "--labeled-bs")
    return ["--batch-size", sched[last + 1]]


def data_args(plan: Plan) -> list[str]:
    if plan.packed:
        return ["--data", plan.data]
    if plan.splits:
        return ["--data", plan.data, "--format", "images", "--train-list", f"{plan.splits}/train.list"]
    return ["--data", plan.data, "--format", "ssl4mis"]


def eval_split_args(plan: Plan) -> list[str]:
    """`hgdtgl evaluate` data and split options: the validation split (a packed .npz holds it as 'val')."""
    if plan.packed:
        return ["--data", plan.data, "--split", "val"]
    if plan.splits:
        return ["--data", plan.data, "--format", "images", "--split", f"{plan.splits}/val.list"]
    return ["--data", plan.data, "--format", "ssl4mis", "--split", "val"]


def train_command(plan: Plan) -> list[str]:
    """The `hgdtgl train` arguments of a row (without the leading ``hgdtgl``)."""
    row = protocol().rows[plan.row]
    train = ["train", *data_args(plan), *row.args]
    if row.gaze and plan.gaze_dir and not plan.packed:
        train += ["--gaze-dir", plan.gaze_dir]
    if row.gaze_loss and plan.gaze_scales:
        train += ["--gaze-scales", plan.gaze_scales]
    if row.gaze_loss and plan.gaze_loss_weight is not None:
        train += ["--gaze-loss-weight", str(plan.gaze_loss_weight)]
    if row.gaze_loss:
        train += protocol().recipes[plan.gaze_loss_recipe]
    if row.masks == "budget":
        train += ["--labeled", str(plan.budget)]
    if plan.splits and not plan.packed:
        train += ["--val-split", f"{plan.splits}/val.list"]
    sched = schedule_args(plan.base, plan.iters, plan.lr, plan.amp, plan.size, plan.device)
    if row.batch == "labeled":
        sched += labeled_batch_args(sched)
    return [*train, *sched, "--seed", str(plan.seed), "--out", str(plan.run_dir), "--resume"]


def evaluate_command(plan: Plan) -> list[str]:
    evaluate = ["evaluate", str(plan.run_dir / "checkpoint_best.pt"), *eval_split_args(plan)]
    evaluate += ["-o", str(plan.run_dir / "val_metrics.csv")]
    device = "cpu" if protocol().schedules[plan.base].precision == "cpu" else plan.device or "cuda"
    return [*evaluate, "--device", device]


def model_file_name(row: str, schedule: str, seed: int, labeled: int | None = None) -> str:
    """File name of a row's exported student: ``<row>[_l<labeled>][_<schedule>][_s<seed>].pt``, the labeled count
    only for a budget other than the dataset's default, the schedule without dashes and left out for ``cpu``, the
    seed left out for seed 0 (``hgdtgl_cpu12000bf16_s1.pt``, ``bcp.pt``, ``bcp_l3_s2.pt``)."""
    budget = f"_l{labeled}" if labeled is not None else ""
    sched = "" if schedule == "cpu" else "_" + schedule.replace("-", "")
    return f"{row}{budget}{sched}" + (f"_s{seed}" if seed else "") + ".pt"


def export_command(plan: Plan, schedule: str) -> list[str]:
    spec = load(plan.dataset)
    budget = None if plan.budget == spec.budgets[spec.default_budget] else plan.budget  # named when not the default
    model = Path(plan.results) / "models" / model_file_name(plan.row, schedule, plan.seed, budget)
    return ["export", str(plan.run_dir / "checkpoint_best.pt"), "-o", str(model)]


def plan_row(
    dataset: str,
    row: str,
    schedule: str,
    seed: int,
    *,
    budget: int | None = None,
    iters: int | None = None,
    lr: float | None = None,
    gaze_scales: str | None = None,
    gaze_loss_weight: float | None = None,
    gaze_loss_recipe: str = "published",
    under: str | None = None,
    data: str | None = None,
    splits: str | None = None,
    gaze_dir: str | None = None,
    results: str | None = None,
    runs: str | None = None,
    export: bool = False,
    train_timeout: float | None = None,
    size: int | None = None,
    device: str | None = None,
    precision: str | None = None,
) -> Plan:
    """The resolved plan of one row from the dataset's spec and the options given (None: the spec's value).
    ``precision`` is the cpu precision that will run (default: what the schedule name asks for, resolved on this
    machine by cpu_precision: a ``-bf16`` schedule falls back to float32, and is named so, without native bf16)."""
    spec = load(dataset)
    proto = protocol()
    if row not in proto.rows:
        raise SpecError(f"unknown row {row!r}; expected one of {', '.join(proto.rows)}")
    if gaze_loss_recipe not in proto.recipes:
        raise SpecError(f"unknown gaze-loss recipe {gaze_loss_recipe!r}; expected one of {', '.join(proto.recipes)}")
    base, sched_iters, amp = parse_schedule(schedule, proto)
    s = proto.schedules[base]
    iters = iters or sched_iters or s.iterations
    if s.precision == "cpu":
        amp = precision or cpu_precision(amp)
    name = schedule_name(base, iters, amp)
    sub = f"/{under}" if under else ""
    return Plan(
        dataset=dataset,
        row=row,
        budget=budget if budget is not None else spec.labeled,
        seed=seed,
        schedule=name,
        base=base,
        iters=iters,
        amp=amp,
        data=data or f"{shared_data()}/{spec.folder}",
        splits=splits or spec.splits,
        gaze_dir=gaze_dir or spec.store,
        lr=(lr if lr is not None else spec.chosen_value("lr")) if s.lr == "chosen" else None,
        gaze_scales=gaze_scales or spec.chosen_value("gaze_scales", schedule=base),
        gaze_loss_weight=gaze_loss_weight,
        gaze_loss_recipe=gaze_loss_recipe,
        results=results or f"results/{dataset}{sub}",
        runs=runs or f"runs/{dataset}{sub}",
        export=export,
        train_timeout=train_timeout,
        size=size,
        device=device,
    )


# --- the files a row leaves -------------------------------------------------------------------------------------


def summary_columns(dataset: str) -> list[str]:
    classes = load(dataset).classes
    if not classes:
        return ["row", "labeled", "seed", "schedule", "dice", "iou"]
    return ["row", "labeled", "seed", "schedule", *[f"dice_{c}" for c in classes], "dice_mean", "hd95_mean", "asd_mean"]


def summary_values(dataset: str, metrics_csv: Path) -> dict[str, float]:
    """The summary columns of one run from `hgdtgl evaluate`'s metrics.csv (its per-class ``mean`` rows)."""
    rows = [r for r in csv.DictReader(open(metrics_csv)) if r["case"] == "mean"]
    by = {r["class"]: r for r in rows}
    classes = load(dataset).classes
    if not classes:
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


def machine_facts(run_dir: Path) -> dict[str, str]:
    """Precision and CPU capability that a run recorded in its machine.json (blank for runs older than it)."""
    path = run_dir / "machine.json"
    facts = json.loads(path.read_text()) if path.is_file() else {}
    return {"precision": facts.get("precision", ""), "cpu_capability": facts.get("cpu_capability", "")}


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


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def store_sigma(info: dict) -> dict | str:
    """The heatmap sigma a store.json records, as ``{"unit": "deg" | "px" | "frac", "value": v}``."""
    if isinstance(info.get("sigma"), dict):
        return info["sigma"]
    for unit in ("deg", "px", "frac"):
        if info.get(f"sigma_{unit}") is not None:
            return {"unit": unit, "value": info[f"sigma_{unit}"]}
    return "unknown"


def store_inputs(plan: Plan) -> dict | None:
    """What the row's gaze was: the store it read (its path, where the path leads, the sha256 of its store.json,
    sigma and scales as store.json records them), or the packed .npz that holds the heatmaps; None without gaze."""
    if not protocol().rows[plan.row].gaze:
        return None
    if plan.packed:
        return {"path": plan.data, "packed_npz_sha256": sha256(Path(plan.data)) if Path(plan.data).is_file() else ""}
    path = Path(plan.gaze_dir)
    meta = path / "store.json"
    if not meta.is_file():
        return {"path": plan.gaze_dir, "resolved": "unknown", "store_json_sha256": "unknown"}
    info = json.loads(meta.read_text())
    return {
        "path": plan.gaze_dir,
        "resolved": os.path.relpath(path.resolve()) if path.resolve() != path.absolute() else plan.gaze_dir,
        "store_json_sha256": sha256(meta),
        "sigma": store_sigma(info),
        "scales": info.get("scales"),
        "norm": info.get("norm"),
    }


RUNNER_SOURCE = "experiments runner"  # inputs.json written when the row ran (backfill.SOURCE: converted later)


def inputs_record(plan: Plan, commit: str, commands: list[str], schedule: str) -> dict:
    """The inputs.json of a row: every input the run used, so that the row can be rebuilt from it alone."""
    row = protocol().rows[plan.row]
    return {
        "dataset": plan.dataset,
        "row": plan.row,
        "labeled": plan.labeled,
        "seed": plan.seed,
        "schedule": schedule,
        "spec": f"experiments/specs/{plan.dataset}.toml",
        "reproduce": reproduce_command(plan),
        "data": plan.data,
        "splits": plan.splits,
        "store": store_inputs(plan),
        "iterations": plan.iters,
        "lr": plan.lr,
        "gaze_scales": plan.gaze_scales if row.gaze_loss else None,
        "gaze_loss_weight": plan.gaze_loss_weight if row.gaze_loss else None,
        "gaze_loss_recipe": plan.gaze_loss_recipe if row.gaze_loss else None,
        **machine_facts(plan.run_dir),
        "commit": commit,
        "commands": commands,
        "source": RUNNER_SOURCE,
    }


def reproduce_command(plan: Plan) -> str:
    """The one `python -m experiments run` command that rebuilds this row."""
    spec = load(plan.dataset)
    cmd = ["python", "-m", "experiments", "run", plan.dataset, plan.row, "--schedule", plan.schedule]
    cmd += ["--seed", str(plan.seed)]
    if plan.budget != spec.labeled:
        cmd += ["--labeled", str(plan.budget)]
    base_iters = parse_schedule(plan.schedule)[1] or protocol().schedules[plan.base].iterations
    if plan.iters != base_iters:
        cmd += ["--iters", str(plan.iters)]
    if plan.base == "cpu" and plan.lr != spec.chosen_value("lr"):
        cmd += ["--lr", str(plan.lr)]
    row = protocol().rows[plan.row]
    if row.gaze_loss and plan.gaze_scales != spec.chosen_value("gaze_scales", schedule=plan.base):
        cmd += ["--gaze-scales", str(plan.gaze_scales)]
    if row.gaze_loss and plan.gaze_loss_weight is not None:
        cmd += ["--gaze-loss-weight", str(plan.gaze_loss_weight)]
    if row.gaze_loss and plan.gaze_loss_recipe != "published":
        cmd += ["--gaze-loss-recipe", plan.gaze_loss_recipe]
    if plan.data != f"{shared_data()}/{spec.folder}":
        cmd += ["--data", plan.data]
    if plan.splits != spec.splits:
        cmd += ["--splits", str(plan.splits)]
    if row.gaze and plan.gaze_dir != spec.store:
        cmd += ["--gaze-dir", plan.gaze_dir]
    if plan.base == "gpu" and plan.size:
        cmd += ["--size", str(plan.size)]
    if plan.base == "gpu" and plan.device:
        cmd += ["--device", plan.device]
    sub = plan.results.removeprefix(f"results/{plan.dataset}").strip("/")
    if sub and plan.runs == f"runs/{plan.dataset}/{sub}":
        cmd += ["--under", sub]
    elif sub or plan.runs != f"runs/{plan.dataset}":
        cmd += ["--results", plan.results, "--runs", plan.runs]
    return shlex.join(cmd)


def run_one(plan: Plan, commit: str) -> str:
    """Train, evaluate (and export) one row; append it to summary.csv / runs.csv; copy its files and write
    inputs.json. Returns one line saying what happened."""
    py = [sys.executable, "-m", "hgdtgl"]
    run_dir = plan.run_dir
    train, evaluate = train_command(plan), evaluate_command(plan)
    run_dir.mkdir(parents=True, exist_ok=True)
    log = open(run_dir / "log.txt", "a")
    t0 = time.time() - logged_training_seconds(run_dir / "metrics.csv")  # a resumed row keeps its earlier time
    try:
        rc = subprocess.run(py + train, stdout=log, stderr=log, timeout=plan.train_timeout).returncode
    except subprocess.TimeoutExpired:  # the wall-time budget ran out: the best checkpoint so far is evaluated
        rc = 0 if (run_dir / "checkpoint_best.pt").is_file() else 1
    if rc != 0:
        return f"{plan.name}: train FAILED (see {run_dir}/log.txt)"
    t1 = time.time()
    done_iters = last_iteration(run_dir / "metrics.csv")
    # a row stopped by the wall-time budget is never mixed with full ones: schedule "<name>-partial"
    full = done_iters >= planned_iterations(run_dir / "config.yaml")
    schedule = plan.schedule if full else f"{plan.schedule}-partial"
    res_dir = Path(plan.results) / schedule / plan.name
    if subprocess.run(py + evaluate, stdout=log, stderr=log).returncode != 0:
        return f"{plan.name}: evaluate FAILED (see {run_dir}/log.txt)"
    t2 = time.time()
    res_dir.mkdir(parents=True, exist_ok=True)
    for f in ("metrics.csv", "config.yaml", "val_metrics.csv"):
        if (run_dir / f).is_file():
            shutil.copy(run_dir / f, res_dir / f)
    cmd_train = "hgdtgl " + shlex.join(train)
    commands = [cmd_train, "hgdtgl " + shlex.join(evaluate)]
    if plan.export:
        export = export_command(plan, schedule)
        Path(export[-1]).parent.mkdir(parents=True, exist_ok=True)
        if subprocess.run(py + export, stdout=log, stderr=log).returncode != 0:
            return f"{plan.name}: export FAILED (see {run_dir}/log.txt)"
        commands.append("hgdtgl " + shlex.join(export))
    (res_dir / "command.txt").write_text("\n".join(commands) + "\n")
    record = inputs_record(plan, commit, commands, schedule)
    (res_dir / "inputs.json").write_text(json.dumps(record, indent=1) + "\n")
    key = {"row": plan.row, "labeled": plan.labeled, "seed": plan.seed, "schedule": schedule}
    vals = summary_values(plan.dataset, run_dir / "val_metrics.csv")
    append_row(Path(plan.results) / "summary.csv", summary_columns(plan.dataset), {**key, **vals})
    runs_row = {**key, "iterations": done_iters, "wall_train_s": round(t1 - t0), "wall_eval_s": round(t2 - t1)}
    runs_row |= {"commit": commit, **machine_facts(run_dir), "command": cmd_train}
    append_row(Path(plan.results) / "runs.csv", RUNS_COLUMNS, runs_row)
    return f"{plan.name}: " + ", ".join(f"{k} {v:.4f}" for k, v in vals.items()) + f" (train {t1 - t0:.0f} s)"


def run_many(plans: list[Plan], jobs: int = 1, dry_run: bool = False, echo=print) -> list[str]:
    """Run the plans not yet in their summary.csv, ``jobs`` at a time; ``dry_run`` prints the commands only."""
    todo = []
    for plan in plans:
        key = (plan.row, str(plan.labeled), str(plan.seed), plan.schedule)
        if key in done_keys(Path(plan.results) / "summary.csv"):
            echo(f"skip {plan.row} labeled {plan.labeled} seed {plan.seed} {plan.schedule}: already in summary.csv")
            continue
        todo.append(plan)
    if dry_run:
        for plan in todo:
            echo("hgdtgl " + shlex.join(train_command(plan)))
            echo("hgdtgl " + shlex.join(evaluate_command(plan)))
            if plan.export:
                echo("hgdtgl " + shlex.join(export_command(plan, plan.schedule)))
        return []
    commit = code_commit()
    out = []
    with ThreadPoolExecutor(max_workers=max(jobs, 1)) as pool:
        for msg in pool.map(lambda p: run_one(p, commit), todo):
            echo(msg)
            out.append(msg)
    return out


def campaign_plans(dataset: str, **options) -> list[Plan]:
    """The plans of a dataset's campaign (its spec's [[campaign]] steps, in order)."""
    spec: Dataset = load(dataset)
    plans = []
    for step in spec.campaign:
        for seed in step.seeds:
            for row in step.rows:
                opts = {"export": step.export} | options
                plans.append(plan_row(dataset, row, step.schedule, seed, budget=spec.budgets[step.budget], **opts))
    return plans
