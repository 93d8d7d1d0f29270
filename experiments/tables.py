"""The results tables of docs/results.md (Kvasir-SEG, ACDC, CAMUS, SCR) from results/<dataset>/summary.csv +
runs.csv, each row's command (results/<dataset>/commands.md) and the gaze-loss sweep that chose HG-DTGL's setting
(results/<dataset>/gaze_weight.csv); the figures are ``experiments.figures``. ``python -m experiments tables``.

Numbers are means over seeds (+- sample std when there are several), in %. "Does gaze help?" is answered per
dataset from the per-case validation Dice of every run (``<schedule>/<row>_l<labeled>_s<seed>/val_metrics.csv``):
HG-DTGL minus each baseline and ablation, paired by (seed, case), with a hierarchical bootstrap interval
(``experiments.stats``).
"""

from __future__ import annotations

import csv
import json
import os
import statistics
from pathlib import Path
from typing import NamedTuple

from experiments import spec as specs
from experiments import stats
from hgdtgl.config import TrainConfig  # torch-free: the method's default gaze-loss weight

# From the specs: the rows, their order and labels, the schedules' and gaze-loss recipes' labels, and the row of
# HG-DTGL at the gaze loss chosen on validation (experiments/specs/protocol.toml); per dataset, in the tables' order,
# its heading, reference numbers (with their sources), reference column and note (experiments/specs/<dataset>.toml)
ROW_LABEL = specs.row_labels()
ROW_ORDER = list(ROW_LABEL)
(CHOSEN,) = specs.protocol().chosen_rows.values()  # hgdtgl_chosen: HG-DTGL at the chosen gaze-loss setting
SPECS = specs.all_datasets()
DATASETS = tuple(SPECS)
KVASIR_REF = {key: ref.cell() for key, ref in SPECS["kvasir"].references.items()}


def schedule_label(schedule: str) -> str:
    """Table label of a schedule name (protocol.toml's ``label`` of its base schedule): ``cpu-<iters>`` is the cpu
    protocol with another iteration count, a ``-bf16`` suffix the same in bf16 autocast, a ``-partial`` suffix a row
    stopped before its planned iterations (the base schedule's ``label_partial``); other names are their own
    label."""
    proto = specs.protocol()
    partial = schedule.endswith("-partial")
    name = schedule.removesuffix("-partial")
    if partial and name in proto.schedules:
        return proto.schedules[name].label_partial
    try:
        base, iters, amp = specs.parse_schedule(name)
    except specs.SpecError:
        return schedule
    s = proto.schedules[base]
    label = s.label.format(iterations=iters or s.iterations, bf16=", bf16" if amp == "bf16" else "")
    return label + (", stopped early" if partial else "")


BASELINES = ("supervised", "supervised_matched", "mt", "bcp")  # what HG-DTGL is compared with, seed by seed
FLAT_POINTS = 1.0  # a curve has flattened when its last three validations lie within this many Dice points
BEGIN, END = "<!-- results-tables:begin -->", "<!-- results-tables:end -->"


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(open(path))) if path.is_file() else []


def mean_std(values: list[float], scale: float = 100.0) -> str:
    """'m' for one value, 'm +- s' (sample std) for several, scaled (x100 for Dice/IoU)."""
    m = statistics.fmean(values) * scale
    if len(values) == 1:
        return f"{m:.2f}"
    return f"{m:.2f} +- {statistics.stdev(values) * scale:.2f}"


def groups(summary: list[dict[str, str]]) -> dict[tuple[str, str, str], list[dict[str, str]]]:
    """Summary rows grouped by (schedule, row, labeled): per schedule the largest label budget first (with the
    all-masks upper bound at its end), then the smaller budgets, rows in ROW_ORDER within a budget."""
    top: dict[str, int] = {}
    for r in summary:
        if r["row"] != "supervised_all":
            top[r["schedule"]] = max(top.get(r["schedule"], 0), int(r["labeled"]))

    def key(r: dict[str, str]) -> tuple:
        budget = top.get(r["schedule"], 0) if r["row"] == "supervised_all" else int(r["labeled"])
        return (r["schedule"], -budget, ROW_ORDER.index(r["row"]), int(r["seed"]))

    out: dict[tuple[str, str, str], list[dict[str, str]]] = {}
    for r in sorted(summary, key=key):
        out.setdefault((r["schedule"], r["row"], r["labeled"]), []).append(r)
    return out


def portable(cmd: str) -> str:
    """A recorded command with the local shared-data folder written as $GAZEKIT_SHARED_DATA."""
    shared = os.environ.get("GAZEKIT_SHARED_DATA")
    return cmd.replace(shared.rstrip("/"), "$GAZEKIT_SHARED_DATA") if shared else cmd


def run_info(runs: list[dict[str, str]], schedule: str, row: str, labeled: str) -> tuple[str, str, str]:
    """(iterations, wall time per row in min, command of the first seed) from runs.csv."""
    rs = [r for r in runs if (r["schedule"], r["row"], r["labeled"]) == (schedule, row, labeled)]
    if not rs:
        return "", "", ""
    wall = statistics.fmean(float(r["wall_train_s"]) + float(r["wall_eval_s"]) for r in rs) / 60
    iters = "/".join(sorted({r["iterations"] for r in rs}))
    return iters, f"{wall:.1f}", portable(rs[0]["command"])


def training_rows(metrics_csv: Path) -> list[dict[str, str]]:
    """The validations of the self-training stage (pre-training rows of bcp / hgdtgl left out)."""
    return [r for r in read_csv(metrics_csv) if r.get("stage", "train") == "train" and r.get("val_dice_mean")]


def best_iterations(results: Path, schedule: str, row: str, labeled: str) -> str:
    """Iteration of the best validation Dice (the evaluated checkpoint) of each seed, from the copied metrics.csv."""
    out = []
    setting = chosen_setting(results) if row == CHOSEN.name else None
    roots = [d / schedule for d in setting.dirs(results)] if setting else [results / schedule]
    name = CHOSEN.of if setting else row
    for m in sorted(m for root in roots for m in root.glob(f"{name}_l{labeled}_s*/metrics.csv")):
        rs = training_rows(m)
        if rs:
            out.append(max(rs, key=lambda r: float(r["val_dice_mean"]))["iteration"])
    return "/".join(out)


def last_three_spread(metrics_csv: Path) -> float | None:
    """Max - min of the last three validation Dice values, in points (None with fewer than three)."""
    dice = [float(r["val_dice_mean"]) * 100 for r in training_rows(metrics_csv)]
    return max(dice[-3:]) - min(dice[-3:]) if len(dice) >= 3 else None


def scores(summary: list[dict[str, str]], metric: str, schedule: str) -> dict[tuple[str, str, str], float]:
    """(row, labeled, seed) -> metric in points, for the rows of one schedule."""
    return {(r["row"], r["labeled"], r["seed"]): float(r[metric]) * 100 for r in summary if r["schedule"] == schedule}


def paired_differences(
    summary: list[dict[str, str]],
    metric: str,
    schedule: str = "cpu",
    subject: list[dict[str, str]] | None = None,
    baselines: tuple[str, ...] = BASELINES,
) -> list[dict]:
    """HG-DTGL (or the ``subject`` rows, e.g. HG-DTGL at another gaze-loss weight) minus each baseline of
    ``summary``, seed by seed (same seed = same split, labeled set and initial weights), per label budget: the seeds
    compared, the per-seed differences in points, their mean and range."""
    by = scores(summary, metric, schedule)
    subj = (
        {(la, s): v for (_, la, s), v in scores(subject, metric, schedule).items()}
        if subject is not None
        else {(la, s): v for (row, la, s), v in by.items() if row == "hgdtgl"}
    )
    out = []
    for lab in sorted({la for la, _ in subj}, key=int, reverse=True):
        for base in baselines:
            seeds = sorted(s for (la, s) in subj if la == lab and (base, lab, s) in by)
            if not seeds:
                continue
            diffs = [subj[(lab, s)] - by[(base, lab, s)] for s in seeds]
            out.append({"labeled": lab, "baseline": base, "seeds": seeds, "diffs": diffs})
    return out


def pairs_table(pairs: list[dict], subject: str, labels: dict[str, str] = ROW_LABEL) -> list[str]:
    """Markdown lines of a table of paired differences: one line per budget and baseline."""
    lines = [f"| labeled | {subject} minus | seeds | per-seed difference (points) | mean | range |", "|---" * 6 + "|"]
    for p in pairs:
        d = p["diffs"]
        lines.append(
            f"| {p['labeled']} | {labels[p['baseline']]} | {','.join(p['seeds'])} | "
            f"{' / '.join(f'{x:+.2f}' for x in d)} | {statistics.fmean(d):+.2f} | {min(d):+.2f} .. {max(d):+.2f} |"
        )
    return lines


def evidence_schedules(summary: list[dict[str, str]]) -> list[str]:
    """The finished cpu schedules with HG-DTGL rows (cpu first, then longer or bf16 variants): each gets its own
    paired differences, since rows of different schedules are never paired."""
    names = {r["schedule"] for r in summary if r["row"] == "hgdtgl" and r["schedule"].startswith("cpu")}
    return sorted((n for n in names if not n.endswith("-partial")), key=lambda n: (len(n), n))


def evidence(results: Path, metric: str) -> str:
    """Markdown per cpu schedule: paired differences of the seed means per budget and baseline, and which curves
    have flattened (the verdict comes from the per-case statistics, ``stats_section``)."""
    summary = read_csv(results / "summary.csv")
    scheds = evidence_schedules(summary) or ["cpu"]
    text = ""
    for sched in scheds:
        pairs = paired_differences(summary, metric, sched)
        lines = pairs_table(pairs, "HG-DTGL")
        flat, not_flat = [], []
        for m in sorted((results / sched).glob("*/metrics.csv")):
            spread = last_three_spread(m)
            if spread is not None:
                (flat if spread <= FLAT_POINTS else not_flat).append(f"{m.parent.name} ({spread:.1f})")
        head = f"Schedule {schedule_label(sched)}:\n\n" if len(scheds) > 1 else ""
        text += head + "\n".join(lines) + "\n"
        text += f"\nCurves flattened (last three validations within {FLAT_POINTS:g} Dice point): {len(flat)} of "
        text += f"{len(flat) + len(not_flat)} {sched} runs"
        text += f"; not yet: {', '.join(not_flat)}.\n\n" if not_flat else ".\n\n"
    return text.rstrip("\n") + "\n"


# how the gaze loss enters training, as the tables name it (experiments/specs/protocol.toml [recipes.*] label)
GAZE_RECIPE_LABEL = specs.protocol().recipe_labels
PUBLISHED_WEIGHT = str(TrainConfig.gaze_loss_weight)  # hgdtgl train's default --gaze-loss-weight


class GazeSetting(NamedTuple):
    """One way of training HG-DTGL's gaze loss: a recipe of GAZE_RECIPE_LABEL and a weight. Its seed-0 run is in
    ``gaze_weight/<sub>/``, further seeds in ``chosen_gaze_weight/<sub>/``, ``<sub>`` = ``w_W`` for the published
    recipe and ``<recipe>/w_W`` for the others."""

    recipe: str
    weight: str

    def dirs(self, results: Path) -> list[Path]:
        sub = f"w_{self.weight}" if self.recipe == "published" else f"{self.recipe}/w_{self.weight}"
        return [results / "gaze_weight" / sub, results / "chosen_gaze_weight" / sub]

    @property
    def label(self) -> str:
        return CHOSEN.setting_label(GAZE_RECIPE_LABEL[self.recipe], self.weight)

    @property
    def is_table_default(self) -> bool:
        return (self.recipe, self.weight) == ("published", PUBLISHED_WEIGHT)


def gaze_sweep(results: Path) -> list[dict]:
    """The seed-0 HG-DTGL runs of the gaze-loss sweep (``gaze_weight/**/summary.csv``): recipe, gaze_loss_weight,
    schedule and validation Dice (mean over classes on multi-class sets), by recipe then weight."""
    out = []
    for p in sorted((results / "gaze_weight").glob("**/w_*/summary.csv")):
        recipe = "published" if p.parent.parent.name == "gaze_weight" else p.parent.parent.name
        for r in read_csv(p):
            if r["row"] == "hgdtgl" and r["seed"] == "0":
                dice = r["dice"] if "dice" in r else r["dice_mean"]
                out.append({"recipe": recipe, "gaze_loss_weight": p.parent.name[2:], "schedule": r["schedule"],
                            "dice": dice})  # fmt: skip
    return sorted(out, key=lambda r: (r["recipe"] != "published", r["recipe"], float(r["gaze_loss_weight"])))


def chosen_setting(results: Path) -> GazeSetting | None:
    """The recipe and weight with the best seed-0 validation Dice of the sweep, if there is one."""
    sweep = gaze_sweep(results)
    if not sweep:
        return None
    best = max(sweep, key=lambda r: float(r["dice"]))
    return GazeSetting(best["recipe"], best["gaze_loss_weight"])


def chosen_rows(results: Path, name: str) -> list[dict[str, str]]:
    """The rows of ``name`` (summary.csv / runs.csv) of HG-DTGL at the chosen setting, all its seeds, as row
    ``hgdtgl_chosen`` (none when the chosen setting is the table's own HG-DTGL row)."""
    setting = chosen_setting(results)
    if setting is None or setting.is_table_default:
        return []
    rows = [r for d in setting.dirs(results) for r in read_csv(d / name) if r["row"] == CHOSEN.of]
    return [{**r, "row": CHOSEN.name} for r in rows]


def setting_sweep_dirs(results: Path) -> list[Path]:
    """The sweep folder of the chosen setting (its seed-0 run at the budget it was chosen at)."""
    setting = chosen_setting(results)
    return setting.dirs(results)[:1] if setting else []


def row_labels(results: Path) -> dict[str, str]:
    """ROW_LABEL with the chosen setting named (protocol.toml's [chosen_rows.hgdtgl_chosen] label)."""
    setting = chosen_setting(results)
    chosen = CHOSEN.label.format(setting=setting.label) if setting else ROW_LABEL[CHOSEN.name]
    return {**ROW_LABEL, CHOSEN.name: chosen}


WEIGHT_BASELINES = (*BASELINES, "hgdtgl", "hgdtgl_no_gazeloss")  # what the chosen setting is paired with


def gaze_weight_section(results: Path, metric: str) -> str:
    """The gaze-loss recipe and weight chosen on validation (the sweep: HG-DTGL, seed 0, one run per setting) and,
    where that setting was trained on more seeds, those rows paired seed by seed with the table's rows of the same
    schedule."""
    sweep = gaze_sweep(results)
    if not sweep:
        return ""
    best = chosen_setting(results)
    parts = []
    for recipe in dict.fromkeys(r["recipe"] for r in sweep):
        values = ", ".join(
            (f"**{r['gaze_loss_weight']} -> {float(r['dice']) * 100:.2f}**"
             if (recipe, r["gaze_loss_weight"]) == (best.recipe, best.weight)
             else f"{r['gaze_loss_weight']} -> {float(r['dice']) * 100:.2f}")
            for r in sweep if r["recipe"] == recipe
        )  # fmt: skip
        parts.append(f"{GAZE_RECIPE_LABEL[recipe]} (`--gaze-loss-recipe {recipe}`): {values}")
    text = (
        "\n**Gaze-loss recipe and weight chosen on validation** (HG-DTGL, seed 0, one run per setting; "
        f"`results/{results.name}/gaze_weight.csv`): " + "; ".join(parts) + f". Chosen: {best.label}.\n"
    )
    chosen, runs = chosen_rows(results, "summary.csv"), chosen_rows(results, "runs.csv")
    summary = read_csv(results / "summary.csv")
    swept = {(r["schedule"], r["labeled"]) for d in setting_sweep_dirs(results) for r in read_csv(d / "summary.csv")}
    for sched, lab in sorted({(r["schedule"], r["labeled"]) for r in chosen}, key=lambda k: (k[0], -int(k[1]))):
        rs = sorted((r for r in chosen if (r["schedule"], r["labeled"]) == (sched, lab)), key=lambda r: int(r["seed"]))
        if len(rs) < 2:
            continue
        pairs = paired_differences(summary, metric, sched, subject=rs, baselines=WEIGHT_BASELINES)
        wall = run_info(runs, sched, CHOSEN.name, lab)[1]
        wall = f"; {wall} min per row" if wall else ""
        per_seed = " / ".join(f"{float(r[metric]) * 100:.2f}" for r in rs)
        chosen_on = (
            "Seed 0 is the run the setting was chosen on (its differences are favoured by the choice); the other "
            "seeds were not part of it."
            if (sched, lab) in swept
            else "The setting was chosen at another label budget; none of these runs was part of the choice."
        )
        text += (
            f"\n{best.label}, {schedule_label(sched)}, {lab} labeled, seeds {','.join(r['seed'] for r in rs)}: "
            f"{per_seed} ({mean_std([float(r[metric]) for r in rs])}{wall}). {chosen_on}\n\n"
        )
        text += "\n".join(pairs_table(pairs, best.label, ROW_LABEL)) + "\n"
    return text


# HG-DTGL minus each, per case; gazepseudo: the plain use of the same gaze (masks + gaze pseudo-masks)
STATS_ROWS = (*BASELINES, "gazepseudo", "hgdtgl_no_gazemix", "hgdtgl_no_gazeloss")
VERDICT_NOTE = (
    "**How the verdict is computed.** Each dataset's verdict compares HG-DTGL with a baseline case by case: the "
    "per-case validation Dice of every run (`val_metrics.csv`; the mean over classes for ACDC, CAMUS and SCR) is "
    "paired by (seed, case), since a seed fixes the labeled set, the initial weights and the data order. The "
    "difference is the mean over seeds of the mean paired difference, in Dice points; its 95 % interval comes "
    f"from a hierarchical bootstrap ({stats.N_DRAWS} draws, fixed seed): draw the seeds with replacement, "
    "then the cases with replacement within each drawn seed (`experiments/stats.py`). *helps* / *hurts* when "
    "the interval lies above / below zero; otherwise *no difference detectable*, with the largest effect the "
    "interval leaves possible. With one seed the interval covers case sampling only, not seed-to-seed variation "
    "(marked *cases only*); with three seeds the seed level is resampled from three values only, so even then the "
    "interval is more likely too narrow than too wide. The per-seed tables above each verdict show the seed means.\n\n"
)


def case_dice(val_metrics: Path) -> dict[str, float]:
    """case -> Dice in points (x100; the mean over the classes of a multi-class dataset) from a run's
    ``val_metrics.csv``, its summary rows (case ``mean`` / ``std``) left out."""
    per_case: dict[str, list[float]] = {}
    for r in read_csv(val_metrics):
        if r["case"] not in ("mean", "std"):
            per_case.setdefault(r["case"], []).append(float(r["dice"]) * 100)
    return {case: statistics.fmean(d) for case, d in per_case.items()}


def row_cases(root: Path, row: str, labeled: str) -> dict[tuple[str, str], float]:
    """(seed, case) -> Dice points of every seed of ``row`` under ``root`` (``<row>_l<labeled>_s<seed>/``)."""
    out: dict[tuple[str, str], float] = {}
    for m in root.glob(f"{row}_l{labeled}_s*/val_metrics.csv"):
        seed = m.parent.name.rsplit("_s", 1)[1]
        out |= {(seed, case): d for case, d in case_dice(m).items()}
    return out


GAZE_ONLY = "gaze only (heatmap >= 0.5, no training)"  # the Kvasir table's untrained-heatmap row
GAZE_ONLY_CASES = "gaze_only_cases.csv"  # its per-image scores (examples/kvasir/gaze_only.py --cases)


def gaze_only_row(results: Path) -> dict[str, str] | None:
    """The table's gaze-only row: the store ``sigma_choice.csv`` ranks best (None without that file)."""
    choice = read_csv(results / "sigma_choice.csv")
    return max(choice, key=lambda r: float(r["dice"])) if choice else None


def gaze_only_cases(results: Path) -> dict[str, float]:
    """case -> Dice points of the untrained heatmap thresholded at 0.5, for the store of ``gaze_only_row``; empty
    without the two files."""
    row = gaze_only_row(results)
    if row is None:
        return {}
    best = row["store"]
    rows = read_csv(results / GAZE_ONLY_CASES)
    return {r["case"]: float(r["dice"]) * 100 for r in rows if r["store"] == best and float(r["threshold"]) == 0.5}


def baseline_label(baseline: str) -> str:
    return GAZE_ONLY if baseline == "gaze_only" else ROW_LABEL[baseline]


def comparisons(results: Path, schedule: str) -> list[dict]:
    """Per-case paired statistics within one schedule, per label budget (largest first): HG-DTGL at the published
    gaze loss, then HG-DTGL at the gaze-loss recipe and weight chosen on validation where its runs exist
    (``GazeSetting.dirs``), minus each row of STATS_ROWS (the chosen setting also minus the published one) that
    has runs with the same seeds and cases; last, with 0 labeled, gaze-supervised training (gazesup) minus the
    untrained heatmap it learns from (``gaze_only_cases``), where both exist. Each item: labeled, subject (a
    label), chosen (whether the subject is the chosen setting), baseline, the baseline's mean Dice over the paired
    cases, and the ``stats.Comparison``."""
    root = results / schedule
    budgets = {m.parent.name.rsplit("_s", 1)[0].rsplit("_l", 1)[1] for m in root.glob("hgdtgl_l*_s*/val_metrics.csv")}
    setting = chosen_setting(results)
    out = []
    for lab in sorted(budgets, key=int, reverse=True):
        subjects = [("HG-DTGL, published gaze loss", False, row_cases(root, "hgdtgl", lab), STATS_ROWS)]
        if setting is not None and not setting.is_table_default:
            at_setting: dict[tuple[str, str], float] = {}
            for d in setting.dirs(results):
                at_setting |= row_cases(d / schedule, "hgdtgl", lab)
            if at_setting:
                subjects.append((setting.label, True, at_setting, (*STATS_ROWS, "hgdtgl")))
        for subject, chosen, a, bases in subjects:
            for base in bases:
                b = row_cases(root, base, lab)
                paired = set(a) & set(b)
                if not paired:
                    continue
                base_mean = statistics.fmean(b[k] for k in paired)
                out.append(
                    {"labeled": lab, "subject": subject, "chosen": chosen, "baseline": base, "base_mean": base_mean}
                )
                out[-1]["stats"] = stats.compare(a, b)
    trained, heat = row_cases(root, "gazesup", "0"), gaze_only_cases(results)
    untrained = {(seed, case): heat[case] for seed, case in trained if case in heat}  # the same map for every seed
    if untrained:
        base_mean = statistics.fmean(untrained.values())
        out.append({"labeled": "0", "subject": ROW_LABEL["gazesup"], "chosen": False, "baseline": "gaze_only",
                    "base_mean": base_mean, "stats": stats.compare(trained, untrained)})  # fmt: skip
    return out


def comparison_name(c: dict) -> str:
    return f"{c['subject']} minus {baseline_label(c['baseline'])}"


def seeds_cases(s: stats.Comparison) -> str:
    return f"{s.n_seeds} x {s.n_cases}" + (" (cases only)" if s.n_seeds == 1 else "")


def comparisons_table(comps: list[dict]) -> list[str]:
    """Markdown lines: one line per comparison (mean difference, interval, win share, seeds x cases, verdict)."""
    lines = [
        "| labeled | comparison (A minus B) | mean difference (points) | 95 % interval | A better on | seeds x cases "
        "| verdict |",
        "|---" * 7 + "|",
    ]
    for c in comps:
        s = c["stats"]
        lines.append(
            f"| {c['labeled']} | {comparison_name(c)} | {s.mean_points:+.2f} "
            f"| [{s.lo_points:+.2f}, {s.hi_points:+.2f}] | {s.win_share * 100:.0f} % of cases | {seeds_cases(s)} "
            f"| {stats.call(s)} |"
        )
    return lines


def headline(comps: list[dict]) -> list[tuple[dict, bool]]:
    """The comparisons the verdict names, each with whether it is against the strongest baseline: at the largest
    budget, each subject minus the strongest baseline without gaze (highest mean Dice on the paired cases among
    BASELINES), minus BCP (the same copy-paste with random boxes instead of gaze regions) when that is another
    row, and minus gazepseudo (masks + gaze pseudo-masks: the plain use of the same gaze) where it has runs. The
    subject is the setting chosen on validation where it has runs, else the published gaze loss. Then gaze-only
    training minus the untrained heatmap, where there is that comparison."""
    if not comps:
        return []
    lab = comps[0]["labeled"]
    chosen = any(c["chosen"] for c in comps if c["labeled"] == lab)
    out = []
    for subject in dict.fromkeys(c["subject"] for c in comps if c["chosen"] == chosen):
        cs = [c for c in comps if c["labeled"] == lab and c["subject"] == subject and c["baseline"] in BASELINES]
        if cs:
            strongest = max(cs, key=lambda c: c["base_mean"])
            out += [(strongest, True)] + [(c, False) for c in cs if c["baseline"] == "bcp" and c is not strongest]
        plain = [c for c in comps if c["labeled"] == lab and c["subject"] == subject and c["baseline"] == "gazepseudo"]
        out += [(c, False) for c in plain]
    return out + [(c, False) for c in comps if c["baseline"] == "gaze_only"]


def headline_sentence(c: dict, strongest: bool) -> str:
    s = c["stats"]
    bcp = "GazeMix's copy-paste with random boxes instead of gaze regions"
    plain = "the plain use of the same gaze: masks plus gaze pseudo-masks"
    heat = "the untrained heatmap its pseudo-masks are cut from"
    why = {"gazepseudo": plain, "gaze_only": heat}.get(c["baseline"], bcp)
    if strongest:
        why = "the strongest baseline without gaze" + (f", and {bcp}" if c["baseline"] == "bcp" else "")
    return (
        f"{c['subject']} minus {baseline_label(c['baseline'])} ({why}; {s.n_seeds} seed{'s' if s.n_seeds > 1 else ''} "
        f"x {s.n_cases} cases, better on {s.win_share * 100:.0f} % of them): {stats.verdict(s)}"
    )


def forest_link(results: Path) -> str:
    return f"results/figures/{results.name}_forest.png"


def stats_section(results: Path) -> str:
    """Markdown: the per-case comparisons of every evidence schedule, then the verdict of the headline comparisons
    of the last schedule (Kvasir: the converged cpu-12000-bf16) and the link to its forest plot."""
    summary = read_csv(results / "summary.csv")
    scheds = evidence_schedules(summary)
    per_sched = {s: comparisons(results, s) for s in scheds}
    per_sched = {s: cs for s, cs in per_sched.items() if cs}
    if not per_sched:
        return "\n**Does gaze help?** No per-case scores of paired HG-DTGL and baseline runs yet.\n"
    text = "\n**Per-case paired comparisons** (Dice points; see *How the verdict is computed* above):\n\n"
    for sched, comps in per_sched.items():
        text += f"Schedule {schedule_label(sched)}:\n\n" if len(per_sched) > 1 else ""
        text += "\n".join(comparisons_table(comps)) + "\n\n"
        if any(c["chosen"] for c in comps):
            text += (
                f"{chosen_setting(results).label}: its seed 0 is the run the setting was chosen on, on these "
                "validation cases, so its seed-0 pairs are favoured by that choice.\n\n"
            )
    sched, comps = list(per_sched.items())[-1]
    sentences = [headline_sentence(c, strongest) for c, strongest in headline(comps)]
    text += (
        f"**Does gaze help? ({schedule_label(sched)}, {comps[0]['labeled']} labeled; per-case Dice paired by seed and "
        "case, 95 % hierarchical bootstrap interval)**\n\n"
        + "".join(f"- {s}.\n" for s in sentences)
        + f"\nEvery comparison of this schedule: [forest plot `{forest_link(results)}`]({forest_link(results)}).\n"
    )
    return text


def table_rows(results: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """summary.csv and runs.csv of a dataset with the rows of HG-DTGL at the chosen gaze-loss setting added."""
    summary = read_csv(results / "summary.csv") + chosen_rows(results, "summary.csv")
    return summary, read_csv(results / "runs.csv") + chosen_rows(results, "runs.csv")


def kvasir_table(results: Path) -> str:
    summary, runs = table_rows(results)
    labels = row_labels(results)
    lines = [
        "| row | schedule | labeled | seeds | Dice % | IoU % | GazeMedSeg ref. Dice % | iterations | best at "
        "| wall min/row |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    best = gaze_only_row(results)
    if best is not None:
        lines.append(
            f"| {GAZE_ONLY} | none | 0 | - | {float(best['dice']) * 100:.2f} "
            f"| {float(best['iou']) * 100:.2f} | {KVASIR_REF['gaze_only']} | - | - | - |"
        )
    for (sched, row, lab), rs in groups(summary).items():
        iters, wall, _ = run_info(runs, sched, row, lab)
        dice = mean_std([float(r["dice"]) for r in rs])
        iou = mean_std([float(r["iou"]) for r in rs])
        ref = KVASIR_REF.get(row, "")
        best_at = best_iterations(results, sched, row, lab)
        cells = [labels[row], schedule_label(sched), lab, str(len(rs)), dice, iou, ref, iters, best_at, wall]
        lines.append("| " + " | ".join(cells) + " |")
    return (
        "\n".join(lines)
        + "\n\n"
        + evidence(results, "dice")
        + gaze_weight_section(results, "dice")
        + commands_link(results)
        + stats_section(results)
    )


def row_commands(results: Path) -> str:
    """The command of every row of ``results/summary.csv`` (its first seed, from runs.csv), as markdown."""
    summary, runs = read_csv(results / "summary.csv"), read_csv(results / "runs.csv")
    blocks = []
    for sched, row, lab in groups(summary):
        cmd = run_info(runs, sched, row, lab)[2]
        if cmd:
            blocks.append(f"# {row} ({sched}, {lab} labeled; seed 0, other seeds differ only in --seed/--out)\n{cmd}")
            blocks[-1] += reproduce_line(results / sched, row, lab)
    if not blocks:
        return ""
    return (
        f"# The command of every row of {results.name}'s results table\n\nGenerated by "
        "`python -m experiments tables` from `summary.csv`, `runs.csv` and each row's `inputs.json` (run from the "
        "repository root). Under each recorded command, the `python -m experiments` command that trains the row "
        "today, and whether it builds the same train command.\n\n"
        "```bash\n" + "\n".join(blocks) + "\n```\n"
    )


def write_commands(results: Path) -> None:
    """``commands.md``: the command of every row (``row_commands``), when a row has one."""
    commands = row_commands(results)
    if commands:
        (results / "commands.md").write_text(commands)


def reproduce_line(schedule_dir: Path, row: str, labeled: str) -> str:
    """The row's `python -m experiments run` command (its first seed's inputs.json), marked when it builds the
    recorded train command, else with the options that differ; empty without an inputs.json."""
    found = sorted(
        schedule_dir.glob(f"{row}_l{labeled}_s*/inputs.json"), key=lambda p: int(p.parent.name.split("_s")[-1])
    )
    if not found:
        return ""
    info = json.loads(found[0].read_text())
    if info.get("reproduce_matches_recorded", True):
        return f"\n# reproduce (same train command): {info['reproduce']}"
    diff = info.get("reproduce_differs", {})
    what = ", ".join(f"{opt} {rec or 'absent'} (today {now or 'absent'})" for opt, (rec, now) in diff.items())
    return f"\n# today's command (trained by older code; {what}): {info['reproduce']}"


def commands_link(results: Path) -> str:
    """The README line pointing at ``results/<dataset>/commands.md`` (empty when no row has a command)."""
    if not row_commands(results):
        return ""
    return f"\nThe command of every row: [`results/{results.name}/commands.md`](results/{results.name}/commands.md).\n"


def multiclass_table(results: Path, dataset: str) -> str:
    """Per-class Dice (class names from the summary's ``dice_<name>`` columns), mean Dice, HD95, ASD per row."""
    s = SPECS[dataset]
    title, unit, ref_col, note = s.title, s.tables["budget_column"], s.tables["reference_column"], s.tables["note"]
    refs = {key: ref.cell() for key, ref in s.references.items()}
    ref_budget = str(s.budgets[s.tables["reference_budget"]])  # the budget the references apply to
    summary, runs = table_rows(results)
    labels = row_labels(results)
    if not summary:
        return f"_No {title} rows have finished yet._\n"
    classes = [k for k in summary[0] if k.startswith("dice_") and k != "dice_mean"]
    lines = [
        f"| row | schedule | {unit} | seeds | {' | '.join(k[5:] for k in classes)} | mean Dice % | HD95 px | ASD px "
        f"| {ref_col} | iterations | wall min/row |",
        "|---" * (len(classes) + 10) + "|",
    ]
    for (sched, row, lab), rs in groups(summary).items():
        iters, wall, _ = run_info(runs, sched, row, lab)
        cells = [mean_std([float(r[k]) for r in rs]) for k in (*classes, "dice_mean")]
        cells += [mean_std([float(r[k]) for r in rs], 1.0) for k in ("hd95_mean", "asd_mean")]
        ref = refs.get(row, "") if lab == ref_budget else ""
        lines.append(
            f"| {labels[row]} | {schedule_label(sched)} | {lab} | {len(rs)} | {' | '.join(cells)} | {ref} "
            f"| {iters} | {wall} |"
        )
    text = "\n".join(lines) + f"\n\n{note}\n\n" + evidence(results, "dice_mean")
    return text + gaze_weight_section(results, "dice_mean") + commands_link(results) + stats_section(results)


def tables(results: Path) -> str:
    """The verdict note, then per dataset (the specs' order) its heading ([tables] heading) and table: per-class
    columns where the spec names classes, else the binary Kvasir-SEG table."""
    parts = []
    for name, s in SPECS.items():
        table = multiclass_table(results / name, name) if s.classes else kvasir_table(results / name)
        parts.append(f"#### {s.tables['heading']}\n\n{table}")
    return VERDICT_NOTE + "\n".join(parts)


def write_readme(readme: Path, text: str) -> None:
    """Replace what stands between the BEGIN/END markers of ``readme`` with ``text``."""
    src = readme.read_text()
    if BEGIN not in src or END not in src:
        raise SystemExit(f"{readme}: markers {BEGIN} / {END} not found")
    head, rest = src.split(BEGIN, 1)
    readme.write_text(head + BEGIN + "\n" + text + END + rest.split(END, 1)[1])


def write_gaze_sweep(results: Path) -> None:
    """``gaze_weight.csv``: the sweep that chose the gaze-loss recipe and weight (``gaze_sweep``), when there is one."""
    sweep = gaze_sweep(results)
    if sweep:
        with open(results / "gaze_weight.csv", "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=["recipe", "gaze_loss_weight", "schedule", "dice"])
            w.writeheader()
            w.writerows(sweep)
