"""Stimuli: DICOM sorting/rescale/multi-frame/bad series, NIfTI orientation, HDF5, images, privacy."""

from __future__ import annotations

import shutil

import cv2
import h5py
import nibabel as nib
import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from gazekit import ids, stimuli
from gazekit.errors import GazekitError

SPACING = (4.0, 1.5, 1.25)


def volume(d=5, h=7, w=9, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((d, h, w)).astype(np.float32) * 1000 - 200


def shuffle_names(folder, seed=0):
    """Rename the files so that name order is unrelated to slice order."""
    files = sorted(folder.iterdir())
    perm = np.random.default_rng(seed).permutation(len(files))
    tmp = [f.rename(f.with_name(f"tmp{i}")) for i, f in enumerate(files)]
    for i, f in zip(perm, tmp, strict=True):
        f.rename(f.with_name(f"x{i:03d}.dcm"))


def test_dicom_sorted_along_normal_and_rescaled(tmp_path):
    vol = volume()
    uid = stimuli.write_dicom_series(vol, tmp_path / "s", SPACING)
    shuffle_names(tmp_path / "s")
    st = stimuli.load_one(tmp_path / "s")
    quantum = (vol.max() - vol.min()) / 65535
    assert st.stimulus_id == uid and st.kind == "dicom" and st.shape == vol.shape
    assert np.abs(st.data - vol).max() <= quantum  # slice order and slope/intercept both right
    assert st.spacing_mm == pytest.approx(SPACING)
    # affine: voxel (i=2, j=3, k=4) -> LPS (2*1.25, 3*1.5, 4*4) -> RAS (-2.5, -4.5, 16)
    assert st.affine @ np.array([2, 3, 4, 1.0]) == pytest.approx([-2.5, -4.5, 16.0, 1.0])


def test_dicom_reversed_positions_sort_by_position_not_instance(tmp_path):
    vol = volume()
    stimuli.write_dicom_series(vol, tmp_path / "s", SPACING)
    for f in (tmp_path / "s").iterdir():  # positions descending while instance numbers ascend
        ds = pydicom.dcmread(f)
        ds.ImagePositionPatient = [0.0, 0.0, -float(ds.ImagePositionPatient[2])]
        ds.save_as(f)
    st = stimuli.load_one(tmp_path / "s")
    assert np.allclose(st.data, vol[::-1], atol=(vol.max() - vol.min()) / 65535)


def test_dicom_instance_number_fallback(tmp_path):
    vol = volume()
    stimuli.write_dicom_series(vol, tmp_path / "s", SPACING)
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        del ds.ImagePositionPatient
        ds.save_as(f)
    shuffle_names(tmp_path / "s", seed=1)
    st = stimuli.load_one(tmp_path / "s")
    assert np.allclose(st.data, vol, atol=(vol.max() - vol.min()) / 65535)


def test_dicom_missing_slice_and_mixed_series(tmp_path):
    vol = volume()
    stimuli.write_dicom_series(vol, tmp_path / "s", SPACING)
    (tmp_path / "s" / "slice_0002.dcm").unlink()
    with pytest.raises(GazekitError, match=r"1 missing between 4\.000 and 12\.000 mm"):
        stimuli.load_one(tmp_path / "s")
    a = stimuli.write_dicom_series(vol, tmp_path / "m" / "a", SPACING)
    b = stimuli.write_dicom_series(vol[:3] * 2, tmp_path / "m" / "b", SPACING)
    with pytest.raises(GazekitError, match=rf"found 2: .*{a[-8:]} \(5 files\).*--series"):
        stimuli.load_one(tmp_path / "m")
    got = stimuli.load_one(tmp_path / "m", series=b)
    assert got.stimulus_id == b and got.shape == (3, 7, 9)
    with pytest.raises(GazekitError, match="--series"):
        stimuli.load_one(tmp_path / "m", series="1.2.3")


def write_multiframe(path, vol, positions_z, slope=2.0, intercept=-100.0):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"  # Enhanced MR
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "MR"
    ds.Rows, ds.Columns = vol.shape[1:]
    ds.NumberOfFrames = vol.shape[0]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = pydicom.Dataset()
    orient, meas, rescale = pydicom.Dataset(), pydicom.Dataset(), pydicom.Dataset()
    orient.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    meas.PixelSpacing = [1.5, 1.25]
    rescale.RescaleSlope, rescale.RescaleIntercept = str(slope), str(intercept)
    shared.PlaneOrientationSequence = [orient]
    shared.PixelMeasuresSequence = [meas]
    shared.PixelValueTransformationSequence = [rescale]
    ds.SharedFunctionalGroupsSequence = [shared]
    per = []
    for z in positions_z:
        item, plane = pydicom.Dataset(), pydicom.Dataset()
        plane.ImagePositionPatient = [0.0, 0.0, float(z)]
        item.PlanePositionSequence = [plane]
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = per
    ds.PixelData = np.ascontiguousarray(vol.astype(np.uint16)).tobytes()
    ds.save_as(path, enforce_file_format=True)
    return str(ds.SeriesInstanceUID)


def test_dicom_multiframe_per_frame_positions(tmp_path):
    raw = np.random.default_rng(2).integers(0, 1000, (4, 6, 5))
    positions = [12.0, 0.0, 8.0, 4.0]  # frames stored out of order
    uid = write_multiframe(tmp_path / "mf.dcm", raw, positions)
    st = stimuli.load_one(tmp_path / "mf.dcm")
    expected = raw[np.argsort(positions)] * 2.0 - 100.0
    assert st.stimulus_id == uid and np.array_equal(st.data, expected)
    assert st.spacing_mm == pytest.approx((4.0, 1.5, 1.25))


def test_nifti_canonical_orientation_independent_of_storage(tmp_path):
    vol = volume()
    stimuli.write_nifti(vol, tmp_path / "lps.nii.gz", SPACING)
    # the same physical volume stored RAS+ with axes (k, i, j): flip i and j, then permute
    ras = vol.transpose(2, 1, 0)[::-1, ::-1, :]  # [i, j, k] with i -> R, j -> A
    data = ras.transpose(2, 0, 1)  # stored axes: k, i, j
    sk, sj, si = SPACING
    w, h = vol.shape[2], vol.shape[1]
    affine = np.zeros((4, 4))
    affine[2, 0] = sk  # stored axis 0 -> S
    affine[0, 1] = si  # stored axis 1 -> R
    affine[1, 2] = sj  # stored axis 2 -> A
    affine[:3, 3] = [-(w - 1) * si, -(h - 1) * sj, 0.0]
    affine[3, 3] = 1
    nib.save(nib.Nifti1Image(np.ascontiguousarray(data), affine), tmp_path / "ras_perm.nii.gz")
    a = stimuli.load_one(tmp_path / "lps.nii.gz")
    b = stimuli.load_one(tmp_path / "ras_perm.nii.gz")
    assert a.stimulus_id == "lps" and b.stimulus_id == "ras_perm"
    assert np.array_equal(a.data, vol) and np.array_equal(b.data, vol)
    assert b.spacing_mm == pytest.approx(SPACING)
    np.testing.assert_allclose(a.affine[:3, :3], b.affine[:3, :3])


def test_nifti_non_3d_refused_and_singleton_4d_accepted(tmp_path):
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 2), np.float32), np.eye(4)), tmp_path / "t.nii.gz")
    with pytest.raises(
        GazekitError, match=r"t\.nii\.gz, header 'dim': expected a 3-D volume, got shape \(4, 5, 6, 2\)"
    ):
        stimuli.load_one(tmp_path / "t.nii.gz")
    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 1), np.float32), np.eye(4)), tmp_path / "s.nii.gz")
    assert stimuli.load_one(tmp_path / "s.nii.gz").shape == (6, 5, 4)


def test_hdf5_image_folder_and_ids(tmp_path):
    vol = volume()
    with h5py.File(tmp_path / "patient001_frame01.h5", "w") as fh:
        fh["image"] = vol
        fh["label"] = (vol > 0).astype(np.uint8)
    st = stimuli.load_one(tmp_path / "patient001_frame01.h5")
    assert st.stimulus_id == "patient001_frame01" and np.array_equal(st.label, vol > 0)
    assert ids.ssl4mis_slice_id("patient003_frame01_slice_7.h5") == ("patient003_frame01", 6)
    (tmp_path / "imgs").mkdir()
    rgb = np.zeros((4, 6, 3), np.uint8)
    rgb[..., 0] = 255  # red
    cv2.imwrite(str(tmp_path / "imgs" / "b.png"), rgb[..., ::-1])
    cv2.imwrite(str(tmp_path / "imgs" / "a.jpg"), np.full((3, 5), 9, np.uint8))
    got = stimuli.load(tmp_path / "imgs")
    assert [s.stimulus_id for s in got] == ["a", "b"]
    assert got[0].shape == (3, 5) and got[1].data[0, 0].tolist() == [255, 0, 0]


def test_dicom_patient_fields_never_leave(tmp_path):
    stimuli.write_dicom_series(volume(), tmp_path / "s", SPACING)
    for f in (tmp_path / "s").iterdir():
        ds = pydicom.dcmread(f)
        ds.PatientName, ds.PatientID, ds.PatientBirthDate = "Doe^Jane", "PID-998877", "19600101"
        ds.save_as(f)
    st = stimuli.load_one(tmp_path / "s")
    text = repr(st.__dict__) + repr(st.session_entry())
    for secret in ("Doe", "998877", "19600101"):
        assert secret not in text
    assert {type(v).__name__ for v in st.__dict__.values()} <= {"str", "PosixPath", "ndarray", "tuple", "NoneType"}


def test_bad_inputs(tmp_path):
    with pytest.raises(GazekitError, match="not found"):
        stimuli.load(tmp_path / "nope.nii.gz")
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(GazekitError, match="expected a DICOM folder or file"):
        stimuli.load(tmp_path / "x.txt")
    shutil.copy(tmp_path / "x.txt", tmp_path / "bad.png")
    with pytest.raises(GazekitError, match="readable image"):
        stimuli.load(tmp_path / "bad.png")
