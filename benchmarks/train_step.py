"""Time per training iteration of each hgdtgl method against a plain SSL4MIS-style mean-teacher loop.

Baseline (the SSL4MIS way): slices kept at their original size, per-sample CPU augmentation with scipy
(random rot90/flip or rotation +-20 deg, order 0, zoom to the training size) in a torch DataLoader with a
two-stream batch sampler, then the SSL4MIS mean-teacher step. Ours: the same U-Net and batch through
hgdtgl's engine (data in memory at the training size, whole-batch augmentation on the device, the shared
step), for every method and the gaze ablations, in each precision (``--precisions fp32,bf16``: bf16 autocast)
and memory format (``--memory-formats contiguous,channels_last``) asked for. Medians over steps and rounds, side
by side in one process. The header names the CPU's capability (hgdtgl.precision.cpu_capability: ``+bf16`` where
it executes bf16 natively; elsewhere bf16 is emulated and far slower).
Data: the first patients of the shared ACDC train_slices.list; gaze: synthetic (a Gaussian on each slice's
foreground), since only timing is measured.

    PYTHONPATH=. OMP_NUM_THREADS=2 python benchmarks/train_step.py --size 128 --batch-size 16 --labeled-bs 8
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/train_step.py --size 128 --batch-size 8 --labeled-bs 4 \
        --base-channels 8 --methods mt,hgdtgl --precisions fp32,bf16 --memory-formats contiguous,channels_last
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import h5py
import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage
from torch.utils.data import DataLoader, Dataset, Sampler

from hgdtgl.config import TrainConfig
from hgdtgl.data.batches import BatchMaker, DeviceData
from hgdtgl.data.formats.base import TrainData, resize_image, resize_label
from hgdtgl.ema import ema_update
from hgdtgl.engine import Parts, train_step
from hgdtgl.losses import sigmoid_rampup
from hgdtgl.methods import make_method
from hgdtgl.models import UNet
from hgdtgl.precision import cpu_capability

# rows of ours: name -> (method, TrainConfig switches)
METHOD_ROWS = {
    "supervised": ("supervised", {}),
    "mt": ("mt", {}),
    "mt --mgp": ("mt", {"mgp": True}),
    "bcp": ("bcp", {}),
    "hgdtgl --no-gazemix": ("hgdtgl", {"gazemix": False}),
    "hgdtgl --no-mgp": ("hgdtgl", {"mgp": False}),
    "hgdtgl": ("hgdtgl", {}),
}
RNG = np.random.default_rng(0)  # the SSL4MIS augmentation draws (legacy np.random there)
SHARED = Path(os.environ.get("GAZEKIT_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


# ---------------------------------------------------------------- the SSL4MIS way


class SSL4MISSlices(Dataset):
    """Slices at original size; RandomGenerator of SSL4MIS (scipy, per sample)."""

    def __init__(self, images, labels, size):
        self.images, self.labels, self.size = images, labels, size

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image, label = self.images[i], self.labels[i]
        if RNG.random() > 0.5:
            k = RNG.integers(0, 4)
            image, label = np.rot90(image, k), np.rot90(label, k)
            axis = RNG.integers(0, 2)
            image, label = np.flip(image, axis=axis).copy(), np.flip(label, axis=axis).copy()
        elif RNG.random() > 0.5:
            angle = RNG.integers(-20, 20)
            image = ndimage.rotate(image, angle, order=0, reshape=False)
            label = ndimage.rotate(label, angle, order=0, reshape=False)
        x, y = image.shape
        image = ndimage.zoom(image, (self.size / x, self.size / y), order=0)
        label = ndimage.zoom(label, (self.size / x, self.size / y), order=0)
        return torch.from_numpy(image.astype(np.float32))[None], torch.from_numpy(label.astype(np.int64))


class TwoStreamBatchSampler(Sampler):
    """SSL4MIS: each batch = primary_bs labeled + secondary_bs unlabeled indices."""

    def __init__(self, primary, secondary, batch_size, secondary_bs):
        self.primary, self.secondary = primary, secondary
        self.pbs, self.sbs = batch_size - secondary_bs, secondary_bs

    def __iter__(self):
        while True:
            p = RNG.choice(self.primary, self.pbs)
            s = RNG.choice(self.secondary, self.sbs)
            yield list(p) + list(s)

    def __len__(self):
        return 10**9


def ssl4mis_dice_loss(soft, target, n_classes):
    onehot = F.one_hot(target, n_classes).permute(0, 3, 1, 2).float()
    loss = 0.0
    for k in range(n_classes):
        inter = (soft[:, k] * onehot[:, k]).sum()
        loss += 1 - (2 * inter + 1e-5) / ((soft[:, k] ** 2).sum() + (onehot[:, k] ** 2).sum() + 1e-5)
    return loss / n_classes


def baseline_steps(images, labels, n_lab, args, n_steps):
    """Per-iteration (total_s, data_wait_s) of the SSL4MIS mean-teacher loop."""
    torch.manual_seed(0)
    model = UNet(1, 4, args.base_channels)
    ema = copy.deepcopy(model)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    ds = SSL4MISSlices(images, labels, args.size)
    sampler = TwoStreamBatchSampler(
        list(range(n_lab)), list(range(n_lab, len(images))), args.batch_size, args.batch_size - args.labeled_bs
    )
    loader = iter(DataLoader(ds, batch_sampler=sampler, num_workers=args.workers))
    lbs, times = args.labeled_bs, []
    for it in range(n_steps):
        t0 = time.perf_counter()
        x, y = next(loader)
        t1 = time.perf_counter()
        noise = torch.clamp(torch.randn_like(x[lbs:]) * 0.1, -0.2, 0.2)
        out = model(x)[0]
        soft = out.softmax(dim=1)
        with torch.no_grad():
            ema_soft = ema(x[lbs:] + noise)[0].softmax(dim=1)
        sup = 0.5 * (F.cross_entropy(out[:lbs], y[:lbs]) + ssl4mis_dice_loss(soft[:lbs], y[:lbs], 4))
        loss = sup + 0.1 * sigmoid_rampup(it // 150, 200) * ((soft[lbs:] - ema_soft) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        ema_update(ema, model, it, 0.99)
        times.append((time.perf_counter() - t0, t1 - t0))
    return times


# ---------------------------------------------------------------- ours


def ours_steps(
    data: TrainData,
    labeled: np.ndarray,
    args,
    n_steps,
    method: str,
    precision: str = "fp32",
    channels_last: bool = False,
    **switches,
):
    cfg = TrainConfig(
        data="-",
        out="-",
        method=method,
        batch_size=args.batch_size,
        labeled_bs=args.labeled_bs,
        size=args.size,
        base_channels=args.base_channels,
        iterations=10**6,
        pretrain_iterations=0,
        device="cpu",
        **switches,
    ).resolved()
    torch.manual_seed(0)
    student = UNet(1, 4, args.base_channels, mgp=cfg.uses_mgp)
    if channels_last:
        student.to(memory_format=torch.channels_last)
    method_obj = make_method(cfg)
    teacher = copy.deepcopy(student) if method_obj.recipe.uses_teacher else None
    optim = torch.optim.SGD(student.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-4)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    lab_pool, unl_pool = np.flatnonzero(labeled), np.flatnonzero(~labeled)
    make = BatchMaker(cfg, DeviceData(data, torch.device("cpu")), lab_pool, unl_pool, 0, 1, channels_last)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16) if precision == "bf16" else nullcontext()
    parts = Parts(cfg, method_obj, student, student, teacher, optim, scaler, autocast)
    times = []
    for it in range(n_steps):
        t0 = time.perf_counter()
        batch, g = make(it)
        t1 = time.perf_counter()
        train_step(parts, it, batch, g)
        times.append((time.perf_counter() - t0, t1 - t0))
    return times


def load(args):
    acdc = SHARED / "ACDC"
    names = (acdc / "train_slices.list").read_text().split()[: args.slices]
    raw_img, raw_lab = [], []
    for n in names:
        with h5py.File(acdc / "data" / "slices" / f"{n}.h5") as f:
            raw_img.append(f["image"][:])
            raw_lab.append(f["label"][:])
    images = np.stack([resize_image(i[None], args.size) for i in raw_img]).astype(np.float16)
    labels = np.stack([resize_label(lab, args.size) for lab in raw_lab])
    heat = np.zeros(labels.shape, np.float32)
    yy, xx = np.mgrid[0 : args.size, 0 : args.size] + 0.5
    for i, lab in enumerate(labels):
        ys, xs = np.nonzero(lab)
        cy, cx = (ys.mean(), xs.mean()) if len(ys) else (args.size / 2, args.size / 2)
        h = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (args.size / 12) ** 2))
        heat[i] = h / h.sum() * h.size
    groups = [n.split("_")[0] for n in names]
    keys = [(n.rsplit("_slice_", 1)[0], int(n.rsplit("_", 1)[1]) - 1) for n in names]
    data = TrainData(images, labels, keys, groups, 4, "ssl4mis", heat.astype(np.float16), np.ones(len(names), bool))
    first = list(dict.fromkeys(groups))[: args.labeled_patients]
    labeled = np.array([g in first for g in groups])
    order = np.concatenate([np.flatnonzero(labeled), np.flatnonzero(~labeled)])
    return data, labeled, [raw_img[i] for i in order], [raw_lab[i] for i in order], int(labeled.sum())


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--labeled-bs", type=int, default=8)
    ap.add_argument("--base-channels", type=int, default=16)
    ap.add_argument("--slices", type=int, default=200, help="first N lines of train_slices.list")
    ap.add_argument("--labeled-patients", type=int, default=3)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per round (after 1 warm-up)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers of the baseline")
    ap.add_argument("--methods", default=",".join(METHOD_ROWS), help="comma-separated rows of ours (default all)")
    ap.add_argument("--precisions", default="fp32", help="comma-separated: fp32, bf16 (autocast)")
    ap.add_argument("--memory-formats", default="contiguous", help="comma-separated: contiguous, channels_last")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))
    data, labeled, raw_img, raw_lab, n_lab = load(args)
    rows = {
        "baseline: SSL4MIS mean teacher (scipy per-sample aug, DataLoader)": lambda n: baseline_steps(
            raw_img, raw_lab, n_lab, args, n
        ),
    }
    for name in args.methods.split(","):
        method, switches = METHOD_ROWS[name]
        for precision in args.precisions.split(","):
            for fmt in args.memory_formats.split(","):
                label = name + ("" if (precision, fmt) == ("fp32", "contiguous") else f" [{precision}, {fmt}]")
                rows[label] = partial(
                    ours_steps, data, labeled, args, method=method, precision=precision,
                    channels_last=fmt == "channels_last", **switches,
                )  # fmt: skip
    results = {k: [] for k in rows}
    for _ in range(args.rounds):
        for name, fn in rows.items():
            results[name] += fn(args.steps + 1)[1:]  # drop the warm-up step
    base = statistics.median(t for t, _ in results[next(iter(rows))])
    first = next(k for k in results if not k.startswith("baseline"))
    ref = statistics.median(t for t, _ in results[first])
    print(
        f"input: {len(labeled)} ACDC slices ({n_lab} labeled), {args.size}x{args.size}, batch {args.batch_size} "
        f"({args.labeled_bs} labeled), U-Net base {args.base_channels}, {torch.get_num_threads()} threads, "
        f"{args.rounds} rounds x {args.steps} steps, medians; CPU {cpu_capability()}"
    )
    print(f"{'loop':70s} {'s/iter':>8s} {'it/s':>7s} {'vs baseline':>11s} {'vs ' + first:>12s} {'data share':>10s}")
    for name, ts in results.items():
        t = statistics.median(x for x, _ in ts)
        d = statistics.median(y / x for x, y in ts)
        print(f"{name:70s} {t:8.3f} {1 / t:7.2f} {base / t:10.2f}x {t / ref:11.2f}x {d:10.1%}")
    print(f"vs baseline = baseline time / this time (>1: faster); vs {first} = this time / that row's time")


if __name__ == "__main__":
    main()
