"""The contract between gazekit and hgdtgl, in one light module: stimulus ids, slice indices and the display
geometry of a volume (DESIGN.md section 3). Importing it costs nothing heavy (numpy only); nibabel is imported
inside the geometry functions, which only run where a NIfTI volume is already being read.

- **Stimulus id**: a file's name without directory and extension (:func:`stimulus_id`); a DICOM series' id is
  its SeriesInstanceUID. An nnU-Net image ``case_0000.nii.gz`` (channel 0 of case ``case``) belongs to the case
  ``case`` (:func:`nnunet_case`): gaze recorded on ``imagesTr/case_0000.nii.gz`` is joined to ``case``.
- **Slice index**: 0-based in the display array; the SSL4MIS slice file ``<volume>_slice_K.h5`` is slice
  ``K - 1`` of ``<volume>`` (:func:`ssl4mis_slice_id`).
- **Display geometry**: a volume is shown, simulated, recorded and trained on as ONE array
  ``[slice, row, column]``. NIfTI volumes are reoriented to the closest LPS+ orientation (columns toward the
  patient's left, rows toward posterior, slices toward superior: the radiological display of axial slices),
  whatever the stored axis order (:func:`nifti_to_display`; :func:`nifti_from_display` maps a prediction back
  to the stored array). DICOM series are sorted along the slice normal (gazekit.stimuli); SSL4MIS HDF5 volumes
  and 2D images are used as stored. :func:`geometry_label` names a stimulus' display geometry (shape and, where
  known, orientation): the heatmap store records it and hgdtgl refuses a join whose label differs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from gazekit.errors import GazekitError

COMPOUND_SUFFIXES = (".nii.gz",)  # dropped whole by stimulus_id
DISPLAY_AXES = ("L", "P", "S")  # the closest orientation NIfTI volumes are shown in (array axes i, j, k)
SSL4MIS_SLICE = re.compile(r"(?P<volume>.+)_slice_(?P<k>\d+)")
NNUNET_CHANNEL = re.compile(r"(?P<case>.+)_(?P<channel>\d{4})")
# Messages that name the stimulus shown (EyeLink TRIALID; group 1 is the name).
TRIALID = r"^(?:-?\d+\s+)?TRIALID\s+(\S.*?)\s*$"


def _missing(name: object) -> bool:
    """None, NaN, NaT or pandas' NA (whose comparisons are themselves NA)."""
    if name is None:
        return True
    if isinstance(name, str | Path):
        return False
    try:
        return bool(name != name)
    except TypeError:
        return True


def stimulus_id(name: object) -> str:
    """The stimulus id of a file or a vendor's media name: the file name without directory and extension;
    ``""`` for None / NaN.

    ``.nii.gz`` is dropped as one extension; otherwise the extension is the 1-5 letters or digits after
    the last dot of a non-empty stem (``a.b.png`` -> ``a.b``; ``.hidden`` and ``Eyetracker Calibration``
    keep their name). Both ``/`` and ``\\`` separate directories; surrounding blanks and quotes are dropped.
    """
    if _missing(name):
        return ""
    text = str(name).strip().strip('"').replace("\\", "/").rsplit("/", 1)[-1]
    for suffix in COMPOUND_SUFFIXES:
        if text.lower().endswith(suffix) and len(text) > len(suffix):
            return text[: -len(suffix)]
    stem, dot, ext = text.rpartition(".")
    return stem if dot and stem and ext.isalnum() and len(ext) <= 5 else text


def compile_pattern(pattern: str | None, path: Path) -> re.Pattern:
    """The regular expression whose group 1 names the stimulus in a message (default: EyeLink ``TRIALID``)."""
    try:
        rx = re.compile(pattern or TRIALID)
    except re.error as exc:
        raise GazekitError(path, "--stimulus-pattern", f"expected a regular expression ({exc})") from None
    if rx.groups < 1:
        raise GazekitError(path, "--stimulus-pattern", "expected a regular expression with a group (the id)")
    return rx


def stimulus_ids(messages, pattern: re.Pattern, t_start: np.ndarray) -> np.ndarray:
    """The id from the last message (``t_ms, text``) matching ``pattern`` (group 1) at or before each time
    [ms]; "" if none."""
    ids = messages["text"].astype(str).str.extract(pattern, expand=False)
    if ids.ndim == 2:  # a DataFrame: the pattern has several groups
        ids = ids.iloc[:, 0]
    hit = ids.notna().to_numpy()
    times = messages["t_ms"].to_numpy()[hit]
    names = np.array([stimulus_id(s) for s in ids[hit]] + [""], dtype=object)
    k = np.searchsorted(times, t_start, side="right") - 1
    return np.where(k >= 0, names[k], "")


def ssl4mis_slice_id(path: str | Path) -> tuple[str, int]:
    """``patient003_frame01_slice_7.h5`` -> (``patient003_frame01``, 6): volume id and 0-based slice."""
    m = SSL4MIS_SLICE.fullmatch(stimulus_id(path))
    if not m or int(m["k"]) < 1:
        raise GazekitError(path, None, "expected an SSL4MIS slice file name <volume>_slice_K.h5 with K >= 1")
    return m["volume"], int(m["k"]) - 1


def nnunet_case(stimulus: str) -> str:
    """The nnU-Net case an image id belongs to: ``case_0000`` (channel 0000 of ``case``) -> ``case``; an id
    without a 4-digit channel suffix is its own case."""
    m = NNUNET_CHANNEL.fullmatch(stimulus)
    return m["case"] if m else stimulus


# ---------------------------------------------------------------- display geometry of NIfTI volumes


def _to_display_ornt(affine: np.ndarray) -> np.ndarray:
    from nibabel.orientations import axcodes2ornt, io_orientation, ornt_transform

    return ornt_transform(io_orientation(np.asarray(affine)), axcodes2ornt(DISPLAY_AXES))


def nifti_to_display(data: np.ndarray, affine: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A stored NIfTI array (axes i, j, k[, ...]) with its affine -> (the display array ``[slice, row, column,
    ...]``, the display affine mapping (column, row, slice, 1) to RAS+ mm). Pure index permutation and flips."""
    from nibabel.orientations import apply_orientation, inv_ornt_aff

    ornt = _to_display_ornt(affine)
    lps = apply_orientation(np.asarray(data), ornt)  # axes (L, P, S, ...)
    display_affine = np.asarray(affine) @ inv_ornt_aff(ornt, np.asarray(data).shape[:3])
    return np.ascontiguousarray(np.swapaxes(lps, 0, 2)), display_affine


def nifti_from_display(display: np.ndarray, affine: np.ndarray) -> np.ndarray:
    """Inverse of :func:`nifti_to_display`: a ``[slice, row, column, ...]`` array (a prediction, a heatmap) ->
    the stored array order of the NIfTI whose affine is ``affine`` (save it with that affine and header)."""
    from nibabel.orientations import apply_orientation, axcodes2ornt, io_orientation, ornt_transform

    back = ornt_transform(axcodes2ornt(DISPLAY_AXES), io_orientation(np.asarray(affine)))
    return np.ascontiguousarray(apply_orientation(np.swapaxes(np.asarray(display), 0, 2), back))


def orientation(display_affine: np.ndarray | None) -> str | None:
    """Axis codes of a display affine's (column, row, slice) axes, e.g. ``LPS``; None when unknown."""
    if display_affine is None:
        return None
    from nibabel.orientations import aff2axcodes

    return "".join(aff2axcodes(np.asarray(display_affine)))


def affine_digest(display_affine: np.ndarray) -> str:
    """8 hex digits naming where a display array's voxels lie in the world (its affine rounded to 0.01 mm): equal
    for the same volume stored in any axis order, different when a header places it elsewhere or flipped."""
    import hashlib

    rounded = np.round(np.asarray(display_affine, dtype=np.float64)[:3], 2) + 0.0  # + 0.0: no -0.0
    return hashlib.sha1(rounded.tobytes()).hexdigest()[:8]


def geometry_label(shape: tuple[int, ...], display_affine: np.ndarray | None = None) -> str:
    """The display geometry a map was rendered on / an image is trained on: ``"6x40x32 LPS 1a2b3c4d"`` (slices x
    rows x columns, orientation and :func:`affine_digest`), ``"480x640"`` for a 2D image, ``"?x256x216"`` for a
    volume of unknown depth."""
    dims = "x".join("?" if s is None else str(int(s)) for s in shape)
    if display_affine is None:
        return dims
    return f"{dims} {orientation(display_affine)} {affine_digest(display_affine)}"


def geometry_conflict(a: str, b: str) -> bool:
    """Whether two :func:`geometry_label` values disagree on a field both know (a depth ``?``, a missing
    orientation or digest is unknown, not different)."""
    (da, *ra), (db, *rb) = a.split(), b.split()
    sa, sb = da.split("x"), db.split("x")
    if len(sa) != len(sb):  # a 2D image against a volume
        return True
    if any(x != y and "?" not in (x, y) for x, y in zip(sa, sb, strict=True)):
        return True
    return any(x != y for x, y in zip(ra, rb, strict=False))
