"""The README's table of trained models: one line per ``results/<dataset>/models/*.pt``.

    python -m experiments model-table                 # rewrite the table in README.md between the markers
    python -m experiments model-table --check         # exit 1 when README.md's table is not what this writes
    python -m experiments model-table --readme ''     # print the table

Each file is a student exported by ``hgdtgl export`` (fp16, loaded with ``torch.load(weights_only=True)``). Its
name says which run it is: ``<row>[_<schedule without dashes>][_s<seed>].pt``, the schedule ``cpu`` and seed 0
left out (``hgdtgl.pt`` = row ``hgdtgl``, schedule ``cpu``, seed 0; ``mt_cpu12000bf16_s2.pt`` = row ``mt``,
schedule ``cpu-12000-bf16``, seed 2). The labeled count and the input size come from the file's metadata, the
validation Dice from ``results/<dataset>/summary.csv`` (the row's ``hgdtgl evaluate`` on the validation split at
the images' own size: ``dice`` for binary sets, ``dice_mean`` over the classes otherwise).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from experiments import spec as specs
from experiments.tables import ROW_ORDER as ROWS  # the one list of result rows
from experiments.tables import table_rows  # summary.csv + the chosen gaze-loss setting's rows

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- model-table:begin -->", "<!-- model-table:end -->"
SPECS = specs.all_datasets()
DATASETS = {name: spec.title for name, spec in SPECS.items()}
INPUT = {"images": "IMAGES", "ssl4mis": "VOLUMES"}  # what `hgdtgl predict` reads, by the spec's data format
NAME = re.compile(
    r"^(?P<row>[a-z_]+?)(?:_l(?P<labeled>\d+))?(?:_(?P<sched>(?:cpu|gpu)[a-z0-9]*))?(?:_s(?P<seed>\d+))?\.pt$"
)


def model_files(results: Path) -> list[Path]:
    """The committed ``*.pt`` files under ``results/*/models/`` (every such file when git cannot tell)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--", "*/models/*.pt"], cwd=results, capture_output=True, text=True, check=True
        ).stdout.split()
        files = [results / p for p in out if len(Path(p).parts) == 3]
    except (OSError, subprocess.CalledProcessError):
        files = []
    return sorted(files or results.glob("*/models/*.pt"))


def parse_name(path: Path, schedules: list[str]) -> tuple[str, str, int, int | None]:
    """(row, schedule, seed, labeled or None for the default budget) from the file name; the schedule token is the
    summary's schedule without dashes."""
    m = NAME.match(path.name)
    if not m or m["row"] not in ROWS:
        raise SystemExit(f"{path}: expected <row>[_l<labeled>][_<schedule>][_s<seed>].pt with a row of {ROWS}")
    token = m["sched"] or "cpu"
    matches = sorted({s for s in schedules if s.replace("-", "") == token})
    if len(matches) != 1:
        raise SystemExit(f"{path}: schedule {token!r} is none of summary.csv's {sorted(set(schedules))}")
    return m["row"], matches[0], int(m["seed"] or 0), int(m["labeled"]) if m["labeled"] else None


def model_rows(results: Path) -> list[dict]:
    import torch

    rows = []
    for path in model_files(results):
        dataset = path.parent.parent.name
        if dataset not in DATASETS:
            raise SystemExit(f"{path}: unknown dataset folder {dataset!r} (known: {list(DATASETS)})")
        summary = table_rows(results / dataset)[0]
        row, schedule, seed, budget = parse_name(path, [r["schedule"] for r in summary])
        meta = torch.load(path, map_location="cpu", weights_only=True)
        config, model = meta["config"], meta["model"]
        if not row.startswith(config["method"]):
            raise SystemExit(f"{path}: the name says row {row!r}, the file was trained as {config['method']}")
        hits = [r for r in summary if (r["row"], r["schedule"], int(r["seed"])) == (row, schedule, seed)]
        if budget is not None:  # a budget other than the default one, named in the file
            hits = [r for r in hits if int(r["labeled"]) == budget]
        elif len(hits) > 1:  # several label budgets: the default one
            spec = SPECS[dataset]
            hits = [r for r in hits if int(r["labeled"]) == spec.budgets[spec.default_budget]]
        if len(hits) != 1:
            raise SystemExit(f"{path}: {len(hits)} rows of summary.csv for {row}, {schedule}, seed {seed}")
        labeled = int(hits[0]["labeled"])  # cases (images, patients) as the tables count them
        if config.get("labeled") is not None and int(config["labeled"]) != labeled:
            raise SystemExit(f"{path}: the name says {labeled} labeled, the file was trained with {config['labeled']}")
        dice = float(hits[0].get("dice_mean") or hits[0]["dice"]) * 100
        rows.append(
            {
                "path": path.relative_to(results.parent).as_posix(),
                "dataset": dataset,
                "row": row,
                "schedule": schedule,
                "seed": seed,
                "labeled": labeled,
                "dice": dice,
                "size": int(model["size"]),
                "channels": "RGB" if int(model["in_channels"]) == 3 else "grey",
                "classes": ", ".join(meta["data"]["class_names"]),
            }
        )
    order = list(DATASETS)
    rows.sort(key=lambda r: (order.index(r["dataset"]), r["schedule"], ROWS.index(r["row"]), r["seed"]))
    return rows


def table(results: Path) -> str:
    """One table per dataset (its classes and gaze in the line above it), one line per model file."""
    rows = model_rows(results)
    out = []
    for dataset, title in DATASETS.items():
        mine = [r for r in rows if r["dataset"] == dataset]
        if not mine:
            continue
        gaze = "real gaze" if dataset == "kvasir" else "simulated gaze"
        classes = mine[0]["classes"]
        if classes == "class_1" and SPECS[dataset].foreground:
            classes = f"{SPECS[dataset].foreground} (`class_1`)"
        out += [
            f"**{title}** ({gaze}; classes: {classes})",
            "",
            "| model | row | schedule | labeled | seed | val Dice % | input | segment a folder |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in mine:
            name = Path(r["path"]).name
            predict = f"`hgdtgl predict {r['path']} {INPUT[SPECS[dataset].format]} -o OUT`"
            out.append(
                f"| [`{name}`]({r['path']}) | `{r['row']}` | `{r['schedule']}` | {r['labeled']} | {r['seed']} "
                f"| {r['dice']:.2f} | {r['size']} px {r['channels']} | {predict} |"
            )
        out.append("")
    return "\n".join(out)


def replace_block(text: str, block: str) -> str:
    if BEGIN not in text or END not in text:
        raise SystemExit(f"markers {BEGIN} / {END} not found")
    head, rest = text.split(BEGIN, 1)
    return head + BEGIN + "\n" + block + END + rest.split(END, 1)[1]


def update(readme: Path, block: str, check: bool = False) -> bool:
    """Write ``block`` between the markers of ``readme``; with ``check``, write nothing and say whether the file's
    table already is ``block``."""
    text = readme.read_text(encoding="utf-8")
    new = replace_block(text, block)
    if check:
        return new == text
    readme.write_text(new, encoding="utf-8")
    return True
