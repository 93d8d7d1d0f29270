"""curves.png: titled with the method and dataset, a line where pre-training ends."""

from __future__ import annotations

import numpy as np

from hgdtgl.config import TrainConfig
from hgdtgl.engine import Trainer
from hgdtgl.runlog import curves_figure, plot_curves

ROWS = [
    {"iteration": 10, "stage": "pretrain", "loss_total": 1.0, "loss_mix": 1.0, "val_dice_mean": 0.2},
    {"iteration": 20, "stage": "train", "loss_total": 0.8, "loss_mix": 0.7, "val_dice_mean": 0.4},
    {"iteration": 30, "stage": "train", "loss_total": 0.6, "loss_mix": 0.5, "val_dice_mean": 0.5},
]


def _vlines(ax) -> list[float]:
    """x of the vertical lines of an axis (two equal x values spanning the axis height)."""
    out = []
    for line in ax.get_lines():
        x = np.asarray(line.get_xdata(), float)
        if len(x) == 2 and x[0] == x[1]:
            out.append(float(x[0]))
    return out


def test_curves_title_and_pretraining_line(tmp_path):
    import matplotlib.pyplot as plt

    fig = curves_figure(ROWS, "hgdtgl (GazeMix + MGP) on ACDC, seed 1", pretrain_end=10)
    assert fig._suptitle.get_text() == "hgdtgl (GazeMix + MGP) on ACDC, seed 1"
    loss_ax, dice_ax = fig.axes
    assert _vlines(loss_ax) == [10.0] and _vlines(dice_ax) == [10.0]
    assert "end of pre-training" in [t.get_text() for t in loss_ax.get_legend().get_texts()]
    np.testing.assert_allclose(dice_ax.get_lines()[0].get_ydata(), [0.2, 0.4, 0.5])
    plt.close(fig)
    fig = curves_figure(ROWS, "supervised on ACDC, seed 1", pretrain_end=None)  # no pre-training stage: no line
    assert all(_vlines(ax) == [] for ax in fig.axes)
    plt.close(fig)
    plot_curves(tmp_path / "curves.png", ROWS, "t", 10)
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_trainer_names_method_and_dataset(tmp_path):
    cfg = TrainConfig(data=str(tmp_path / "ACDC"), out=str(tmp_path / "r"), method="hgdtgl", device="cpu", seed=3)
    assert Trainer(cfg).curves_title() == "hgdtgl (GazeMix + MGP) on ACDC, seed 3"
    cfg = TrainConfig(data=str(tmp_path / "k.npz"), out=str(tmp_path / "r"), method="bcp", device="cpu")
    assert Trainer(cfg).curves_title() == "bcp on k.npz, seed 1337"
