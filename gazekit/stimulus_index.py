"""Minimal stimulus lookup for render-heatmaps and qc: ids, image sizes, slices, pixels.

Image folders (png/jpg/bmp/tif), HDF5 (dataset ``image``/``label``; SSL4MIS ``<id>_slice_K.h5`` files are
slice K-1 of ``<id>``), NIfTI (slices along the first stored axis) and DICOM series (id =
SeriesInstanceUID; only UID, Rows, Columns, InstanceNumber and pixels are read, never patient fields).
To be pointed at ``gazekit.stimuli`` (issue 4) once it lands.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gazekit.errors import GazekitError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SLICE_FILE = re.compile(r"^(?P<id>.+)_slice_(?P<k>\d+)$")


@dataclass(frozen=True)
class StimulusInfo:
    """One stimulus: id, size of a slice [px], number of slices (None for a 2D image), where it lives."""

    stimulus_id: str
    height: int
    width: int
    n_slices: int | None
    kind: str  # image / hdf5 / hdf5-slices / nifti / dicom
    paths: tuple[str, ...]  # one file, or one per slice (hdf5-slices, dicom) in slice order
    affine: tuple[tuple[float, ...], ...] | None = None


def _stem(path: Path) -> str:
    name = path.name
    for ext in (".nii.gz", ".nii", ".h5", ".hdf5", *IMAGE_EXTS):
        if name.lower().endswith(ext):
            return name[: -len(ext)]
    return path.stem


def _image_info(path: Path) -> StimulusInfo:
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except OSError as exc:
        raise GazekitError(path, None, f"expected a readable image ({exc})") from None
    return StimulusInfo(_stem(path), h, w, None, "image", (str(path),))


def _h5_shape(path: Path, dataset: str) -> tuple[int, ...]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if dataset not in f:
                raise GazekitError(path, None, f"expected an HDF5 dataset {dataset!r}, found {sorted(f.keys())}")
            return tuple(f[dataset].shape)
    except OSError as exc:
        raise GazekitError(path, None, f"expected a readable HDF5 file ({exc})") from None


def index_stimuli(root: str | Path, dataset: str = "image") -> dict[str, StimulusInfo]:
    """All stimuli in a folder (or one file): {stimulus_id: StimulusInfo}."""
    root = Path(root)
    if not root.exists():
        raise GazekitError(root, None, "stimuli folder or file not found")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    out: dict[str, StimulusInfo] = {}
    slices: dict[str, list[tuple[int, Path, tuple[int, ...]]]] = {}
    dicom: dict[str, list[tuple[int, Path, int, int]]] = {}
    for p in files:
        low = p.name.lower()
        if low.endswith(IMAGE_EXTS):
            info = _image_info(p)
            out[info.stimulus_id] = info
        elif low.endswith((".h5", ".hdf5")):
            shape = _h5_shape(p, dataset)
            m = SLICE_FILE.match(_stem(p))
            if m and len(shape) == 2:
                slices.setdefault(m["id"], []).append((int(m["k"]) - 1, p, shape))
            elif len(shape) in (2, 3):
                n = shape[0] if len(shape) == 3 else None
                out[_stem(p)] = StimulusInfo(_stem(p), shape[-2], shape[-1], n, "hdf5", (str(p),))
        elif low.endswith((".nii", ".nii.gz")):
            import nibabel as nib

            img = nib.load(str(p))
            shape = img.shape
            n = shape[0] if len(shape) >= 3 else None
            hw = shape[1:3] if len(shape) >= 3 else shape[:2]
            aff = tuple(tuple(float(v) for v in row) for row in img.affine)
            out[_stem(p)] = StimulusInfo(_stem(p), int(hw[0]), int(hw[1]), n, "nifti", (str(p),), aff)
        elif low.endswith(".dcm") or _is_dicom(p):
            import pydicom

            ds = pydicom.dcmread(
                p, stop_before_pixels=True, specific_tags=["SeriesInstanceUID", "Rows", "Columns", "InstanceNumber"]
            )
            uid = str(ds.get("SeriesInstanceUID", ""))
            dicom.setdefault(uid, []).append((int(ds.get("InstanceNumber", 0) or 0), p, int(ds.Rows), int(ds.Columns)))
    for sid, items in slices.items():
        items.sort(key=lambda t: t[0])
        ks = [k for k, _, _ in items]
        if ks != list(range(len(ks))):
            raise GazekitError(root, sid, f"expected slice files {sid}_slice_1..{len(ks)}, found slices {ks[:10]}")
        h, w = items[0][2]
        out[sid] = StimulusInfo(sid, h, w, len(items), "hdf5-slices", tuple(str(p) for _, p, _ in items))
    for uid, items in dicom.items():
        items.sort(key=lambda t: (t[0], str(t[1])))
        out[uid] = StimulusInfo(
            uid, items[0][2], items[0][3], len(items), "dicom", tuple(str(p) for _, p, _, _ in items)
        )
    return out


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return len(head) == 132 and head[128:132] == b"DICM"


def load_slice(info: StimulusInfo, slice_index: int | None, dataset: str = "image") -> np.ndarray:
    """Pixels of one image or slice: [H, W] or [H, W, 3] (RGB), as stored."""
    k = 0 if slice_index is None else int(slice_index)
    if info.n_slices is not None and not 0 <= k < info.n_slices:
        raise GazekitError(info.paths[0], f"slice {k}", f"expected a slice index in [0, {info.n_slices})")
    if info.kind == "image":
        from PIL import Image

        with Image.open(info.paths[0]) as im:
            return np.asarray(im.convert("RGB") if im.mode not in ("L", "I", "I;16", "F") else im)
    if info.kind in ("hdf5", "hdf5-slices"):
        import h5py

        path = info.paths[k] if info.kind == "hdf5-slices" else info.paths[0]
        with h5py.File(path, "r") as f:
            data = f[dataset]
            return np.asarray(data[k] if info.n_slices is not None and info.kind == "hdf5" else data[...])
    if info.kind == "nifti":
        import nibabel as nib

        data = np.asarray(nib.load(info.paths[0]).dataobj)
        return data[k] if data.ndim >= 3 else data
    import pydicom

    return np.asarray(pydicom.dcmread(info.paths[k]).pixel_array)
