"""The run's human-readable record: metrics.csv (one row per validation) and curves.png."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from gazekit.atomic import atomic_path


def write_metrics(path: Path, rows: list[dict]) -> None:
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def read_metrics(path: Path, up_to: int) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [r for r in csv.DictReader(fh) if int(r["iteration"]) <= up_to]


def curves_figure(rows: list[dict], title: str | None = None, pretrain_end: int | None = None):
    """The figure of curves.png: training losses (left) and validation mean Dice (right) against iterations,
    titled ``title`` (method and dataset), with a dashed vertical line at ``pretrain_end`` on both panels
    when the run has a labeled-only pre-training stage (bcp, hgdtgl)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [int(r["iteration"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.9))
    for key in [k for k in rows[-1] if k.startswith("loss_")]:
        a.plot(it, [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows], label=key[5:])
    a.set_xlabel("iteration")
    a.set_ylabel("training loss (mean since last validation)")
    dice = [float(r["val_dice_mean"]) if r.get("val_dice_mean") not in (None, "") else np.nan for r in rows]
    b.plot(it, dice, marker="o", label="validation")
    b.set_xlabel("iteration")
    b.set_ylabel("validation mean Dice")
    b.set_ylim(0, 1)
    if pretrain_end:
        for ax in (a, b):
            ax.axvline(pretrain_end, color="0.4", linestyle="--", linewidth=1, label="end of pre-training")
    a.legend(fontsize=8)
    if pretrain_end:
        b.legend(fontsize=8, loc="lower right")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(path: Path, rows: list[dict], title: str | None = None, pretrain_end: int | None = None) -> None:
    """Write :func:`curves_figure` as a PNG."""
    import matplotlib.pyplot as plt

    fig = curves_figure(rows, title, pretrain_end)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
