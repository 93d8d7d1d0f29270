"""``ssl4mis``: SSL4MIS's ACDC layout: ``data/slices/<case>_slice_K.h5`` training slices listed in
``train_slices.list``, ``data/<case>.h5`` volumes for the evaluation splits (``val.list``, ``test.list``), each
file with datasets ``image`` and ``label``. A slice file ``<case>_slice_K.h5`` is the stimulus (case, K - 1)
(:func:`gazekit.ids.ssl4mis_slice_id`); the labeled subset is chosen by patient (the case name up to its first
``_``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from gazekit.errors import GazekitError
from gazekit.ids import geometry_label, ssl4mis_slice_id
from hgdtgl.data.formats.base import Case, TrainData, named, read_list, resize_image, resize_label, split_list


def load_train(root: Path, size: int, train_list: str | None = None, masks: bool = True) -> TrainData:
    """The training slices at size x size (``masks`` is not used: the labels share the slice's file)."""
    return named(_train_ssl4mis(root, size, train_list or "train"), root, train_list)


def load_cases(root: Path, split: str, with_labels: bool = True) -> list[Case]:
    """The volumes of a split at their original size ([D,1,H,W]; a 2-D image is one slice)."""
    cases = []
    for name in read_list(split_list(root, split)):
        path = root / "data" / f"{name}.h5"
        image, label = _h5(path)
        if with_labels and label is None:
            raise GazekitError(path, "label", "expected a label dataset for evaluation")
        if image.ndim == 2:
            image, label = image[None], None if label is None else label[None]
        cases.append(Case(name, image[:, None], label, str(path)))
    return cases


def _h5(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            image = np.asarray(f["image"], dtype=np.float32)
            label = np.asarray(f["label"], dtype=np.uint8) if "label" in f else None
    except (OSError, KeyError) as exc:
        raise GazekitError(path, "image", f"expected an HDF5 file with datasets 'image' (and 'label'): {exc}") from None
    return image, label


def _train_ssl4mis(root: Path, size: int, split: str) -> TrainData:
    names = read_list(split_list(root, split))
    images, labels, keys, groups, geometry = [], [], [], [], {}
    max_label = 0
    for name in tqdm(names, desc="decode slices", leave=False, mininterval=2):
        try:
            case, k = ssl4mis_slice_id(name)
        except GazekitError:
            raise GazekitError(
                root / "train_slices.list", name, "expected slice names <case>_slice_<K> (K from 1)"
            ) from None
        image, label = _h5(root / "data" / "slices" / f"{name}.h5")
        if label is None:
            raise GazekitError(root / "data" / "slices" / f"{name}.h5", "label", "expected a label dataset")
        images.append(resize_image(image[None], size).astype(np.float16))
        labels.append(resize_label(label, size))
        max_label = max(max_label, int(label.max()))
        keys.append((case, k))
        groups.append(case.split("_")[0])
        geometry[case] = geometry_label((None, *image.shape))  # the volume's depth is not read from its slices
    return TrainData(np.stack(images), np.stack(labels), keys, groups, max_label + 1, "ssl4mis", geometry=geometry)
