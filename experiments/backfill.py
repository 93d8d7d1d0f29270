"""One-off conversion of the rows trained before the experiments runner: an ``inputs.json`` for every row folder
under results/ that has a command.txt, from what the folder and its table recorded (command.txt, config.yaml, the
row's line of runs.csv) and from the spec. Nothing is retrained; what cannot be known is written ``unknown``:
the store's store.json was not recorded then, so its digest is unknown; its sigma is the one the store's maker used,
with the file that says so. ``reproduce`` is today's `python -m experiments run` command of the row, and
``reproduce_matches_recorded`` says whether its train command equals the recorded one token for token (when not:
rows trained by older code, ``reproduce_differs`` lists each option that differs as [recorded, today], null when
absent)."""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import yaml

from experiments.runner import plan_row, reproduce_command, train_command
from experiments.spec import DATASETS, SpecError, load, parse_schedule, protocol

NAME_RE = re.compile(r"^(?P<row>.+)_l(?P<labeled>\d+)_s(?P<seed>\d+)$")
SOURCE = "converted by `python -m experiments record-inputs` from command.txt, config.yaml and runs.csv"
# who made each dataset's store, and so its sigma (the stores themselves are not in the repository)
STORE_MAKER = {
    "kvasir": "examples/kvasir/make_gaze.sh (now python -m experiments gaze kvasir) linked runs/kvasir/store to the "
    "store of the best sigma of results/kvasir/sigma_choice.csv",
    "acdc": "examples/acdc/simulate_training_gaze.py renders runs/acdc/store with --sigma-frac 0.05",
    "camus": "the simulated gaze of CAMUS (examples/simulated_gaze.sh, now python -m experiments gaze camus) renders "
    "runs/camus/store with --sigma-frac 0.05",
    "scr": "the simulated gaze of SCR (examples/simulated_gaze.sh, now python -m experiments gaze scr) renders "
    "runs/scr/store with --sigma-frac 0.05",
}


def _option(cmd: list[str], name: str) -> str | None:
    """The value of the last ``name`` option of a command (None when absent)."""
    idx = [i for i, tok in enumerate(cmd) if tok == name]
    return cmd[idx[-1] + 1] if idx and idx[-1] + 1 < len(cmd) else None


def _recipe(cmd: list[str]) -> str:
    """The named gaze-loss recipe whose switches the command carries (published when none)."""
    best = "published"
    for name, args in protocol().recipes.items():
        if args and all(a in cmd for a in args) and len(args) > len(protocol().recipes[best]):
            best = name
    return best


def _runs_line(results_root: Path, key: tuple[str, str, str, str]) -> dict:
    """The row's line of the runs.csv that sits above its schedule folder (blank dict when none)."""
    path = results_root / "runs.csv"
    if not path.is_file():
        return {}
    for r in csv.DictReader(open(path)):
        if (r["row"], r["labeled"], r["seed"], r["schedule"]) == key:
            return r
    return {}


def _store(dataset: str, cmd: list[str], uses_gaze: bool) -> dict | None:
    if not uses_gaze:
        return None
    data = _option(cmd, "--data") or ""
    spec = load(dataset)
    sigma = spec.chosen.get("sigma")
    known = {"value": sigma.value, "unit": sigma.unit, "known_from": STORE_MAKER[dataset]} if sigma else "unknown"
    if data.endswith(".npz"):
        return {"path": data, "packed_from": "runs/kvasir/store (examples/kvasir/pack.sh)", "sigma": known,
                "store_json_sha256": "unknown", "scales": "unknown"}  # fmt: skip
    path = _option(cmd, "--gaze-dir")
    if path != spec.store:
        known = "unknown"
    return {"path": path, "store_json_sha256": "unknown", "sigma": known, "scales": "unknown"}


def record_for(row_dir: Path, results: Path) -> dict | None:
    """The inputs.json of one existing row folder, or None when the folder is not a row's (no command.txt)."""
    command = row_dir / "command.txt"
    if not command.is_file():
        return None
    rel = row_dir.relative_to(results)
    dataset = rel.parts[0]
    if dataset not in DATASETS:
        return None
    lines = [s for s in command.read_text().splitlines() if s.strip()]
    train = shlex.split(lines[0])[1:]
    cfg = yaml.safe_load((row_dir / "config.yaml").read_text()) if (row_dir / "config.yaml").is_file() else {}
    m = NAME_RE.match(row_dir.name)
    row, labeled, seed = (m["row"], m["labeled"], m["seed"]) if m else (row_dir.name, "unknown", "unknown")
    schedule = row_dir.parent.name
    table_root = row_dir.parent.parent
    line = _runs_line(table_root, (row, labeled, seed, schedule))
    under = str(table_root.relative_to(results / dataset)) if table_root != results / dataset else ""
    proto = protocol()
    gaze_row = proto.rows[row].gaze if row in proto.rows else bool(_option(train, "--gaze-dir"))
    gaze_loss_row = proto.rows[row].gaze_loss if row in proto.rows else False
    amp = cfg.get("amp")
    precision = line.get("precision") or ("unknown" if amp in (None, "auto") else "fp32" if amp == "none" else amp)
    record = {
        "dataset": dataset,
        "row": row,
        "labeled": int(labeled) if labeled.isdigit() else labeled,
        "seed": int(seed) if seed.isdigit() else seed,
        "schedule": schedule,
        "spec": f"experiments/specs/{dataset}.toml",
        "reproduce": "unknown",
        "reproduce_matches_recorded": False,
        "data": _option(train, "--data"),
        "splits": str(Path(_option(train, "--train-list")).parent) if _option(train, "--train-list") else None,
        "store": _store(dataset, train, gaze_row),
        "iterations": cfg.get("iterations", _option(train, "--iterations")),
        "lr": cfg.get("lr", "unknown"),
        "gaze_scales": ",".join(str(s) for s in cfg.get("gaze_scales", [])) if gaze_loss_row and cfg else None,
        "gaze_loss_weight": cfg.get("gaze_loss_weight", "unknown") if gaze_loss_row else None,
        "gaze_loss_recipe": _recipe(train) if gaze_loss_row else None,
        "precision": precision,
        "cpu_capability": line.get("cpu_capability") or "unknown",
        "commit": line.get("commit") or "unknown",
        "commands": lines,
        "source": SOURCE,
    }
    try:
        plan = _plan(dataset, row, schedule, int(seed), train, under)
    except (SpecError, ValueError, KeyError):
        return record
    now = train_command(plan)
    record["reproduce"] = reproduce_command(plan)
    record["reproduce_matches_recorded"] = now == train
    if now != train:
        rec, today = _options(train), _options(now)
        record["reproduce_differs"] = {
            opt: [rec.get(opt), today.get(opt)] for opt in {**rec, **today} if rec.get(opt) != today.get(opt)
        }
    return record


def _options(cmd: list[str]) -> dict[str, str]:
    """Option -> value of a command (flags get ``true``; a repeated option keeps its last value, as the parser)."""
    out = {}
    for i, tok in enumerate(cmd):
        if tok.startswith("--"):
            nxt = cmd[i + 1] if i + 1 < len(cmd) else ""
            out[tok] = nxt if nxt and not nxt.startswith("--") else "true"
    return out


def _plan(dataset: str, row: str, schedule: str, seed: int, train: list[str], under: str):
    """Today's plan of a recorded row: its schedule, budget, iterations and the options its command carried."""
    base, _, amp = parse_schedule(schedule.removesuffix("-partial"))
    weight = _option(train, "--gaze-loss-weight")
    lr = _option(train, "--lr")
    return plan_row(
        dataset,
        row,
        schedule.removesuffix("-partial"),
        seed,
        budget=int(_option(train, "--labeled") or load(dataset).labeled),
        iters=int(_option(train, "--iterations")),
        lr=float(lr) if lr else None,
        gaze_scales=_option(train, "--gaze-scales") or "",
        gaze_loss_weight=float(weight) if weight else None,
        gaze_loss_recipe=_recipe(train),
        under=under or None,
        data=_option(train, "--data"),
        precision=amp,
        size=int(_option(train, "--size")) if base == "gpu" else None,
        device=_option(train, "--device") if base == "gpu" else None,
    )


def backfill(results: Path, overwrite: bool = False) -> int:
    """Write inputs.json into every row folder under ``results`` that lacks one (``overwrite``: also those this
    converter wrote before); returns how many were written."""
    n = 0
    for command in sorted(results.glob("*/**/command.txt")):
        out = command.parent / "inputs.json"
        if out.is_file() and not (overwrite and json.loads(out.read_text()).get("source") == SOURCE):
            continue
        record = record_for(command.parent, results)
        if record is None:
            continue
        out.write_text(json.dumps(record, indent=1) + "\n")
        n += 1
    return n
