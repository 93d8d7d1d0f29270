"""``hgdtgl pack``: a whole dataset (training images at the training size with labels and gaze heatmaps,
evaluation cases at their original size, lists) in one compressed .npz that ``--data data.npz`` trains from.

Images are quantised to uint8 (0-255, each image stored as a lossless PNG: ~20 % smaller than zlib on raw
arrays) or kept as float16; heatmaps are stored as uint8 scaled to each map's maximum (renormalised to a
density when loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from hgdtgl.data.formats import PACK_FORMAT, load_cases, load_train


def _quantise(a: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "uint8":
        return np.clip(np.rint(a.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    return a.astype(np.float16)


def _put_images(arrays: dict[str, np.ndarray], key: str, images: np.ndarray) -> None:
    """uint8 [N,C,H,W] (C = 1 or 3) as concatenated PNGs + offsets + shape; anything else as a raw array."""
    if images.dtype != np.uint8 or images.shape[1] not in (1, 3):
        arrays[key] = images
        return
    blobs = [
        cv2.imencode(".png", np.ascontiguousarray(im.transpose(1, 2, 0)), [cv2.IMWRITE_PNG_COMPRESSION, 9])[1]
        for im in images
    ]
    arrays[f"{key}_png"] = np.concatenate(blobs) if blobs else np.zeros(0, np.uint8)
    arrays[f"{key}_offsets"] = np.cumsum([0] + [len(b) for b in blobs]).astype(np.int64)
    arrays[f"{key}_shape"] = np.array(images.shape, dtype=np.int64)


def pack(
    root: str | Path,
    out: str | Path,
    size: int = 256,
    gaze_dir: str | None = None,
    fmt: str | None = None,
    image_dtype: str = "uint8",
    splits: dict[str, str] | None = None,
    train_list: str | None = None,
) -> dict:
    """Write ``out`` (.npz); returns its meta (counts, sizes). ``splits`` maps packed split names to split
    names or .list files (default val and test); splits whose list is absent are skipped."""
    from hgdtgl.data.gaze import join_gaze

    if image_dtype not in ("uint8", "float16"):
        raise GazekitError("--image-dtype", image_dtype, "expected uint8 or float16")
    data = load_train(root, size, fmt, train_list)
    if gaze_dir:
        data = join_gaze(data, gaze_dir, strict=False)
    images = data.images if data.images.dtype == np.uint8 else _quantise(data.images, image_dtype)
    if data.images.dtype == np.uint8 and image_dtype == "float16":
        images = (data.images.astype(np.float32) / 255.0).astype(np.float16)
    arrays: dict[str, np.ndarray] = {
        "train_labels": data.labels,
        "train_sid": np.array([k[0] for k in data.keys]),
        "train_slice": np.array([-1 if k[1] is None else k[1] for k in data.keys], dtype=np.int32),
        "train_group": np.array(data.groups),
    }
    _put_images(arrays, "train_images", images)
    if data.heat is not None:
        heat = data.heat.astype(np.float32)
        peak = heat.reshape(len(heat), -1).max(axis=1).clip(1e-12)
        arrays["train_heat"] = np.rint(heat / peak[:, None, None] * 255).astype(np.uint8)
        arrays["train_has_gaze"] = data.has_gaze
    packed_splits = {}
    for split, source in (splits or {"val": "val", "test": "test"}).items():
        try:
            cases = load_cases(root, source, fmt)
        except GazekitError:
            continue
        packed_splits[split] = [c.name for c in cases]
        for i, c in enumerate(cases):
            _put_images(arrays, f"{split}__{i}__image", _quantise(c.image, image_dtype))
            arrays[f"{split}__{i}__label"] = c.label
    meta = {
        "format": PACK_FORMAT,
        "source_format": data.format,
        "source": str(root),
        "size": size,
        "num_classes": data.num_classes,
        "class_names": data.class_names,
        "image_dtype": image_dtype,
        "n_train": len(data.keys),
        "n_with_gaze": int(data.has_gaze.sum()) if data.has_gaze is not None else 0,
        "gaze_dir": str(gaze_dir) if gaze_dir else None,
        "splits": packed_splits,
        "geometry": data.geometry,  # display geometry per stimulus: a store joined later is checked against it
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return meta
