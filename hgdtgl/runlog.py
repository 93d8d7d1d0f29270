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


def plot_curves(path: Path, rows: list[dict]) -> None:
    """Training losses and validation Dice against iterations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    it = [int(r["iteration"]) for r in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
    for key in [k for k in rows[-1] if k.startswith("loss_")]:
        a.plot(it, [float(r[key]) if r.get(key) not in (None, "") else np.nan for r in rows], label=key[5:])
    a.set_xlabel("iteration")
    a.set_ylabel("training loss (mean since last validation)")
    a.legend(fontsize=8)
    dice = [float(r["val_dice_mean"]) if r.get("val_dice_mean") not in (None, "") else np.nan for r in rows]
    b.plot(it, dice, marker="o")
    b.set_xlabel("iteration")
    b.set_ylabel("validation mean Dice")
    b.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
