"""What every training format returns and the rules they share: :class:`TrainData` (training images at the
training size), :class:`Case` (an evaluation case at its original size), split lists, resizing, the labeled
subset and the class names.

Class names (one rule for every format, :func:`label_names`): the nnU-Net style ``labels`` mapping
(``{"background": 0, "lv": 1, ...}``) of the first of ``classes.json`` next to the training list,
``classes.json`` in the dataset folder, ``dataset.json`` in the dataset folder; without one, ACDC's
``rv, myo, lv`` for a 4-class SSL4MIS set, else ``class_1 .. class_{K-1}``. The names travel in the
checkpoint, so ``hgdtgl evaluate`` writes them into metrics.csv.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from gazekit.errors import GazekitError

IMAGE_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


ACDC_CLASSES = ("rv", "myo", "lv")


@dataclass
class TrainData:
    """Training images at the training size. ``images`` [N,C,S,S] uint8 (0-255) or float16 (0-1);
    ``labels`` [N,S,S] uint8; ``keys`` (stimulus_id, slice_index or None) per image; ``groups`` the
    patient / case of each image (labeled subsets are chosen by group); ``heat`` [N,S,S] float16 gaze
    densities times S*S (mean 1, so float16 keeps its precision; zeros where ``has_gaze`` is False);
    ``names`` the foreground class names when the dataset names its classes (module docstring); ``geometry``
    the display geometry of each stimulus at its original size (:func:`gazekit.ids.geometry_label`)."""

    images: np.ndarray
    labels: np.ndarray
    keys: list[tuple[str, int | None]]
    groups: list[str]
    num_classes: int
    format: str
    heat: np.ndarray | None = None
    has_gaze: np.ndarray | None = None
    names: list[str] | None = None
    geometry: dict[str, str] = field(default_factory=dict)

    @property
    def class_names(self) -> list[str]:
        """Foreground class names (K - 1): ``names``, else ACDC's for a 4-class SSL4MIS set, else class_k."""
        if self.names is not None:
            return list(self.names)
        if self.format == "ssl4mis" and self.num_classes == 4:
            return list(ACDC_CLASSES)
        return [f"class_{k}" for k in range(1, self.num_classes)]

    @property
    def in_channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> int:
        return int(self.images.shape[-1])


@dataclass
class Case:
    """One evaluation case at its original size: ``image`` [D,C,H,W] float32 in [0,1] (D = 1 for a 2D image),
    ``label`` [D,H,W] uint8 or None, ``source`` the file it came from. A NIfTI case is in its display geometry
    (:func:`gazekit.ids.nifti_to_display`); ``affine`` is the source file's own, to map predictions back
    (:func:`gazekit.ids.nifti_from_display`)."""

    name: str
    image: np.ndarray
    label: np.ndarray | None
    source: str
    affine: np.ndarray | None = None


def read_list(path: Path) -> list[str]:
    """Names in a split list, one a line, extensions dropped."""
    try:
        lines = path.read_text().split()
    except OSError as exc:
        raise GazekitError(path, None, f"expected a readable split list: {exc}") from None
    return [re.sub(r"\.(h5|nii\.gz|nii|png|jpe?g|bmp|tiff?)$", "", s, flags=re.I) for s in lines if s]


def split_list(root: Path, split: str) -> Path:
    """The list file of a split name (``val``, ``test``, ``train``) or an explicit path."""
    p = Path(split)
    if p.suffix == ".list" or p.is_file():
        return p
    for name in (f"{split}.list", f"{split}_slices.list"):
        if (root / name).is_file():
            return root / name
    raise GazekitError(root / f"{split}.list", None, f"file not found, expected a split list for split {split!r}")


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """[C,H,W] float -> [C,size,size] float32, bilinear."""
    if img.shape[1:] == (size, size):
        return img.astype(np.float32)
    return np.stack([cv2.resize(c.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) for c in img])


def resize_label(lab: np.ndarray, size: int) -> np.ndarray:
    """[H,W] integer labels -> [size,size] uint8, nearest (order 0)."""
    if lab.shape == (size, size):
        return lab.astype(np.uint8)
    return cv2.resize(lab.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)


def select_labeled(groups: list[str], labeled: int | None, ratio: float | None, seed: int) -> np.ndarray:
    """Boolean mask of labeled images: the first ``labeled`` groups in list order (SSL4MIS convention), or a
    seeded ``ratio`` of the groups, or all of them when neither is given."""
    order = list(dict.fromkeys(groups))
    if labeled is not None:
        if not 0 < labeled <= len(order):
            raise GazekitError("--labeled", str(labeled), f"expected 1 to {len(order)} patients/cases")
        chosen = set(order[:labeled])
    elif ratio is not None:
        k = max(1, round(ratio * len(order)))
        rng = np.random.default_rng(seed)
        chosen = {order[i] for i in rng.choice(len(order), size=k, replace=False)}
    else:
        chosen = set(order)
    return np.array([g in chosen for g in groups], dtype=bool)


def label_names(path: Path) -> list[str]:
    """All class names, background first, of a JSON file with an nnU-Net ``labels`` mapping: name -> index
    (``{"background": 0, "lv": 1}``, nnU-Net v2) or index -> name (``{"0": "background"}``, v1); the indices
    must be 0 .. K-1, each once."""
    try:
        labels = json.loads(path.read_text())["labels"]
        if all(isinstance(v, int) for v in labels.values()):
            pairs = {int(v): str(k) for k, v in labels.items()}
        else:
            pairs = {int(k): str(v) for k, v in labels.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise GazekitError(path, "labels", f'expected a "labels" mapping of class names to indices: {exc}') from None
    if sorted(pairs) != list(range(len(labels))) or len(labels) < 2:
        raise GazekitError(path, "labels", f"expected indices 0 .. K-1 (K >= 2), each once, got {sorted(pairs)}")
    return [pairs[k] for k in range(len(pairs))]


def name_file(root: Path, train_list: str | None) -> Path | None:
    """The file that names the classes (module docstring), or None."""
    candidates = [Path(train_list).parent / "classes.json"] if train_list else []
    candidates += [root / "classes.json", root / "dataset.json"]
    return next((p for p in candidates if p.is_file()), None)


def named(data: TrainData, root: Path, train_list: str | None) -> TrainData:
    """``data`` with the class names of the file that names them (module docstring), when there is one."""
    path = name_file(root, train_list)
    if path is not None:
        names = label_names(path)
        if data.num_classes > len(names):
            raise GazekitError(
                path,
                "labels",
                f"expected at least {data.num_classes} classes (the labels go to {data.num_classes - 1})",
            )
        data.num_classes, data.names = len(names), names[1:]
    return data
