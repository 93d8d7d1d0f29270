"""A 2-process DDP run on CPU (torchrun, gloo) equals one process with the same global batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hgdtgl.checkpoints import load_checkpoint
from hgdtgl.config import TrainConfig
from hgdtgl.engine import train
from hgdtgl.models import build_model
from tests.hgdtgl_testdata import acdc_store, make_acdc

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("method", ["hgdtgl"])
def test_two_process_ddp_equals_one_process(tmp_path, method):
    data = make_acdc(tmp_path / "data")
    store = acdc_store(data, tmp_path / "store", skip_every=5)
    opts = dict(
        method=method,
        labeled=2,
        iterations=4,  # after 2 pre-training iterations
        pretrain_iterations=2,
        batch_size=8,
        labeled_bs=4,
        size=32,
        base_channels=4,
        val_every=6,
        device="cpu",
        dropout=False,
        channels_last=False,  # one layout on both sides: oneDNN's kernels order their sums by layout and batch
        rampup_iterations=4,
        amp="none",  # the subprocesses do not see the suite's patched precision probe
    )
    # one thread here as in each torchrun process: float sums (convolutions, reductions) are split across threads,
    # so the two runs agree to 2e-5 only with the same thread count (the shell's OMP_NUM_THREADS must not matter)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(TrainConfig(data=str(data), gaze_dir=str(store), out=str(tmp_path / "one"), **opts))
    finally:
        torch.set_num_threads(threads)
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "hgdtgl",
        "train",
        "--data",
        str(data),
        "--gaze-dir",
        str(store),
        "--out",
        str(tmp_path / "two"),
        "--no-dropout",
        "--no-channels-last",
    ]
    for k, v in opts.items():
        if k not in ("dropout", "channels_last"):
            cmd += [f"--{k.replace('_', '-')}", str(v)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    a = load_checkpoint(tmp_path / "one" / "checkpoint_latest.pt")
    b = load_checkpoint(tmp_path / "two" / "checkpoint_latest.pt")
    for which in ("student", "teacher"):
        for k, v in a[which].items():
            if v.is_floating_point():
                assert torch.allclose(v, b[which][k], atol=2e-5, rtol=1e-4), (which, k, (v - b[which][k]).abs().max())
    la, lb = pd.read_csv(tmp_path / "one" / "metrics.csv"), pd.read_csv(tmp_path / "two" / "metrics.csv")
    for col in ("loss_total", "loss_mix", "loss_gaze", "loss_sup"):
        assert np.allclose(la[col], lb[col], rtol=1e-4, equal_nan=True), col
    # the weights moved from their (seeded) initial values: the equality is not trivial
    torch.manual_seed(1337)
    init = build_model(a["model"]).state_dict()
    assert (a["student"]["inc.0.weight"] - init["inc.0.weight"]).abs().max() > 1e-3
