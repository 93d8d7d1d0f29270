"""Stimuli: DICOM series, NIfTI and SSL4MIS HDF5 volumes, image files and folders.

Every loader returns :class:`Stimulus` objects with a stable ``stimulus_id`` (:mod:`gazekit.ids`), the pixel
data, spacing and affine. Conventions (DESIGN.md section 3):

- A volume's ``data`` is ``[n_slices, height, width]``; ``slice_index`` is the first axis, ``y_px`` the
  row, ``x_px`` the column. ``affine`` maps ``(column i, row j, slice k, 1)`` to RAS+ millimetres
  (the nibabel convention); ``spacing_mm`` is ``(slice, row, column)``.
- **DICOM** series are shown as acquired: rows and columns as stored (ImageOrientationPatient), slices
  sorted by ImagePositionPatient along the slice normal (row direction x column direction), ascending;
  when positions are missing, by InstanceNumber. Pixel values are rescaled (RescaleSlope/Intercept).
  Multi-frame files (enhanced DICOM) are read frame by frame with their per-frame positions.
  ``stimulus_id`` = SeriesInstanceUID.
- **NIfTI** volumes are reoriented to the closest LPS+ orientation (:func:`gazekit.ids.nifti_to_display`, the
  rule hgdtgl trains on too): columns
  run toward the patient's left, rows toward posterior, slices toward superior, i.e. the radiological
  display of axial slices (patient right on the screen's left, anterior at the top) -- the same as a DICOM
  axial series with ImageOrientationPatient ``[1, 0, 0, 0, 1, 0]``. The slice axis is the stored axis
  closest to superior-inferior. ``stimulus_id`` = file stem (``.nii.gz`` dropped).
- **SSL4MIS HDF5** volumes (``image``/``label`` datasets ``[D, H, W]``) are used as stored;
  ``stimulus_id`` = file stem. A slice file ``<volume>_slice_K.h5`` is slice ``K - 1`` of ``<volume>``
  (:func:`gazekit.ids.ssl4mis_slice_id`).
- **Images** (PNG, JPEG, TIFF, BMP) are 2D stimuli, ``stimulus_id`` = file stem; a folder gives one
  stimulus per image file, sorted by name.

Privacy: DICOM patient fields are never read into a :class:`Stimulus`; nothing outside this module sees
a DICOM dataset.

Each format's library (nibabel, pydicom, h5py) is imported by the functions that read or write that format, so
that a command on image files does not pay for them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from gazekit.errors import GazekitError
from gazekit.ids import nifti_to_display, stimulus_id
from gazekit.privacy import anonymize_path

if TYPE_CHECKING:
    import pydicom

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
NIFTI_SUFFIXES = (".nii", ".nii.gz")
HDF5_SUFFIXES = (".h5", ".hdf5")
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True, eq=False)
class Stimulus:
    """One stimulus: ``data`` is ``[n_slices, H, W]`` (volume), ``[H, W]`` or ``[H, W, 3]`` (image)."""

    stimulus_id: str
    kind: str  # image / dicom / nifti / hdf5
    source: Path
    data: np.ndarray
    spacing_mm: tuple[float, ...] | None = None  # (slice, row, column) or (row, column)
    affine: np.ndarray | None = None  # (i = column, j = row, k = slice, 1) -> RAS+ mm
    label: np.ndarray | None = None  # the SSL4MIS ``label`` dataset, same shape as ``data``
    window: tuple[float, float] | None = None  # (center, width) suggested by the source

    @property
    def is_volume(self) -> bool:
        return self.kind != "image"

    @property
    def shape(self) -> tuple[int, ...]:
        """``(n_slices, height, width)`` for a volume, ``(height, width)`` for an image."""
        return tuple(int(s) for s in (self.data.shape if self.is_volume else self.data.shape[:2]))

    def slice(self, k: int) -> np.ndarray:
        """The 2D image shown for slice ``k`` (a volume) or the image itself."""
        return self.data[k] if self.is_volume else self.data

    def session_entry(self, root: Path | None = None, anonymize: bool = False) -> dict:
        """This stimulus as an item of session.json's ``stimuli`` list (source relative to ``root``; folder
        names hashed when ``anonymize``, see :mod:`gazekit.privacy`)."""
        source = self.source
        if root is not None:
            try:
                source = self.source.resolve().relative_to(Path(root).resolve())
            except ValueError:
                source = self.source
        return {
            "id": self.stimulus_id,
            "kind": self.kind,
            "source": anonymize_path(source, keep_name=self.kind != "dicom") if anonymize else source.as_posix(),
            "shape": list(self.shape),
            "spacing": None if self.spacing_mm is None else [float(s) for s in self.spacing_mm],
        }


def load(path: str | Path, series: str | None = None, dataset: str = "image") -> list[Stimulus]:
    """Load the stimuli at ``path``: a DICOM folder/file, NIfTI, HDF5, image file or image folder.

    ``series`` picks one SeriesInstanceUID in a DICOM folder holding several; ``dataset`` is the HDF5
    dataset to show (``image``; the ``label`` dataset is attached when present).
    """
    path = Path(path)
    if not path.exists():
        raise GazekitError(path, None, "file or folder not found")
    name = path.name.lower()
    if path.is_dir():
        images = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        if images and not _dicom_files(path, limit=1):
            return [load_image(p) for p in images]
        return [load_dicom(path, series)]
    if name.endswith(NIFTI_SUFFIXES):
        return [load_nifti(path)]
    if name.endswith(HDF5_SUFFIXES):
        return [load_hdf5(path, dataset)]
    if name.endswith(IMAGE_SUFFIXES):
        return [load_image(path)]
    if _is_dicom(path):
        return [load_dicom(path, series)]
    raise GazekitError(path, None, "expected a DICOM folder or file, NIfTI (.nii/.nii.gz), HDF5 (.h5) or image file")


def load_one(path: str | Path, series: str | None = None, dataset: str = "image") -> Stimulus:
    """Like :func:`load` for a path that holds exactly one stimulus."""
    found = load(path, series, dataset)
    if len(found) != 1:
        raise GazekitError(path, None, f"expected one stimulus, found {len(found)}")
    return found[0]


# ---------------------------------------------------------------- images
def load_image(path: str | Path) -> Stimulus:
    """A 2D image file (grey stays ``[H, W]``, colour becomes RGB ``[H, W, 3]``)."""
    path = Path(path)
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise GazekitError(path, None, "expected a readable image (PNG, JPEG, TIFF, BMP)")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2RGB if img.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return Stimulus(stimulus_id(path), "image", path, img)


# ---------------------------------------------------------------- NIfTI
def load_nifti(path: str | Path) -> Stimulus:
    """A 3D NIfTI volume in the closest LPS+ orientation, as ``[slice, row, column]`` (module docstring)."""
    import nibabel as nib

    path = Path(path)
    try:
        img = nib.load(str(path))
    except Exception as exc:  # nibabel raises many types for a bad file
        raise GazekitError(path, None, f"expected a NIfTI file, could not read it ({exc})") from None
    shape = img.shape
    if len(shape) == 4 and shape[3] == 1:
        img = img.slicer[..., 0]
    elif len(shape) != 3:
        raise GazekitError(path, "header 'dim'", f"expected a 3-D volume, got shape {tuple(shape)}")
    data, affine = nifti_to_display(np.asanyarray(img.dataobj), img.affine)
    col, row, sl = (float(np.linalg.norm(affine[:3, i])) for i in range(3))
    return Stimulus(stimulus_id(path), "nifti", path, data, (sl, row, col), affine)


def write_nifti(volume: np.ndarray, path: str | Path, spacing_mm: tuple[float, float, float]) -> Path:
    """Write a ``[slice, row, column]`` volume as NIfTI that :func:`load_nifti` reads back unchanged.

    The affine is the axial LPS+ one: columns toward the patient's left, rows posterior, slices superior.
    """
    import nibabel as nib

    sk, sj, si = spacing_mm
    affine = LPS_TO_RAS @ np.diag([si, sj, sk, 1.0])
    img = nib.Nifti1Image(np.ascontiguousarray(np.asarray(volume).transpose(2, 1, 0)), affine)
    img.header.set_xyzt_units("mm")
    nib.save(img, str(path))
    return Path(path)


# ---------------------------------------------------------------- HDF5 (SSL4MIS)
def load_hdf5(path: str | Path, dataset: str = "image") -> Stimulus:
    """An SSL4MIS HDF5 volume: ``dataset`` ``[D, H, W]`` shown as stored, ``label`` attached if present."""
    import h5py

    path = Path(path)
    try:
        with h5py.File(path, "r") as fh:
            if dataset not in fh:
                raise GazekitError(path, f"dataset {dataset!r}", f"missing; the file holds {sorted(fh.keys())}")
            data = fh[dataset][()]
            label = fh["label"][()] if "label" in fh and dataset != "label" else None
    except OSError as exc:
        raise GazekitError(path, None, f"expected an HDF5 file, could not read it ({exc})") from None
    if data.ndim != 3:
        raise GazekitError(path, f"dataset {dataset!r}", f"expected a 3-D volume [D, H, W], got shape {data.shape}")
    if label is not None and label.shape != data.shape:
        raise GazekitError(path, "dataset 'label'", f"expected shape {data.shape}, got {label.shape}")
    return Stimulus(stimulus_id(path), "hdf5", path, data, label=label)


# ---------------------------------------------------------------- DICOM
@dataclass(frozen=True)
class _Frame:
    """One 2D frame of a DICOM series (no patient fields)."""

    file: Path
    frame: int  # index inside a multi-frame file
    position: np.ndarray | None  # ImagePositionPatient [mm, LPS]
    instance: int | None
    slope: float
    intercept: float


def _is_dicom(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError:
        return False
    return head[128:132] == b"DICM"


def _dicom_files(folder: Path, limit: int | None = None) -> list[Path]:
    out = []
    for p in sorted(folder.rglob("*")):
        if p.is_file() and (p.suffix.lower() == ".dcm" or _is_dicom(p)):
            out.append(p)
            if limit and len(out) >= limit:
                break
    return out


def _seq_item(ds, *names):
    """The first item of a nested functional-group sequence path, or None."""
    item = ds
    for name in names:
        seq = getattr(item, name, None)
        if not seq:
            return None
        item = seq[0]
    return item


def _headers(folder: Path) -> list[tuple[Path, pydicom.Dataset]]:
    import pydicom
    from pydicom.errors import InvalidDicomError

    out = []
    files = [folder] if folder.is_file() else _dicom_files(folder)
    for p in files:
        try:
            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except (InvalidDicomError, OSError):
            continue
        if "Rows" in ds and "SeriesInstanceUID" in ds:
            out.append((p, ds))
    return out


def load_dicom(path: str | Path, series: str | None = None) -> Stimulus:
    """A DICOM series from a folder (or one multi-frame file), sorted along the slice normal."""
    import pydicom

    path = Path(path)
    headers = _headers(path)
    if not headers:
        raise GazekitError(path, None, "expected DICOM image files, found none")
    counts = Counter(str(ds.SeriesInstanceUID) for _, ds in headers)
    if series is not None:
        if series not in counts:
            raise GazekitError(path, "--series", f"expected one of {', '.join(sorted(counts))}, got {series!r}")
        headers = [(p, ds) for p, ds in headers if str(ds.SeriesInstanceUID) == series]
    elif len(counts) > 1:
        listing = "; ".join(f"{uid} ({n} files)" for uid, n in sorted(counts.items()))
        raise GazekitError(
            path, None, f"expected one DICOM series, found {len(counts)}: {listing}; pick one with --series UID"
        )
    uid = str(headers[0][1].SeriesInstanceUID)
    first = headers[0][1]
    rows, cols = int(first.Rows), int(first.Columns)
    orientation = _orientation(first)
    frames: list[_Frame] = []
    multi = {p for p, ds in headers if _n_frames(ds) > 1}
    for p, ds in headers:
        if (int(ds.Rows), int(ds.Columns)) != (rows, cols):
            raise GazekitError(
                p, "Rows/Columns", f"expected {rows}x{cols} like the rest of the series, got {ds.Rows}x{ds.Columns}"
            )
        frames.extend(_frames(p, ds))
    normal = None if orientation is None else np.cross(orientation[0], orientation[1])
    frames, slice_gap = _sort_frames(path, frames, normal)
    volume = np.empty((len(frames), rows, cols), np.float32)
    cache: dict[Path, np.ndarray] = {}
    for k, fr in enumerate(frames):
        if fr.file not in cache:
            cache.clear()
            cache[fr.file] = pydicom.dcmread(fr.file).pixel_array
        pix = cache[fr.file]
        raw = pix[fr.frame] if fr.file in multi else pix
        volume[k] = raw.astype(np.float32) * fr.slope + fr.intercept
    row_mm, col_mm = _pixel_spacing(first)
    spacing = (float(slice_gap), row_mm, col_mm)
    affine = None
    if orientation is not None and frames[0].position is not None:
        lps = np.eye(4)
        lps[:3, 0] = orientation[0] * col_mm
        lps[:3, 1] = orientation[1] * row_mm
        lps[:3, 2] = normal * slice_gap
        lps[:3, 3] = frames[0].position
        affine = LPS_TO_RAS @ lps
    window = None
    if "WindowCenter" in first and "WindowWidth" in first:
        wc, ww = first.WindowCenter, first.WindowWidth
        window = (float(wc[0] if isinstance(wc, pydicom.multival.MultiValue) else wc),
                  float(ww[0] if isinstance(ww, pydicom.multival.MultiValue) else ww))  # fmt: skip
    return Stimulus(uid, "dicom", path, volume, spacing, affine, window=window)


def _n_frames(ds) -> int:
    return int(getattr(ds, "NumberOfFrames", 1) or 1)


def _orientation(ds) -> tuple[np.ndarray, np.ndarray] | None:
    iop = getattr(ds, "ImageOrientationPatient", None)
    if iop is None:
        item = _seq_item(ds, "SharedFunctionalGroupsSequence", "PlaneOrientationSequence")
        iop = getattr(item, "ImageOrientationPatient", None) if item is not None else None
    if iop is None:
        return None
    v = np.asarray([float(x) for x in iop])
    return v[:3], v[3:]


def _pixel_spacing(ds) -> tuple[float, float]:
    ps = getattr(ds, "PixelSpacing", None)
    if ps is None:
        item = _seq_item(ds, "SharedFunctionalGroupsSequence", "PixelMeasuresSequence")
        ps = getattr(item, "PixelSpacing", None) if item is not None else None
    return (float(ps[0]), float(ps[1])) if ps is not None else (1.0, 1.0)


def _frames(path: Path, ds) -> list[_Frame]:
    slope = float(getattr(ds, "RescaleSlope", 1.0) or 1.0)
    intercept = float(getattr(ds, "RescaleIntercept", 0.0) or 0.0)
    instance = int(ds.InstanceNumber) if getattr(ds, "InstanceNumber", None) is not None else None
    n = _n_frames(ds)
    if n == 1:
        ipp = getattr(ds, "ImagePositionPatient", None)
        pos = None if ipp is None else np.asarray([float(x) for x in ipp])
        return [_Frame(path, 0, pos, instance, slope, intercept)]
    per_frame = getattr(ds, "PerFrameFunctionalGroupsSequence", None) or []
    shared_rescale = _seq_item(ds, "SharedFunctionalGroupsSequence", "PixelValueTransformationSequence")
    out = []
    for f in range(n):
        pos, s, b = None, slope, intercept
        item = per_frame[f] if f < len(per_frame) else None
        plane = _seq_item(item, "PlanePositionSequence") if item is not None else None
        if plane is not None and getattr(plane, "ImagePositionPatient", None) is not None:
            pos = np.asarray([float(x) for x in plane.ImagePositionPatient])
        rescale = (_seq_item(item, "PixelValueTransformationSequence") if item is not None else None) or shared_rescale
        if rescale is not None:
            s = float(getattr(rescale, "RescaleSlope", s) or s)
            b = float(getattr(rescale, "RescaleIntercept", b) or b)
        out.append(_Frame(path, f, pos, None if instance is None else instance * 10000 + f, s, b))
    return out


def _sort_frames(path: Path, frames: list[_Frame], normal: np.ndarray | None) -> tuple[list[_Frame], float]:
    """Sort along the slice normal (else by InstanceNumber); refuse duplicates and missing slices."""
    if len(frames) == 1:
        return frames, 1.0
    if normal is not None and all(f.position is not None for f in frames):
        s = np.array([float(f.position @ normal) for f in frames])
        order = np.argsort(s, kind="stable")
        frames = [frames[i] for i in order]
        s = s[order]
        gaps = np.diff(s)
        step = float(np.median(gaps))
        if (gaps < 1e-3 * max(step, 1e-6)).any() or step <= 0:
            i = int(np.flatnonzero(gaps < 1e-3 * max(step, 1e-6))[0])
            raise GazekitError(
                frames[i + 1].file,
                "ImagePositionPatient",
                f"expected one slice per position, two at {s[i]:.3f} mm along the normal",
            )
        big = gaps > 1.5 * step
        if big.any():
            i = int(np.flatnonzero(big)[0])
            n_missing = int(round(gaps[i] / step)) - 1
            raise GazekitError(
                path,
                "ImagePositionPatient",
                f"expected slices every {step:.3f} mm, {n_missing} missing between {s[i]:.3f} and {s[i + 1]:.3f} mm "
                f"(after {frames[i].file.name})",
            )
        return frames, step
    if any(f.instance is None for f in frames):
        raise GazekitError(path, "ImagePositionPatient/InstanceNumber", "expected slice positions or instance numbers")
    frames = sorted(frames, key=lambda f: f.instance)
    inst = np.array([f.instance for f in frames])
    if (np.diff(inst) == 0).any():
        raise GazekitError(path, "InstanceNumber", "expected unique instance numbers")
    single = all(f.frame == 0 for f in frames)
    if single and (np.diff(inst) > 1).any():
        i = int(np.flatnonzero(np.diff(inst) > 1)[0])
        raise GazekitError(
            path, "InstanceNumber", f"expected consecutive slices, missing between {inst[i]} and {inst[i + 1]}"
        )
    return frames, 1.0


def write_dicom_series(
    volume: np.ndarray,
    folder: str | Path,
    spacing_mm: tuple[float, float, float],
    series_uid: str | None = None,
    modality: str = "MR",
    description: str = "gazekit synthetic series",
) -> str:
    """Write a ``[slice, row, column]`` volume as an axial DICOM series (one file per slice).

    Metadata are synthetic and non-identifying (patient name/id ``ANONYMOUS``); values are stored as
    uint16 with RescaleSlope/Intercept so :func:`load_dicom` gives back ``volume`` (to float32 rounding of
    the 16-bit quantisation; integer label volumes round-trip exactly). Returns the SeriesInstanceUID.
    """
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vol = np.asarray(volume, dtype=np.float64)
    lo, hi = float(vol.min()), float(vol.max())
    integral = np.array_equal(vol, np.round(vol)) and lo >= 0 and hi < 65536
    slope, intercept = (1.0, 0.0) if integral else ((hi - lo) / 65535.0 or 1.0, lo)
    slope, intercept = float(f"{slope:.10g}"), float(f"{intercept:.10g}")  # DICOM DS: at most 16 characters
    stored = np.round((vol - intercept) / slope).astype(np.uint16)
    series_uid = series_uid or generate_uid()
    study_uid, frame_uid = generate_uid(), generate_uid()
    sk, sj, si = spacing_mm
    for k in range(vol.shape[0]):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4"  # MR Image Storage
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"slice_{k:04d}.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.PatientName, ds.PatientID = "ANONYMOUS", "ANONYMOUS"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study_uid, series_uid, frame_uid
        ds.Modality, ds.SeriesDescription = modality, description
        ds.SeriesNumber, ds.InstanceNumber = 1, k + 1
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.ImagePositionPatient = [0.0, 0.0, float(k * sk)]
        ds.PixelSpacing = [float(sj), float(si)]
        ds.SliceThickness = float(sk)
        ds.Rows, ds.Columns = int(vol.shape[1]), int(vol.shape[2])
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:.10g}", f"{intercept:.10g}"
        ds.PixelData = np.ascontiguousarray(stored[k]).tobytes()
        ds.save_as(folder / f"slice_{k:04d}.dcm", enforce_file_format=True)
    return series_uid
