"""``python -m experiments``: the result rows of every dataset from their specs (experiments/specs/*.toml).

\b
    python -m experiments run kvasir hgdtgl --schedule cpu-12000-bf16 --seed 1      # one row, as in the README
    python -m experiments campaign acdc --jobs 2                                    # the spec's campaign, resumable
    python -m experiments campaign camus --rows supervised,hgdtgl --seeds 1,2 --schedule cpu
    python -m experiments sweep acdc gaze-loss-weight                               # candidates of [sweeps.*]
    python -m experiments confirm kvasir                                            # the chosen weight, seeds 1-2
    python -m experiments split scr                                                 # results/scr/splits
    python -m experiments gaze camus                                                # the store of the gaze rows
    python -m experiments show kvasir                                               # the spec, resolved
    python -m experiments tables                                                    # docs/results.md, commands.md
    python -m experiments model-table --check                                       # README's model table

Every command runs from the repository root; ``--dry-run`` prints the `hgdtgl` commands instead of running them.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import click

from experiments import figures, model_table, runner, splits, sweeps, tables
from experiments.spec import DATASETS, SpecError, load, protocol

DATASET = click.Choice(DATASETS)


def _ints(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        return [int(s) for s in text.split(",") if s]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}") from None


def _common(f):
    """Options every training command shares (None: the spec's value)."""
    opts = [
        click.option("--iters", type=int, default=None, help="(self-)training iterations (default: the schedule's)"),
        click.option("--lr", type=float, default=None, help="cpu schedule: learning rate (default: [chosen.lr])"),
        click.option("--gaze-scales", default=None, help="decoder levels of the gaze loss ([chosen.gaze_scales])"),
        click.option("--data", default=None, help="dataset folder or packed .npz (default: shared data + spec)"),
        click.option("--splits", default=None, help="split lists folder (default: the spec's)"),
        click.option("--gaze-dir", default=None, help="heatmap store (default: the spec's store)"),
        click.option("--results", default=None, help="default results/<dataset>[/<under>]"),
        click.option("--runs", default=None, help="run folders (checkpoints), default runs/<dataset>[/<under>]"),
        click.option("--under", default=None, help="sub-tree of results/<dataset> and runs/<dataset>"),
        click.option("--train-timeout", type=float, default=None, help="seconds; then the best checkpoint is used"),
        click.option("--size", type=int, default=None, help="gpu schedule: input size (a packed .npz's size)"),
        click.option("--device", default=None, help="gpu schedule: torch device (cpu: a dry run of the GPU script)"),
        click.option("--dry-run", is_flag=True, help="print the hgdtgl commands, run nothing"),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _options(kw: dict) -> dict:
    keys = ("iters", "lr", "gaze_scales", "data", "splits", "gaze_dir", "results", "runs", "under", "train_timeout")
    return {k: kw[k] for k in (*keys, "size", "device") if kw.get(k) is not None}


def _go(plans, jobs: int, dry_run: bool) -> None:
    msgs = runner.run_many(plans, jobs=jobs, dry_run=dry_run, echo=lambda m: click.echo(m))
    if any("FAILED" in m for m in msgs):
        sys.exit(1)


class _Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SpecError as e:
            raise click.ClickException(str(e)) from None


@click.group(cls=_Group, help=__doc__)
def main() -> None:
    pass


@main.command()
@click.argument("dataset", type=DATASET)
@click.argument("row")
@click.option("--schedule", required=True, help="cpu, cpu-<iters>, cpu[-<iters>]-bf16 or gpu")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--labeled", type=int, default=None, help="label budget (default: the spec's default budget)")
@click.option("--gaze-loss-weight", type=float, default=None, help="lambda of the gaze loss (default: hgdtgl's)")
@click.option("--gaze-loss-recipe", default="published", show_default=True, help="protocol.toml [recipes]")
@click.option("--export/--no-export", default=True, show_default=True, help="fp16 student -> RESULTS/models/")
@_common
def run(dataset, row, schedule, seed, labeled, gaze_loss_weight, gaze_loss_recipe, export, dry_run, **kw):
    """Train, evaluate and export ONE row; write its files and inputs.json into its row folder."""
    plan = runner.plan_row(dataset, row, schedule, seed, budget=labeled, gaze_loss_weight=gaze_loss_weight,
                           gaze_loss_recipe=gaze_loss_recipe, export=export, **_options(kw))  # fmt: skip
    _go([plan], 1, dry_run)


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--rows", default=None, help="comma-separated rows (default: the spec's [[campaign]] steps)")
@click.option("--seeds", default=None, help="comma-separated seeds (with --rows; default 0)")
@click.option("--schedule", default=None, help="with --rows: the schedule (default: the campaign's first)")
@click.option("--labeled", type=int, default=None, help="with --rows: the label budget")
@click.option("--gaze-loss-weight", type=float, default=None)
@click.option("--gaze-loss-recipe", default="published", show_default=True)
@click.option("--export/--no-export", default=None, help="default: as the campaign step says (--rows: no)")
@click.option("--jobs", type=int, default=2, show_default=True, help="rows trained at the same time")
@_common
def campaign(dataset, rows, seeds, schedule, labeled, gaze_loss_weight, gaze_loss_recipe, export, jobs, dry_run, **kw):
    """Several rows, resumable: rows in summary.csv are skipped, an interrupted run resumes from its checkpoint."""
    opts = _options(kw) | {"gaze_loss_weight": gaze_loss_weight, "gaze_loss_recipe": gaze_loss_recipe}
    if rows is None and (seeds or schedule or labeled is not None):
        raise click.UsageError("--seeds, --schedule and --labeled go with --rows (without it: the spec's campaign)")
    if rows is None:
        if export is not None:
            opts["export"] = export
        plans = runner.campaign_plans(dataset, **opts)
    else:
        spec = load(dataset)
        schedule = schedule or (spec.campaign[0].schedule if spec.campaign else "cpu")
        plans = [
            runner.plan_row(dataset, row, schedule, seed, budget=labeled, export=bool(export), **opts)
            for seed in _ints(seeds) or [0]
            for row in rows.split(",")
        ]
    _go(plans, jobs, dry_run)


@main.command()
@click.argument("dataset", type=DATASET)
@click.argument("name", type=click.Choice(list(sweeps.SWEEPS)))
@click.option("--values", default=None, help="comma-separated candidates (default: the spec's); gaze-scales: ';'")
@click.option("--gaze-loss-recipe", default="published", show_default=True, help="gaze-loss-weight sweep")
@click.option("--jobs", type=int, default=2, show_default=True)
@_common
def sweep(dataset, name, values, gaze_loss_recipe, jobs, dry_run, **kw):
    """Train the candidates of the spec's [sweeps.NAME] (seed 0) and write the table that chooses among them."""
    key = sweeps.SWEEPS[name]
    vals = None if values is None else values.split(";" if key == "gaze_scales" else ",")
    opts = {k: v for k, v in _options(kw).items() if k not in ("under", key)}
    plans = sweeps.sweep_plans(dataset, key, vals, recipe=gaze_loss_recipe, **opts)
    _go(plans, jobs, dry_run)
    if not dry_run:
        click.echo(sweeps.write_sweep_table(dataset, key, gaze_loss_recipe))


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--weight", type=float, default=None, help="default: the spec's [chosen.gaze_loss_weight]")
@click.option("--seeds", default=None, help="default: [sweeps.gaze_loss_weight] confirm_seeds")
@click.option("--gaze-loss-recipe", default=None, help="default: the chosen weight's recipe")
@click.option("--jobs", type=int, default=2, show_default=True)
@_common
def confirm(dataset, weight, seeds, gaze_loss_recipe, jobs, dry_run, **kw):
    """HG-DTGL at the chosen gaze-loss weight and the row without the gaze loss, on more seeds."""
    opts = {k: v for k, v in _options(kw).items() if k != "under"}
    plans = sweeps.confirm_plans(dataset, weight, _ints(seeds), gaze_loss_recipe, **opts)
    _go(plans, jobs, dry_run)


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--shared-data", default=None, help="default: GAZEKIT_SHARED_DATA or ../shared/data")
@click.option("--seed", type=int, default=None, help="default: the spec's [split] seed")
@click.option("-o", "--output", default=None, help="default: the spec's splits folder")
def split(dataset, shared_data, seed, output):
    """Write the split lists of a dataset (its spec's [split])."""
    spec = load(dataset)
    out = Path(output or spec.splits or f"results/{dataset}/splits")
    click.echo(splits.make_split(spec, Path(shared_data or runner.shared_data()), out, seed))


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--work", default=None, help="default runs/DATASET (the spec's store is WORK/store)")
@click.option("--shared-data", default=None, help="default: GAZEKIT_SHARED_DATA or ../shared/data")
def gaze(dataset, work, shared_data):
    """The heatmap store of a dataset's gaze rows (its spec's [gaze]) -> WORK/store.

    \b
    kvasir (real gaze): gazekit convert of the GazeMedSeg fixations, one store per candidate sigma, the heatmap
      thresholded at 0.5 against the validation masks (results/kvasir/sigma_choice.csv), WORK/store -> the store of
      the spec's [chosen.sigma];
    acdc (SIMULATED): examples/acdc/simulate_training_gaze.py (training volumes stacked from the slices);
    camus, scr (SIMULATED): links to the training label maps only (validation images get no gaze), gazekit
      simulate --seed 0 (the reader statistics fitted to the real Kvasir gaze), convert, render-heatmaps at the
      spec's [chosen.sigma]."""
    spec = load(dataset)
    work = Path(work or f"runs/{dataset}")
    shared = Path(shared_data or runner.shared_data())
    recipe = spec.gaze_recipe
    if recipe.get("script"):
        script = [sys.executable, recipe["script"], "--acdc", str(shared / spec.folder), "--work", str(work)]
        if subprocess.run(script).returncode != 0:
            raise click.ClickException(f"{recipe['script']} failed")
        return
    root = shared / spec.folder
    py = [sys.executable, "-m", "gazekit"]
    render = list(recipe.get("render", []))
    work.mkdir(parents=True, exist_ok=True)
    if recipe.get("fixations"):  # real gaze: one store per candidate sigma, the spec's choice linked as the store
        steps = [["convert", str(root / recipe["fixations"]), "-o", str(work / "fixations.parquet")]]
        stores = []
        for sigma in recipe["sigma_candidates"]:
            stores.append(work / f"store_sigma{sigma}")
            steps.append(["render-heatmaps", str(work / "fixations.parquet"), "-o", str(stores[-1]), "--stimuli",
                          str(root / "images"), "--sigma-frac", str(sigma), *render])  # fmt: skip
        for cmd in steps:
            if subprocess.run(py + cmd).returncode != 0:
                raise click.ClickException(f"gazekit {cmd[0]} failed")
        choice = Path(spec.chosen["sigma"].sweep)
        only = [sys.executable, "examples/kvasir/gaze_only.py", *[a for s in stores for a in ("--store", str(s))]]
        only += ["--val-list", f"{spec.splits}/val.list", "--shared-data", str(shared), "-o", str(choice)]
        only += ["--cases", str(choice.parent / tables.GAZE_ONLY_CASES)]  # the per-image scores of the paired tables
        if subprocess.run(only).returncode != 0:
            raise click.ClickException("examples/kvasir/gaze_only.py failed")
        link = work / "store"
        if link.is_symlink():
            link.unlink()
        link.symlink_to(f"store_sigma{spec.chosen_value('sigma')}")
        click.echo(
            f"{link} -> store_sigma{spec.chosen_value('sigma')} (the spec's [chosen.sigma]; the sweep: {choice})"
        )
        return
    lst = Path(spec.splits) / "train.list"  # simulated gaze on the training label maps
    if not lst.is_file():
        raise click.ClickException(f"{lst}: missing (run python -m experiments split {dataset} first)")
    masks = work / "train_masks"
    if masks.exists():
        for p in masks.iterdir():
            p.unlink()
    masks.mkdir(parents=True, exist_ok=True)
    for name in lst.read_text().split():
        (masks / f"{name}.png").symlink_to((root / "masks" / f"{name}.png").resolve())
    sigma = str(spec.chosen_value("sigma"))
    for cmd in (
        ["simulate", str(masks), "--images", str(root / "images"), "-o", str(work / "session"), "--seed", "0"],
        ["convert", str(work / "session"), "-o", str(work / "fixations.parquet")],
        ["render-heatmaps", str(work / "fixations.parquet"), "-o", str(work / "store"), "--stimuli",
         str(root / "images"), "--sigma-frac", sigma, *render],
    ):  # fmt: skip
        if subprocess.run(py + cmd).returncode != 0:
            raise click.ClickException(f"gazekit {cmd[0]} failed")


@main.command()
@click.argument("dataset", type=DATASET)
@click.option("--commands", is_flag=True, help="also the train command of every campaign row")
def show(dataset, commands):
    """The dataset's spec, resolved (budgets, chosen values with their sweeps, references, campaign)."""
    spec = load(dataset)
    out = asdict(spec)
    out["rows"] = {name: row.label for name, row in protocol().rows.items()}
    click.echo(json.dumps(out, indent=1, default=str))
    if commands:
        for plan in runner.campaign_plans(dataset):
            click.echo("hgdtgl " + " ".join(runner.train_command(plan)))


@main.command("record-inputs")
@click.option("--results", default="results", show_default=True)
@click.option("--overwrite", is_flag=True, help="rewrite inputs.json files the converter wrote before")
def record_inputs(results, overwrite):
    """One-off: inputs.json for every existing row folder (from its command.txt, config.yaml and runs.csv)."""
    from experiments import backfill

    n = backfill.backfill(Path(results), overwrite=overwrite)
    click.echo(f"{n} inputs.json written under {results}")


@main.command("tables")
@click.option("--results", default="results", show_default=True)
@click.option("--readme", default=None, help="page to update between the markers (default docs/results.md; '' prints)")
@click.option("-o", "--output", default=None, help="also write the tables (markdown) here")
@click.option("--curves", default=None, help="PNG of validation Dice over iterations (Kvasir-SEG, 81 labeled)")
@click.option("--acdc-curves", default=None, help="the same for ACDC (7 labeled patients)")
@click.option("--overlays", default=None, help="PNG of qualitative overlays (needs --run-dir)")
@click.option("--overlay-dataset", type=click.Choice(["kvasir", "camus", "scr"]), default="kvasir", show_default=True)
@click.option("--run-dir", default=None, help="run directory whose checkpoint_best.pt is shown")
@click.option("--store", default=None, help="heatmap store, default runs/<overlay dataset>/store")
@click.option("--shared-data", default=None, help="default: GAZEKIT_SHARED_DATA or ../shared/data")
def tables_command(results, readme, output, curves, acdc_curves, overlays, overlay_dataset, run_dir, store,
                   shared_data):  # fmt: skip
    """The results tables of docs/results.md, each row's command and the figures.

    \b
    python -m experiments tables [--results results] [--readme docs/results.md] [-o tables.md]
        [--curves results/figures/kvasir_val_dice.png] [--acdc-curves results/figures/acdc_val_dice.png]
        [--overlays results/figures/kvasir_overlays.png --run-dir RUN [--overlay-dataset kvasir|camus|scr]
         [--store runs/<dataset>/store] [--shared-data DIR]]

    The tables are written between the markers ``<!-- results-tables:begin -->`` and ``<!-- results-tables:end -->``
    of docs/results.md (``--readme PAGE``: another page) and/or to ``-o`` (then only there unless ``--readme`` is
    given; ``--readme ''`` prints them). With ``--readme`` / ``-o`` the command of every row (from runs.csv) goes
    to results/<dataset>/commands.md, the gaze-loss sweep to results/<dataset>/gaze_weight.csv and a forest plot
    of the paired comparisons to results/figures/<dataset>_forest.png."""
    if overlays and not run_dir:
        raise click.UsageError("--overlays needs --run-dir (the run whose checkpoint_best.pt is shown)")
    res = Path(results)
    if readme is None and not output:
        readme = "docs/results.md"  # the page of the tables; with -o only, only -o is written
    text = tables.tables(res)
    if readme or output:
        for ds in tables.DATASETS:
            tables.write_commands(res / ds)
            tables.write_gaze_sweep(res / ds)
    if output:
        Path(output).write_text(text)
    if readme:
        tables.write_readme(Path(readme), text)
    if not output and not readme:
        click.echo(text)
    if readme or output:
        figures.plot_forests(res)
    for ds, png in (("kvasir", curves), ("acdc", acdc_curves)):  # at the spec's default budget
        if png:
            figures.plot_curves(res / ds, Path(png), tables.SPECS[ds].title, str(tables.SPECS[ds].labeled))
    if overlays:
        shared = Path(shared_data or runner.shared_data())
        figures.overlays(res, overlay_dataset, Path(run_dir), Path(overlays), store, shared)


@main.command("model-table")
@click.option("--results", default=str(model_table.ROOT / "results"), help="default: the repository's results/")
@click.option("--readme", default=str(model_table.ROOT / "README.md"), help="file with the markers ('' to print)")
@click.option("--check", is_flag=True, help="only check that the file's table is current (exit 1 when stale)")
def model_table_command(results, readme, check):
    """The README's table of trained models, one line per results/<dataset>/models/*.pt."""
    block = model_table.table(Path(results))
    if not readme:
        click.echo(block, nl=False)
    elif not model_table.update(Path(readme), block, check):
        click.echo(f"{readme}: the model table is stale; run python -m experiments model-table", err=True)
        sys.exit(1)
