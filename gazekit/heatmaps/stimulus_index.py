"""Minimal stimulus lookup for render-heatmaps and qc: ids, image sizes, slices, pixels.

Walks a folder (recursively) of image files (png/jpg/bmp/tif), HDF5 files, NIfTI volumes and DICOM series.
Volumes are read by :mod:`gazekit.stimuli`, the one place that reads them, so ids, slice order and
``slice_index`` are those of ``gazekit convert``/``simulate``: NIfTI in the closest LPS+ orientation
(slices along the axis closest to superior-inferior), DICOM series (id = SeriesInstanceUID, never patient
fields) sorted along the slice normal, SSL4MIS HDF5 volumes as stored. Only what :mod:`gazekit.stimuli`
does not load lives here: 2D HDF5 files and SSL4MIS slice files ``<id>_slice_K.h5`` (slice K-1 of ``<id>``),
and image sizes read from the header alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from gazekit import ids, stimuli
from gazekit.errors import GazekitError

IMAGE_EXTS = stimuli.IMAGE_SUFFIXES
# (slice, row, column) index -> (column i, row j, slice k): a stimuli.Stimulus affine for a [slice, H, W] array
_SLICE_FIRST = np.array([[0.0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]])


@dataclass(frozen=True)
class StimulusInfo:
    """One stimulus: id, size of a slice [px], number of slices (None for a 2D image), where it lives."""

    stimulus_id: str
    height: int
    width: int
    n_slices: int | None
    kind: str  # image / hdf5 / hdf5-slices / nifti / dicom
    paths: tuple[str, ...]  # one file, or one per slice (hdf5-slices) in slice order, or a DICOM series' files
    affine: tuple[tuple[float, ...], ...] | None = None  # (slice, row, column, 1) -> RAS+ mm

    @property
    def geometry(self) -> str:
        """The display geometry maps are rendered on (:func:`gazekit.ids.geometry_label`): shape, and the
        orientation of NIfTI / DICOM volumes."""
        shape = (self.height, self.width) if self.n_slices is None else (self.n_slices, self.height, self.width)
        return ids.geometry_label(shape, None if self.affine is None else np.asarray(self.affine) @ _SLICE_FIRST)


def _image_info(path: Path) -> StimulusInfo:
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
    except OSError as exc:
        raise GazekitError(path, None, f"expected a readable image ({exc})") from None
    return StimulusInfo(ids.stimulus_id(path), h, w, None, "image", (str(path),))


def _h5_shape(path: Path, dataset: str) -> tuple[int, ...]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            if dataset not in f:
                raise GazekitError(path, None, f"expected an HDF5 dataset {dataset!r}, found {sorted(f.keys())}")
            return tuple(f[dataset].shape)
    except OSError as exc:
        raise GazekitError(path, None, f"expected a readable HDF5 file ({exc})") from None


def _slice_file(path: Path) -> tuple[str, int] | None:
    """(volume id, 0-based slice) of an SSL4MIS slice file name, else None."""
    try:
        return ids.ssl4mis_slice_id(path)
    except GazekitError:
        return None


def _volume_info(st: stimuli.Stimulus, paths: tuple[str, ...]) -> StimulusInfo:
    n, h, w = st.shape
    aff = None if st.affine is None else tuple(tuple(float(v) for v in row) for row in st.affine @ _SLICE_FIRST)
    return StimulusInfo(st.stimulus_id, h, w, n, st.kind, paths, aff)


def _dicom_source(paths: tuple[str, ...]) -> Path:
    """What to hand :func:`gazekit.stimuli.load_dicom` for a series: its one file, or the folder holding its files."""
    return Path(paths[0]) if len(paths) == 1 else Path(os.path.commonpath([str(Path(q).parent) for q in paths]))


def index_stimuli(root: str | Path, dataset: str = "image") -> dict[str, StimulusInfo]:
    """All stimuli in a folder (or one file): {stimulus_id: StimulusInfo}."""
    root = Path(root)
    if not root.exists():
        raise GazekitError(root, None, "stimuli folder or file not found")
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
    out: dict[str, StimulusInfo] = {}
    slices: dict[str, list[tuple[int, Path, tuple[int, ...]]]] = {}
    dicom: dict[str, list[str]] = {}
    for p in files:
        low = p.name.lower()
        if low.endswith(IMAGE_EXTS):
            info = _image_info(p)
            out[info.stimulus_id] = info
        elif low.endswith(stimuli.HDF5_SUFFIXES):
            shape = _h5_shape(p, dataset)
            sl = _slice_file(p) if len(shape) == 2 else None
            if sl is not None:
                slices.setdefault(sl[0], []).append((sl[1], p, shape))
            elif len(shape) in (2, 3):
                n = shape[0] if len(shape) == 3 else None
                sid = ids.stimulus_id(p)
                out[sid] = StimulusInfo(sid, shape[-2], shape[-1], n, "hdf5", (str(p),))
        elif low.endswith(stimuli.NIFTI_SUFFIXES):
            info = _volume_info(stimuli.load_nifti(p), (str(p),))
            out[info.stimulus_id] = info
        elif low.endswith(".dcm") or stimuli._is_dicom(p):
            for _, ds in stimuli._headers(p):  # only the series UID is kept
                dicom.setdefault(str(ds.SeriesInstanceUID), []).append(str(p))
    for sid, items in slices.items():
        items.sort(key=lambda t: t[0])
        ks = [k for k, _, _ in items]
        if ks != list(range(len(ks))):
            raise GazekitError(root, sid, f"expected slice files {sid}_slice_1..{len(ks)}, found slices {ks[:10]}")
        h, w = items[0][2]
        out[sid] = StimulusInfo(sid, h, w, len(items), "hdf5-slices", tuple(str(p) for _, p, _ in items))
    for uid, paths in dicom.items():
        out[uid] = _volume_info(stimuli.load_dicom(_dicom_source(tuple(paths)), series=uid), tuple(paths))
    return out


def pair_labels(
    images: dict[str, StimulusInfo] | None,
    labels: dict[str, StimulusInfo],
    pairs: tuple[tuple[str, str], ...] = (),
) -> dict[str, StimulusInfo]:
    """Label entry of each image id: the same id; else an explicit ``(image_id, label_id)`` pair; else the one
    label volume with the same geometry (shape and slice positions: the affine), as a DICOM label series
    with its own SeriesInstanceUID has."""
    out = dict(labels)
    for image_id, label_id in pairs:
        if label_id not in labels:
            raise GazekitError(None, "--label-pair", f"expected a label id found in --labels, got {label_id!r}")
        out[image_id] = labels[label_id]
    for sid, info in (images or {}).items():
        if sid in out or info.affine is None:
            continue
        same = [
            lab
            for lab in labels.values()
            if lab.affine is not None
            and (lab.n_slices, lab.height, lab.width) == (info.n_slices, info.height, info.width)
            and np.allclose(lab.affine, info.affine, atol=1e-3)
            and lab.stimulus_id not in (images or {})
        ]
        if len(same) == 1:
            out[sid] = same[0]
    return out


@lru_cache(maxsize=2)
def _volume(kind: str, paths: tuple[str, ...], stimulus_id: str, dataset: str) -> stimuli.Stimulus:
    """The volume behind an index entry, read by gazekit.stimuli (the last two kept: qc reads slice by slice)."""
    if kind == "nifti":
        return stimuli.load_nifti(paths[0])
    if kind == "dicom":
        return stimuli.load_dicom(_dicom_source(paths), series=stimulus_id)
    return stimuli.load_hdf5(paths[0], dataset)


def load_slice(info: StimulusInfo, slice_index: int | None, dataset: str = "image") -> np.ndarray:
    """Pixels of one image or slice: [H, W] or [H, W, 3] (RGB); volumes as :mod:`gazekit.stimuli` shows them."""
    k = 0 if slice_index is None else int(slice_index)
    if info.n_slices is not None and not 0 <= k < info.n_slices:
        raise GazekitError(info.paths[0], f"slice {k}", f"expected a slice index in [0, {info.n_slices})")
    if info.kind == "image":
        from PIL import Image

        with Image.open(info.paths[0]) as im:
            return np.asarray(im.convert("RGB") if im.mode not in ("L", "I", "I;16", "F") else im)
    if info.kind == "hdf5-slices" or (info.kind == "hdf5" and info.n_slices is None):  # 2D: not a stimuli volume
        import h5py

        with h5py.File(info.paths[k] if info.kind == "hdf5-slices" else info.paths[0], "r") as f:
            return np.asarray(f[dataset][...])
    return _volume(info.kind, info.paths, info.stimulus_id, dataset).slice(k)
