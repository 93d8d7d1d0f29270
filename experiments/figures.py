"""The figures of docs/results.md, from the same files and specs as the tables (``experiments.tables``): per dataset
a forest plot of the per-case paired comparisons (results/figures/<dataset>_forest.png), validation Dice over
iterations (``--curves`` / ``--acdc-curves``) and qualitative overlays of one run (``--overlays``).
``python -m experiments tables``. matplotlib is imported by the functions that draw, so importing this is cheap."""

from __future__ import annotations

from pathlib import Path

from experiments.tables import (
    ROW_ORDER,
    SPECS,
    comparison_name,
    comparisons,
    evidence_schedules,
    read_csv,
    schedule_label,
    seeds_cases,
)


def plot_forests(results: Path) -> None:
    """``results/figures/<dataset>_forest.png`` of every dataset that has comparisons (``plot_forest``), titled
    with the spec's title."""
    for ds, spec in SPECS.items():
        plot_forest(results / ds, results / "figures" / f"{ds}_forest.png", spec.title)


def plot_forest(results: Path, out: Path, title: str) -> bool:
    """Forest plot of the comparisons of the schedule the verdict is read from: one line per comparison, the 95 %
    interval as a bar, the mean difference as a point, a zero line; False (nothing written) without comparisons."""
    scheds = [s for s in evidence_schedules(read_csv(results / "summary.csv")) if comparisons(results, s)]
    if not scheds:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sched = scheds[-1]
    comps = comparisons(results, sched)
    n = len(comps)
    fig, ax = plt.subplots(figsize=(15, 1.6 + 0.42 * n))
    ys = list(range(n - 1, -1, -1))
    for y, c in zip(ys, comps, strict=True):
        s = c["stats"]
        colour = "tab:green" if s.lo_points > 0 else "tab:red" if s.hi_points < 0 else "0.35"
        one = s.n_seeds == 1
        ax.plot([s.lo_points, s.hi_points], [y, y], color=colour, lw=1.5 if one else 3)
        ax.plot(s.mean_points, y, "o", color=colour, ms=7, mfc="white" if one else colour)
        ax.text(
            1.01, y, f"{s.mean_points:+.2f} [{s.lo_points:+.2f}, {s.hi_points:+.2f}]  {seeds_cases(s)}",
            transform=ax.get_yaxis_transform(), va="center", fontsize=9,
        )  # fmt: skip
    for y, (c, prev) in enumerate(zip(comps[1:], comps[:-1], strict=True)):
        if (c["labeled"], c["subject"]) != (prev["labeled"], prev["subject"]):
            ax.axhline(n - 1.5 - y, color="0.8", lw=0.8)
    budgets = len({c["labeled"] for c in comps}) > 1
    labels = [(f"{c['labeled']} labeled: " if budgets else "") + comparison_name(c) for c in comps]
    ax.set_yticks(ys, labels, fontsize=9)
    ax.axvline(0, color="k", lw=1)
    ax.set_ylim(-0.7, n - 0.3)
    ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("Dice difference A minus B, points (per case, paired by seed and case; 95 % hierarchical bootstrap)")
    lab = "" if budgets else f", {comps[0]['labeled']} labeled"
    ax.set_title(
        f"{title}, {schedule_label(sched)}{lab}: does gaze help?\n"
        "green: interval above 0, red: below 0, grey: no difference detectable; "
        "thin line, open point: one seed (cases only)",
        fontsize=10,
    )
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return True


def plot_curves(results: Path, out: Path, title: str, budget: str) -> None:
    """Validation Dice over iterations of every run with ``budget`` labels (and the all-masks upper bound), one
    panel per schedule: seed 0 with markers, the other seeds of the row as thin lines of the same colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [p.name for p in results.iterdir() if p.is_dir() and p.name.startswith(("cpu", "gpu"))]
    names = [n for n in names if any((results / n).glob(f"*_l{budget}_s*/metrics.csv"))
             or any((results / n).glob("supervised_all_l*_s*/metrics.csv"))]  # fmt: skip
    scheds = sorted(names, key=lambda n: (n.startswith("gpu"), len(n), n))  # cpu, cpu-<iters>, then gpu
    fig, axes = plt.subplots(1, max(len(scheds), 1), figsize=(5.5 * max(len(scheds), 1), 4), squeeze=False)
    palette = [*plt.cm.tab10.colors, "black", *plt.cm.tab20.colors[1::2]]  # one colour per row up to 21 rows
    for ax, sched in zip(axes[0], scheds, strict=False):
        for colour, row in enumerate(ROW_ORDER):
            pattern = f"{row}_l*_s*" if row == "supervised_all" else f"{row}_l{budget}_s*"
            runs = (results / sched).glob(f"{pattern}/metrics.csv")
            for m in sorted(runs, key=lambda m: int(m.parent.name.rsplit("_s", 1)[1])):
                rs = [r for r in read_csv(m) if r.get("val_dice_mean")]
                first = m.parent.name.endswith("_s0")
                ax.plot(
                    [int(r["iteration"]) for r in rs],
                    [float(r["val_dice_mean"]) * 100 for r in rs],
                    "o-" if first else "-",
                    color=palette[colour % len(palette)],
                    lw=1.5 if first else 0.8,
                    alpha=1.0 if first else 0.6,
                    label=row if first else None,
                )
        ax.set(
            title=f"{title}, {schedule_label(sched)}, {budget} labeled\n(seed 0: markers; other seeds: thin lines)",
            xlabel="iteration",
            ylabel="validation Dice %",
        )
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    if not scheds:
        axes[0][0].text(0.5, 0.5, f"{title}: no rows have finished yet", ha="center", va="center")
        axes[0][0].set_axis_off()
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=80)


def overlay_names(dataset: str, results: Path, run_dir: Path, n: int = 4) -> tuple[list[str], str]:
    """(image names, what they are) of the overlay figure: Kvasir's first validation images (all 900 have real
    gaze); for CAMUS / SCR (simulated gaze on training images only) the first images of the run's training list
    after its labeled prefix, i.e. images whose masks the shown run never used."""
    if dataset == "kvasir":
        return [s for s in (results / "splits" / "val.list").read_text().split() if s][:n], "validation cases"
    from hgdtgl.checkpoints import load_checkpoint

    ckpt = load_checkpoint(run_dir / "checkpoint_best.pt")
    n_lab = int(ckpt["data"]["n_labeled"])
    train = [s for s in Path(ckpt["config"]["train_list"]).read_text().split() if s]
    return train[n_lab : n_lab + n], "unlabeled training images (masks not used by this run)"


def plot_overlays(
    run_dir: Path, store_dir: str, data_root: Path, names: list[str], what: str, out: Path, gaze: str = "gaze heatmap"
) -> None:
    """Image, ground truth, prediction (``hgdtgl predict`` of RUN/checkpoint_best.pt), gaze heatmap (panel title
    ``gaze``) of the images ``names`` of an images/ + masks/ dataset; label maps are drawn one colour per class."""
    import subprocess
    import sys
    import tempfile

    import cv2
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import gazekit
    from hgdtgl.data.formats import load_cases

    store = gazekit.open_store(store_dir)
    colours = matplotlib.colors.ListedColormap(plt.get_cmap("tab10").colors[:9])
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "shown.list").write_text("".join(f"{n}\n" for n in names))
        cases = load_cases(data_root, str(Path(tmp) / "shown.list"), "images")
        few = Path(tmp) / "images"
        few.mkdir()
        for c in cases:
            (few / Path(c.source).name).symlink_to(Path(c.source).resolve())
        cmd = [sys.executable, "-m", "hgdtgl", "predict", str(run_dir / "checkpoint_best.pt"), str(few)]
        cmd += ["-o", f"{tmp}/pred", "--device", "cpu"]
        subprocess.run(cmd, check=True, capture_output=True)
        fig, axes = plt.subplots(len(cases), 4, figsize=(10, 2.6 * len(cases)), squeeze=False)
        for i, c in enumerate(cases):
            img = c.image[0].transpose(1, 2, 0)
            img = np.repeat(img, 3, axis=2) if img.shape[2] == 1 else img
            pred = cv2.imread(str(Path(tmp, "pred", f"{c.name}.png")), cv2.IMREAD_GRAYSCALE)
            pred = np.where(pred == 255, 1, pred)  # a binary model writes 0/255, a multi-class one the indices
            heat = store.get(c.name, None, 1)
            panels = [(None, "image"), (c.label[0], "ground truth"), (pred, "prediction"), (heat, gaze)]
            for ax, (a, title) in zip(axes[i], panels, strict=True):
                ax.imshow(img)
                if title == gaze and a is not None:
                    ax.imshow(cv2.resize(a.astype("float32"), (img.shape[1], img.shape[0])), alpha=0.5, cmap="jet")
                elif a is not None:
                    lab = np.ma.masked_where(a == 0, a.astype(float) - 1)
                    ax.imshow(lab, alpha=0.5, cmap=colours, vmin=0, vmax=colours.N - 1, interpolation="nearest")
                ax.set_title(title if i == 0 else "", fontsize=9)
                ax.axis("off")
            axes[i][0].set_title(f"image {c.name}", fontsize=8)
    fig.suptitle(f"{what}, {run_dir.name}", fontsize=9)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=50)


def overlays(results: Path, dataset: str, run_dir: Path, out: Path, store: str | None, shared_data: Path) -> None:
    """The overlay figure of ``run_dir`` on ``dataset`` (``overlay_names``, ``plot_overlays``); the store defaults to
    runs/<dataset>/store, the images to the dataset's folder under ``shared_data``."""
    names, what = overlay_names(dataset, results / dataset, run_dir)
    data = shared_data / {"kvasir": "kvasir-seg"}.get(dataset, dataset)
    gaze = "real gaze heatmap" if dataset == "kvasir" else "SIMULATED gaze heatmap"
    plot_overlays(run_dir, store or f"runs/{dataset}/store", data, names, what, out, gaze)
