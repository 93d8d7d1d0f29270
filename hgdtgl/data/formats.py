"""Dataset formats: ``ssl4mis`` (ACDC layout: data/slices/*.h5 + *.list, data/<case>.h5 volumes),
``images`` (images/ + masks/ folders with optional *.list splits), ``nifti`` (nnU-Net imagesTr/labelsTr/
dataset.json, sliced along the last array axis) and ``npz`` (a file written by ``hgdtgl pack``).

Stimulus ids, slice indices and the display geometry follow :mod:`gazekit.ids` (the rules gazekit renders
gaze with): an SSL4MIS slice file ``<case>_slice_K.h5`` is (case, K - 1); an image is (file stem, None); a NIfTI
slice is (case, k) with k the slice of the volume in its display geometry (reoriented to LPS+, ``[slice, row,
column]``: what gazekit shows, simulates and records on), whatever the stored axis order. ``TrainData.geometry``
records each stimulus' display geometry, which the gaze join checks against the store's.

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
from tqdm import tqdm

from gazekit.errors import GazekitError
from gazekit.ids import geometry_label, nifti_to_display, ssl4mis_slice_id

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


# ---------------------------------------------------------------- helpers


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


def _h5(path: Path) -> tuple[np.ndarray, np.ndarray | None]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            image = np.asarray(f["image"], dtype=np.float32)
            label = np.asarray(f["label"], dtype=np.uint8) if "label" in f else None
    except (OSError, KeyError) as exc:
        raise GazekitError(path, "image", f"expected an HDF5 file with datasets 'image' (and 'label'): {exc}") from None
    return image, label


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


# ---------------------------------------------------------------- training sets


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
    if fmt == "npz":
        return load_packed_train(root, size)
    if fmt == "images":
        data = _train_images(root, size, train_list or "train", masks)
    else:
        data = {"ssl4mis": _train_ssl4mis, "nifti": _train_nifti}[fmt](root, size, train_list or "train")
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


# ---------------------------------------------------------------- evaluation cases


def load_cases(root: str | Path, split: str, fmt: str | None = None, with_labels: bool = True) -> list[Case]:
    """Evaluation cases of a split (``val``, ``test`` or a .list file) at their original size."""
    root = Path(root)
    fmt = fmt or detect_format(root)
    if fmt == "npz":
        return load_packed_cases(root, split)
    cases = []
    if fmt == "ssl4mis":
        for name in read_list(split_list(root, split)):
            path = root / "data" / f"{name}.h5"
            image, label = _h5(path)
            if with_labels and label is None:
                raise GazekitError(path, "label", "expected a label dataset for evaluation")
            if image.ndim == 2:
                image, label = image[None], None if label is None else label[None]
            cases.append(Case(name, image[:, None], label, str(path)))
    elif fmt == "images":
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
    elif fmt == "nifti":
        for case in _nifti_cases(root, split):
            image, label, affine, _ = _nifti_volume(root, case)
            if with_labels and label is None:
                raise GazekitError(root / "labelsTr", case, f"file not found, expected {case}.nii.gz for evaluation")
            cases.append(Case(case, image, label, str(root / "imagesTr" / f"{case}_0000.nii.gz"), affine))
    else:
        raise GazekitError(root, "--format", f"expected ssl4mis, images, nifti or npz, got {fmt!r}")
    return cases


# ---------------------------------------------------------------- packed .npz (written by hgdtgl.data.pack)

PACK_FORMAT = "hgdtgl-pack"


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


def load_packed_train(path: str | Path, size: int) -> TrainData:
    z, meta = _open(Path(path))
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
        heat = z["train_heat"].astype(np.float32)
        sums = heat.reshape(len(heat), -1).sum(axis=1).clip(1e-12)
        data.heat = (heat / sums[:, None, None] * size * size).astype(np.float16)  # mean 1, as join_gaze
        data.has_gaze = z["train_has_gaze"]
    return data


def load_packed_cases(path: str | Path, split: str) -> list[Case]:
    """Cases of a packed split (``val``/``test``), or those of a .list file found in a packed split."""
    path = Path(path)
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
