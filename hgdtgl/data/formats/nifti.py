"""``nifti``: nnU-Net's ``imagesTr/<case>_0000.nii.gz`` (one file a channel) + ``labelsTr/<case>.nii.gz`` +
``dataset.json``, with optional split lists (without ``train.list`` the training split is every labelled case
not in ``val.list``). Each volume is min-max normalised and reoriented to its display geometry (LPS+,
``[slice, row, column]``, :func:`gazekit.ids.nifti_to_display`: what gazekit shows, simulates and records on),
whatever the stored axis order; a slice is the stimulus (case, k) with k its index there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from gazekit.errors import GazekitError
from gazekit.ids import geometry_label, nifti_to_display
from hgdtgl.data.formats.base import Case, TrainData, named, read_list, resize_image, resize_label, split_list


def load_train(root: Path, size: int, train_list: str | None = None, masks: bool = True) -> TrainData:
    """The slices of the training volumes at size x size (``masks`` is not used: every training case has one)."""
    return named(_train_nifti(root, size, train_list or "train"), root, train_list)


def load_cases(root: Path, split: str, with_labels: bool = True) -> list[Case]:
    """The volumes of a split in their display geometry, with the source affine to map predictions back."""
    cases = []
    for case in _nifti_cases(root, split):
        image, label, affine, _ = _nifti_volume(root, case)
        if with_labels and label is None:
            raise GazekitError(root / "labelsTr", case, f"file not found, expected {case}.nii.gz for evaluation")
        cases.append(Case(case, image, label, str(root / "imagesTr" / f"{case}_0000.nii.gz"), affine))
    return cases


def _nifti_cases(root: Path, split: str) -> list[str]:
    labels = sorted(p.name[: -len(".nii.gz")] for p in (root / "labelsTr").glob("*.nii.gz"))
    if split == "train" and not (root / "train.list").is_file():
        held = set(read_list(root / "val.list")) if (root / "val.list").is_file() else set()
        return [c for c in labels if c not in held]
    return read_list(split_list(root, split))


def _nifti_volume(root: Path, case: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, str]:
    """(image [slice,C,row,col] min-max normalised per volume, label [slice,row,col] or None, the source affine,
    the display geometry label), both arrays in the display geometry of :func:`gazekit.ids.nifti_to_display`."""
    import nibabel as nib

    chans = sorted((root / "imagesTr").glob(f"{case}_[0-9][0-9][0-9][0-9].nii.gz"))
    if not chans:
        raise GazekitError(root / "imagesTr", case, f"expected {case}_0000.nii.gz (file not found)")
    affine = nib.load(chans[0]).affine
    vols = []
    for p in chans:
        v = np.asarray(nib.load(p).dataobj, dtype=np.float32)
        if v.ndim != 3:
            raise GazekitError(p, "shape", f"expected a 3-D volume, got {v.shape}")
        lo, hi = float(v.min()), float(v.max())
        display, display_affine = nifti_to_display((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v), affine)
        vols.append(display)
    image = np.stack(vols, axis=1)
    lab_path = root / "labelsTr" / f"{case}.nii.gz"
    label = None
    if lab_path.is_file():
        stored = np.asarray(nib.load(lab_path).dataobj).astype(np.uint8)
        if stored.shape != v.shape:
            raise GazekitError(lab_path, "shape", f"expected the image's shape {v.shape}, got {stored.shape}")
        label = nifti_to_display(stored, affine)[0]
    return image, label, affine, geometry_label(vols[0].shape, display_affine)


def _train_nifti(root: Path, size: int, split: str) -> TrainData:
    images, labels, keys, groups, geometry = [], [], [], [], {}
    max_label = 0
    for case in tqdm(_nifti_cases(root, split), desc="decode volumes", leave=False, mininterval=2):
        image, label, _, geometry[case] = _nifti_volume(root, case)
        if label is None:
            raise GazekitError(root / "labelsTr", case, f"expected {case}.nii.gz (file not found)")
        for z in range(image.shape[0]):
            images.append(resize_image(image[z], size).astype(np.float16))
            labels.append(resize_label(label[z], size))
            keys.append((case, z))
            groups.append(case)
        max_label = max(max_label, int(label.max()))
    return TrainData(np.stack(images), np.stack(labels), keys, groups, max_label + 1, "nifti", geometry=geometry)
