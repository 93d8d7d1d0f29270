"""``npz``: a whole dataset in one compressed .npz, written by :func:`write` (``hgdtgl pack``) and read back by
:func:`load_train` / :func:`load_cases`: the training images at the training size with labels, keys, groups and
gaze heatmaps, and the evaluation cases of each packed split at their original size.

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
from hgdtgl.data.density import as_density
from hgdtgl.data.formats.base import Case, TrainData, read_list

PACK_FORMAT = "hgdtgl-pack"
IMAGE_DTYPES = ("uint8", "float16")


def load_train(root: Path, size: int, train_list: str | None = None, masks: bool = True) -> TrainData:
    """The packed training set (``train_list`` and ``masks`` are not used: the pack holds one training split,
    with the class names it was packed with); ``size`` must be the size it was packed at."""
    path = Path(root)
    z, meta = _open(path)
    if meta["size"] != size:
        raise GazekitError(path, "size", f"expected --size {meta['size']} (the size it was packed at), got {size}")
    keys = [(str(s), None if int(k) < 0 else int(k)) for s, k in zip(z["train_sid"], z["train_slice"], strict=True)]
    data = TrainData(
        _get_images(z, "train_images"),
        z["train_labels"],
        keys,
        [str(g) for g in z["train_group"]],
        int(meta["num_classes"]),
        meta["source_format"],
        names=meta.get("class_names"),
        geometry=meta.get("geometry", {}),  # packs written before it was recorded: unknown, not checked
    )
    if "train_heat" in z.files:
        heat = as_density(z["train_heat"].astype(np.float32))  # the join-time normalisation, as join_gaze
        data.heat = (heat * size * size).astype(np.float16)  # mean 1, as join_gaze
        data.has_gaze = z["train_has_gaze"]
    return data


def load_cases(root: Path, split: str, with_labels: bool = True) -> list[Case]:
    """Cases of a packed split (``val``/``test``), or those of a .list file found in a packed split (with the
    labels they were packed with)."""
    path = Path(root)
    z, meta = _open(path)
    splits: dict[str, list[str]] = meta["splits"]
    if split in splits:
        wanted = [(split, i) for i in range(len(splits[split]))]
    else:
        where = {n: (s, i) for s, names in splits.items() for i, n in enumerate(names)}
        names = read_list(Path(split))
        missing = [n for n in names if n not in where]
        if missing:
            raise GazekitError(path, split, f"expected cases packed in splits {list(splits)}; missing {missing[:3]}")
        wanted = [where[n] for n in names]
    cases = []
    for s, i in wanted:
        img = _get_images(z, f"{s}__{i}__image")
        img = img.astype(np.float32) / 255.0 if img.dtype == np.uint8 else img.astype(np.float32)
        cases.append(Case(splits[s][i], img, z[f"{s}__{i}__label"], f"{path}:{s}/{splits[s][i]}"))
    return cases


def write(
    out: str | Path,
    data: TrainData,
    cases: dict[str, list[Case]],
    source: str | Path,
    gaze_dir: str | None = None,
    image_dtype: str = "uint8",
) -> dict:
    """Write ``out`` (.npz): the training set ``data`` (its heat joined from ``gaze_dir``, if any) and the
    evaluation ``cases`` of each split name; returns the meta (counts, sizes)."""
    if image_dtype not in IMAGE_DTYPES:
        raise GazekitError("--image-dtype", image_dtype, "expected uint8 or float16")
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
    for split, split_cases in cases.items():
        for i, c in enumerate(split_cases):
            _put_images(arrays, f"{split}__{i}__image", _quantise(c.image, image_dtype))
            arrays[f"{split}__{i}__label"] = c.label
    meta = {
        "format": PACK_FORMAT,
        "source_format": data.format,
        "source": str(source),
        "size": data.size,
        "num_classes": data.num_classes,
        "class_names": data.class_names,
        "image_dtype": image_dtype,
        "n_train": len(data.keys),
        "n_with_gaze": int(data.has_gaze.sum()) if data.has_gaze is not None else 0,
        "gaze_dir": str(gaze_dir) if gaze_dir else None,
        "splits": {split: [c.name for c in split_cases] for split, split_cases in cases.items()},
        "geometry": data.geometry,  # display geometry per stimulus: a store joined later is checked against it
    }
    arrays["meta"] = np.array(json.dumps(meta))
    with atomic_path(out) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return meta


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


def _get_images(z, key: str) -> np.ndarray:
    if key in z.files:
        return z[key]
    data, off, shape = z[f"{key}_png"], z[f"{key}_offsets"], tuple(z[f"{key}_shape"])
    out = np.empty(shape, dtype=np.uint8)
    for i in range(shape[0]):
        im = cv2.imdecode(data[off[i] : off[i + 1]], cv2.IMREAD_UNCHANGED)
        out[i] = im[None] if im.ndim == 2 else im.transpose(2, 0, 1)
    return out


def _open(path: Path) -> tuple[np.lib.npyio.NpzFile, dict]:
    try:
        z = np.load(path, allow_pickle=False)
        meta = json.loads(str(z["meta"]))
    except (OSError, ValueError, KeyError) as exc:
        raise GazekitError(path, "meta", f"expected a dataset packed by `hgdtgl pack`: {exc}") from None
    if meta.get("format") != PACK_FORMAT:
        raise GazekitError(path, "meta.format", f"expected {PACK_FORMAT!r}")
    return z, meta
