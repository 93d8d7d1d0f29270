"""Sweeps that choose a value on the validation split (``python -m experiments sweep DATASET NAME``) and the
confirmation of a chosen gaze-loss weight on more seeds (``python -m experiments confirm DATASET``).

Each sweep trains its spec's row (seed 0, the default budget) once per candidate into its own sub-tree, resumable,
and writes the table of the choice; the chosen value itself lives in the dataset's spec ([chosen.<name>], with that
table as its ``sweep``), so a new choice is a reviewed edit of the spec, never a side file:

- ``lr``: results/<dataset>/lr_sweep/lr_<LR>/ -> results/lr_sweep.csv (dataset, row, labeled, lr, dice);
- ``gaze-scales``: results/<dataset>/scale_choice/scales_<S>/ -> results/<dataset>/scale_choice.csv;
- ``gaze-loss-weight``: results/<dataset>/gaze_weight/[<recipe>/]w_<W>/ (``--gaze-loss-recipe``); the table of the
  choice over every recipe, results/<dataset>/gaze_weight.csv, is written by ``python -m experiments tables``
  with the results tables.
"""

from __future__ import annotations

import csv
from pathlib import Path

from experiments.runner import Plan, plan_row
from experiments.spec import SpecError, load

SWEEPS = {"lr": "lr", "gaze-scales": "gaze_scales", "gaze-loss-weight": "gaze_loss_weight"}


def _tag(value) -> str:
    return str(value).replace(",", "-")


def sweep_under(name: str, value, recipe: str = "published") -> str:
    """The sub-tree of one candidate's run (results/<dataset>/<under>/, runs/<dataset>/<under>/)."""
    if name == "lr":
        return f"lr_sweep/lr_{value}"
    if name == "gaze_scales":
        return f"scale_choice/scales_{_tag(value)}"
    return f"gaze_weight/w_{value}" if recipe == "published" else f"gaze_weight/{recipe}/w_{value}"


def sweep_plans(dataset: str, name: str, values=None, recipe: str = "published", **options) -> list[Plan]:
    """One plan per candidate value of the dataset's sweep ``name`` (lr | gaze_scales | gaze_loss_weight)."""
    spec = load(dataset)
    if name not in spec.sweeps:
        raise SpecError(f"{dataset}.toml: no [sweeps.{name}]; sweeps of {dataset}: {', '.join(spec.sweeps) or 'none'}")
    sw = spec.sweeps[name]
    plans = []
    for v in values or sw.values:
        v = str(v) if name == "gaze_scales" else float(v)
        opts = dict(options)
        if name == "lr":
            opts["lr"] = v
        elif name == "gaze_scales":
            opts["gaze_scales"] = v
        else:
            opts |= {"gaze_loss_weight": v, "gaze_loss_recipe": recipe}
        plans.append(plan_row(dataset, sw.row, sw.schedule, 0, under=sweep_under(name, v, recipe), **opts))
    return plans


def _dice(r: dict) -> float:
    return float(r["dice"] if "dice" in r else r["dice_mean"])


def write_sweep_table(dataset: str, name: str, recipe: str = "published", results: Path = Path("results")) -> str:
    """Collect the candidates' summary.csv into the sweep's table; returns lines naming each value and the best."""
    res = results / dataset
    lines = []
    if name == "lr":
        out = results / "lr_sweep.csv"
        old = [r for r in _read(out) if r["dataset"] != dataset]
        rows = []
        for p in sorted((res / "lr_sweep").glob("lr_*/summary.csv")):
            for r in _read(p):
                rows.append({"dataset": dataset, "row": r["row"], "labeled": r["labeled"], "lr": p.parent.name[3:]})
                rows[-1]["dice"] = _dice(r)
        _write(out, ["dataset", "row", "labeled", "lr", "dice"], old + rows)
        key = "lr"
    elif name == "gaze_scales":
        out = res / "scale_choice.csv"
        rows = []
        for p in sorted((res / "scale_choice").glob("scales_*/summary.csv")):
            for r in _read(p):
                scales = p.parent.name.removeprefix("scales_").replace("-", ",")
                rows.append({"gaze_scales": scales, "dice": _dice(r), "iou": r.get("iou", "")})
        _write(out, ["gaze_scales", "dice", "iou"], rows)
        key = "gaze_scales"
    else:  # the table (every recipe: recipe, gaze_loss_weight, schedule, dice) is python -m experiments tables'
        tree = res / "gaze_weight" if recipe == "published" else res / "gaze_weight" / recipe
        out = res / "gaze_weight.csv (written by python -m experiments tables, every recipe)"
        rows = []
        for p in sorted(tree.glob("w_*/summary.csv")):
            rows += [{"gaze_loss_weight": p.parent.name[2:], "dice": _dice(r)} for r in _read(p) if r["seed"] == "0"]
        key = "gaze_loss_weight"
    for r in rows:
        lines.append(f"{dataset} {name} {r[key]}: val Dice {float(r['dice']) * 100:.2f}")
    if rows:
        best = max(rows, key=lambda r: float(r["dice"]))[key]
        spec = load(dataset)
        now = spec.chosen[name].value if name in spec.chosen else "none"
        lines.append(f"best: {best} -> {out}; the spec's [chosen.{name}] of experiments/specs/{dataset}.toml: {now}")
    return "\n".join(lines)


def confirm_plans(dataset: str, weight: float | None = None, seeds=None, recipe: str | None = None, **options):
    """HG-DTGL at the chosen gaze-loss weight (into chosen_gaze_weight/[<recipe>/]w_W/) and the row without the gaze
    loss (into the dataset's table) on the sweep's confirm seeds, so the weight's effect is paired over seeds."""
    spec = load(dataset)
    if "gaze_loss_weight" not in spec.sweeps:
        raise SpecError(f"{dataset}.toml: no [sweeps.gaze_loss_weight] to confirm")
    sw = spec.sweeps["gaze_loss_weight"]
    chosen = spec.chosen.get("gaze_loss_weight")
    if weight is None and chosen is None:
        raise SpecError(f"{dataset}.toml: no [chosen.gaze_loss_weight]; give --weight")
    weight = float(weight if weight is not None else chosen.value)
    recipe = recipe or (chosen.recipe if chosen and chosen.recipe else "published")
    under = f"chosen_gaze_weight/w_{weight}" if recipe == "published" else f"chosen_gaze_weight/{recipe}/w_{weight}"
    plans = []
    for seed in seeds or sw.confirm_seeds:
        plans.append(plan_row(dataset, "hgdtgl", sw.schedule, seed, gaze_loss_weight=weight, gaze_loss_recipe=recipe,
                              under=under, **options))  # fmt: skip
    for seed in seeds or sw.confirm_seeds:
        plans.append(plan_row(dataset, "hgdtgl_no_gazeloss", sw.schedule, seed, **options))
    return plans


def _read(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path))) if path.is_file() else []


def _write(path: Path, columns: list[str], rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=columns)
        w.writeheader()
        w.writerows(rows)
