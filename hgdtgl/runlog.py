"""The run's human-readable record: the progress bar and one line per validation on stderr, TensorBoard
events, metrics.csv (one row per validation) and curves.png. :class:`RunLog` is the Trainer's logging hook;
the checkpoints are the Trainer's own (hgdtgl.engine.Trainer.checkpoint)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

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


class RunLog:
    """What a training run reports, on rank 0 only (other ranks: nothing), through the Trainer's calls:
    ``open`` (once the run directory exists), ``progress`` (the loop's iterations, as a progress bar),
    ``on_step``, ``on_validation`` and ``close``."""

    def __init__(self, out: Path, title: str | None = None, pretrain_end: int | None = None, rank: int = 0):
        self.out, self.title, self.pretrain_end, self.rank = Path(out), title, pretrain_end, rank
        self.writer: Any = None  # a TensorBoard SummaryWriter when tensorboard is installed
        self.bar: Any = None  # the tqdm progress bar of the loop

    def open(self) -> None:
        """TensorBoard events in ``out/tensorboard`` (a note on stderr when tensorboard is not installed)."""
        if self.rank != 0:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(str(self.out / "tensorboard"))
        except ImportError:
            print("tensorboard is not installed: no TensorBoard events (metrics.csv has every value)", file=sys.stderr)

    def progress(self, start: int, total: int, desc: str):
        """The iterations ``start`` .. ``total`` - 1 as a progress bar (silent on other ranks)."""
        from tqdm import tqdm

        self.bar = tqdm(
            range(start, total), initial=start, total=total, disable=self.rank != 0, desc=desc, mininterval=1.0
        )
        return self.bar

    def on_step(self, it: int, loss, lr: float) -> None:
        """Every 50th iteration: the step's loss (a tensor: read back from the device only then) and learning
        rate on the bar."""
        if self.rank == 0 and it % 50 == 0:
            self.bar.set_postfix(loss=f"{float(loss.detach()):.3f}", lr=f"{lr:.4f}")

    def on_validation(self, row: dict, rows: list[dict], best: dict) -> None:
        """After each validation: ``row``'s numbers as TensorBoard scalars, metrics.csv of all ``rows``,
        curves.png, and one progress line (``best``: the stage's best validation, {"dice", "iteration"})."""
        if self.rank != 0:
            return
        done = row["iteration"]
        if self.writer is not None:
            for k, v in row.items():
                if k != "iteration" and isinstance(v, float):
                    self.writer.add_scalar(k, v, done)
            self.writer.flush()
        write_metrics(self.out / "metrics.csv", rows)
        try:
            plot_curves(self.out / "curves.png", rows, self.title, self.pretrain_end)
        except ImportError:
            pass  # matplotlib absent (a bare GPU machine): metrics.csv has the curves
        msg = f"iteration {done} ({row['stage']}): loss {row['loss_total']:.4f}"
        if "val_dice_mean" in row:
            msg += f", val Dice {row['val_dice_mean']:.4f} (best {best['dice']:.4f} at {best['iteration']})"
        if self.bar is not None:
            self.bar.write(msg, file=sys.stderr)
        else:
            print(msg, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.writer is not None:
            self.writer.close()
