"""Training formats, one module each, all returning the same :class:`TrainData` (training set at the training
size) and :class:`Case` list (evaluation cases at their original size): ``ssl4mis`` (ACDC layout:
data/slices/*.h5 + *.list, data/<case>.h5 volumes), ``images`` (images/ + masks/ folders with optional *.list
splits), ``nifti`` (nnU-Net imagesTr/labelsTr/dataset.json, sliced in the display geometry) and ``npz`` (a file
written by ``hgdtgl pack``). Each module has ``load_train(root, size, train_list, masks)`` and
``load_cases(root, split, with_labels)``; ``FORMATS`` maps a format's name to its module. Adding a format = one
new module + one line in ``FORMATS`` (+ its test in :func:`detect_format`).

Stimulus ids, slice indices and the display geometry follow :mod:`gazekit.ids` (the rules gazekit renders
gaze with): an SSL4MIS slice file ``<case>_slice_K.h5`` is (case, K - 1); an image is (file stem, None); a NIfTI
slice is (case, k) with k the slice of the volume in its display geometry. ``TrainData.geometry`` records each
stimulus' display geometry, which the gaze join checks against the store's. The class names follow one rule for
every format (:mod:`hgdtgl.data.formats.base`).
"""

from __future__ import annotations

from pathlib import Path

from gazekit.errors import GazekitError
from hgdtgl.data.formats import images, nifti, packed, ssl4mis
from hgdtgl.data.formats.base import IMAGE_EXT, Case, TrainData, select_labeled

__all__ = ["FORMATS", "IMAGE_EXT", "Case", "TrainData", "detect_format", "load_cases", "load_train", "select_labeled"]

FORMATS = {"ssl4mis": ssl4mis, "images": images, "nifti": nifti, "npz": packed}


def detect_format(root: str | Path) -> str:
    """Which dataset format ``root`` is in; a one-line error listing what was expected otherwise."""
    root = Path(root)
    if root.is_file() and root.suffix == ".npz":
        return "npz"
    if (root / "data" / "slices").is_dir():
        return "ssl4mis"
    if (root / "images").is_dir():  # masks/ may be absent: gazesup trains without masks
        return "images"
    if (root / "imagesTr").is_dir():
        return "nifti"
    raise GazekitError(
        root,
        None,
        "expected a dataset: ssl4mis (data/slices/*.h5 + train_slices.list), images (images/ + masks/; gazesup: masks/ "
        "optional), "
        "nifti (imagesTr/ + labelsTr/ + dataset.json) or a .npz from `hgdtgl pack`",
    )


def load_train(
    root: str | Path, size: int, fmt: str | None = None, train_list: str | None = None, masks: bool = True
) -> TrainData:
    """Decode the training split of a dataset once, resized to size x size; ``train_list`` (a .list file)
    replaces the dataset's own training list. ``masks=False`` (a method that trains without masks): an images
    folder's training labels are zeros and masks/ may be absent; the masks that exist are only looked at for
    the number of classes. In the other formats the labels share the image's file (the engine zeroes them)."""
    root = Path(root)
    fmt = fmt or detect_format(root)
    if fmt != detect_format(root):
        raise GazekitError(
            root, "--format", f"expected a {fmt} dataset, but the folder looks like {detect_format(root)}"
        )
    return FORMATS[fmt].load_train(root, size, train_list, masks)


def load_cases(root: str | Path, split: str, fmt: str | None = None, with_labels: bool = True) -> list[Case]:
    """Evaluation cases of a split (``val``, ``test`` or a .list file) at their original size."""
    root = Path(root)
    fmt = fmt or detect_format(root)
    if fmt not in FORMATS:
        raise GazekitError(root, "--format", f"expected ssl4mis, images, nifti or npz, got {fmt!r}")
    return FORMATS[fmt].load_cases(root, split, with_labels)
