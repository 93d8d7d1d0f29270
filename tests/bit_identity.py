"""Bit-identity of hgdtgl training across a refactor: tiny CPU runs of every method (and the gaze paths: MGP,
GazeMix region / box, fp16 GradScaler, a pack, an image folder), every checkpoint tensor (student, teacher,
optimiser state), the metrics' losses and the pack arrays, compared with torch.equal.

At the base commit, then after the change (one thread; ACDC from ../shared/data or $GAZEKIT_SHARED_DATA)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python tests/bit_identity.py record /tmp/bits/ref.pt
    OMP_NUM_THREADS=1 PYTHONPATH=. python tests/bit_identity.py compare /tmp/bits/ref.pt

``compare`` prints one line per run and BIT-IDENTICAL (exit 0) or DIFFERENT (exit 1). The data are written
next to the reference on the first call and reused, so both calls train on the same files.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import torch

from hgdtgl.checkpoints import load_checkpoint
from hgdtgl.config import TrainConfig
from hgdtgl.data.pack import pack
from hgdtgl.engine import train
from tests.hgdtgl_testdata import acdc_store, blob, make_acdc, make_images, make_store

RUNS = {  # name: options (gaze: with the ACDC store; images: the image folder and its store; packed: the pack)
    "supervised": dict(method="supervised"),
    "mt": dict(method="mt"),
    "mt-gaze": dict(method="mt", gaze=True, mgp=True),
    "bcp": dict(method="bcp"),
    "bcp-gazemix": dict(method="bcp", gaze=True, gazemix=True),
    "hgdtgl": dict(method="hgdtgl", gaze=True),
    "hgdtgl-box-fp16": dict(method="hgdtgl", gaze=True, gazemix_mode="box", amp="fp16"),
    "hgdtgl-packed": dict(method="hgdtgl", packed=True),
    "gazesup": dict(method="gazesup", images=True),
    "gazepseudo": dict(method="gazepseudo", images=True),
    "hgdtgl-images": dict(method="hgdtgl", images=True),
}


def tiny(data: Path, store: Path | None, out: Path, **kw) -> TrainConfig:
    base = dict(
        data=str(data),
        gaze_dir=str(store) if store else None,
        out=str(out),
        labeled=2,
        iterations=12,
        batch_size=4,
        labeled_bs=2,
        size=32,
        base_channels=4,
        val_every=6,
        device="cpu",
        lr=0.03,
        pretrain_iterations=4,
        rampup_iterations=8,
    )
    base.update(kw)
    return TrainConfig(**base)


def make_data(root: Path) -> None:
    acdc = make_acdc(root / "acdc")
    acdc_store(acdc, root / "store", skip_every=5)
    kv = make_images(root / "kv")
    maps = {}
    for i in range(9):
        m = cv2.imread(str(kv / "masks" / f"img{i:02d}.jpg"), cv2.IMREAD_GRAYSCALE) > 127
        maps[(f"img{i:02d}", None)] = blob(m.astype(np.uint8), 4.0).astype(np.float32)
    make_store(root / "kvstore", maps, scales=(1, 2))


def tensors(work: Path, root: Path) -> dict[str, dict[str, torch.Tensor]]:
    """Every run's tensors: {run: {name: tensor}} (and the pack's arrays under "pack")."""
    packed = work / "acdc.npz"
    pack(root / "acdc", packed, size=32, gaze_dir=str(root / "store"))
    z = np.load(packed, allow_pickle=False)
    got = {"pack": {k: torch.from_numpy(np.ascontiguousarray(z[k])) for k in z.files if z[k].dtype.kind in "fiub"}}
    for name, kw in RUNS.items():
        kw = dict(kw)
        gaze, images, from_pack = kw.pop("gaze", False), kw.pop("images", False), kw.pop("packed", False)
        if images:
            cfg = tiny(root / "kv", root / "kvstore", work / name, **kw)
        elif from_pack:
            cfg = tiny(packed, None, work / name, **kw)
        else:
            cfg = tiny(root / "acdc", root / "store" if gaze else None, work / name, **kw)
        out = train(cfg)
        ckpt = load_checkpoint(out / "checkpoint_latest.pt")
        flat = {f"{w}.{k}": v for w in ("student", "teacher") for k, v in (ckpt[w] or {}).items()}
        for i, state in ckpt["optimizer"]["state"].items():
            flat.update({f"optim.{i}.{k}": v for k, v in state.items() if torch.is_tensor(v)})
        m = pd.read_csv(out / "metrics.csv")
        flat.update({f"metrics.{c}": torch.tensor(m[c].to_numpy()) for c in m if c.startswith(("loss_", "val_dice"))})
        got[name] = flat
    return got


def same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """torch.equal, NaN equal to NaN (a loss column is NaN where its term is absent)."""
    if a.dtype.is_floating_point and b.dtype.is_floating_point:
        return torch.equal(a.isnan(), b.isnan()) and torch.equal(a.nan_to_num(), b.nan_to_num())
    return torch.equal(a, b)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", choices=["record", "compare"])
    ap.add_argument("reference", type=Path, help="the .pt file record writes and compare reads")
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = args.reference.parent / "data"
    if not (root / "kvstore").exists():  # written last: a complete set
        shutil.rmtree(root, ignore_errors=True)
        make_data(root)
    work = args.reference.parent / f"runs-{args.mode}"
    shutil.rmtree(work, ignore_errors=True)
    got = tensors(work, root)
    if args.mode == "record":
        torch.save(got, args.reference)
        print(f"recorded {sum(map(len, got.values()))} tensors of {len(got)} runs in {args.reference}")
        return 0
    want, bad = torch.load(args.reference), 0
    for name, ref in want.items():
        have = got.get(name, {})
        diff = sorted(set(ref) ^ set(have)) + [k for k in ref if k in have and not same(ref[k], have[k])]
        print(f"{name}: {len(ref)} tensors, {len(diff)} differ {diff[:3]}")
        bad += len(diff)
    print("BIT-IDENTICAL" if not bad else f"DIFFERENT: {bad} tensors")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
