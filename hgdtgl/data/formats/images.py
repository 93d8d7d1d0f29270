"""``images``: an ``images/`` folder with ``masks/`` of the same file stems (binary 0/255 masks or small-integer
label maps), with optional ``train.list`` / ``val.list`` / ``test.list`` splits (without ``train.list`` the
training split is every image not in ``val.list``). An image is the stimulus (file stem, None); grey images
(or RGB with equal channels) train on one channel. A method that trains without masks reads no masks/."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from gazekit.errors import GazekitError
from gazekit.ids import geometry_label
from hgdtgl.data.formats.base import IMAGE_EXT, Case, TrainData, named, read_list, resize_label, split_list


def load_train(root: Path, size: int, train_list: str | None = None, masks: bool = True) -> TrainData:
    """The training images at size x size; ``masks=False``: the labels are zeros and masks/ may be absent (the
    masks that exist are only looked at for the number of classes)."""
    return named(_train_images(root, size, train_list or "train", masks), root, train_list)


def load_cases(root: Path, split: str, with_labels: bool = True) -> list[Case]:
    """The images of a split at their original size ([1,C,H,W] in [0,1]), with their masks when ``with_labels``."""
    cases = []
    grey = _images_grey(root)
    masks = _stem_index(root / "masks")
    for name in _image_names(root, split):
        if with_labels:
            img, mask = _load_image_pair(root, name, grey, masks)
            cases.append(
                Case(name, img[None].astype(np.float32) / 255.0, mask[None], str(_stem_index_cache(root)[name]))
            )
        else:
            img = _read_picture(_stem_index_cache(root)[name], grey)
            img = img[None] if grey else img.transpose(2, 0, 1)
            cases.append(Case(name, img[None].astype(np.float32) / 255.0, None, str(_stem_index_cache(root)[name])))
    return cases


def _read_picture(path: Path, grey: bool) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR)
    if img is None:
        raise GazekitError(path, None, "expected a readable image file (missing or not an image)")
    return img if grey else cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _mask_values(mask: np.ndarray, path: Path) -> np.ndarray:
    """Binary 0/255 (or JPEG-noisy) masks -> 0/1; label maps with small integers kept as they are."""
    if path.suffix.lower() in (".jpg", ".jpeg") or mask.max() > 50:
        return (mask >= 128).astype(np.uint8)
    return mask.astype(np.uint8)


def _stem_index(folder: Path) -> dict[str, Path]:
    """Image files of a folder by file stem ({} for a folder that does not exist, e.g. an absent masks/)."""
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_EXT}


def _image_names(root: Path, split: str) -> list[str]:
    stems = _stem_index(root / "images")
    if split == "train" and not (root / "train.list").is_file():
        held = set(read_list(root / "val.list")) if (root / "val.list").is_file() else set()
        names = [s for s in stems if s not in held]
    else:
        names = read_list(split_list(root, split))
    for n in names:
        if n not in stems:
            raise GazekitError(root / "images", n, "file not found, expected an image for every name of the split list")
    return names


def _images_grey(root: Path) -> bool:
    first = next(iter(_stem_index(root / "images").values()))
    img = cv2.imread(str(first), cv2.IMREAD_UNCHANGED)
    return (
        img is None or img.ndim == 2 or bool(np.all(img[..., 0] == img[..., 1]) and np.all(img[..., 1] == img[..., 2]))
    )


def _load_image_pair(root: Path, name: str, grey: bool, masks: dict[str, Path]) -> tuple[np.ndarray, np.ndarray]:
    img = _read_picture(_stem_index_cache(root)[name], grey)
    img = img[None] if grey else img.transpose(2, 0, 1)
    if name not in masks:
        raise GazekitError(root / "masks", name, "file not found, expected a mask with the image's file stem")
    mask = _mask_values(_read_picture(masks[name], True), masks[name])
    if mask.shape != img.shape[1:]:
        raise GazekitError(masks[name], "shape", f"expected the image's size {img.shape[1:]}, got {mask.shape}")
    return img, mask


_STEMS: dict[Path, dict[str, Path]] = {}


def _stem_index_cache(root: Path) -> dict[str, Path]:
    if root not in _STEMS:
        _STEMS[root] = _stem_index(root / "images")
    return _STEMS[root]


def _mask_classes(root: Path, names: list[str]) -> int:
    """Classes (background included) of the masks that exist for ``names``, 2 when there are none: how a method
    that trains without masks learns that a dataset is multi-class (the mask values are not kept)."""
    masks = _stem_index(root / "masks")
    top = 1
    for name in names:
        if name in masks:
            top = max(top, int(_mask_values(_read_picture(masks[name], True), masks[name]).max()))
    return top + 1


def _train_images(root: Path, size: int, split: str, read_masks: bool = True) -> TrainData:
    names = _image_names(root, split)
    grey = _images_grey(root)
    masks = _stem_index(root / "masks") if read_masks else {}
    images, labels, geometry = [], [], {}
    for name in tqdm(names, desc="decode images", leave=False, mininterval=2):
        if read_masks:
            img, mask = _load_image_pair(root, name, grey, masks)
        else:
            img = _read_picture(_stem_index_cache(root)[name], grey)
            img = img[None] if grey else img.transpose(2, 0, 1)
            mask = np.zeros(img.shape[1:], np.uint8)
        images.append(np.stack([cv2.resize(c, (size, size), interpolation=cv2.INTER_LINEAR) for c in img]))
        labels.append(resize_label(mask, size))
        geometry[name] = geometry_label(mask.shape)
    labels_arr = np.stack(labels)
    keys = [(n, None) for n in names]
    n_classes = int(labels_arr.max()) + 1 if read_masks else _mask_classes(root, names)
    return TrainData(
        np.stack(images).astype(np.uint8), labels_arr, keys, list(names), n_classes, "images", geometry=geometry
    )
