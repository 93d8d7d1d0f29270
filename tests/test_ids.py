"""gazekit.ids: the display geometry of NIfTI volumes and the geometry labels the gaze join compares."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from gazekit import ids


def _affine(perm: tuple[int, ...], flips: tuple[int, ...], spacing=(1.0, 2.0, 3.0)) -> np.ndarray:
    """Array axis i runs along world axis perm[i] (RAS), in direction flips[i]."""
    a = np.eye(4)
    a[:3, :3] = 0
    for i, (ax, f) in enumerate(zip(perm, flips, strict=True)):
        a[ax, i] = f * spacing[ax]
    a[:3, 3] = [5.0, -7.0, 11.0]
    return a


def test_every_storage_of_one_volume_shows_the_same_array_and_label():
    """The same world volume stored in any of the 48 axis orders and directions is shown as one display array
    with one label (shape, LPS, digest), and maps back to its own storage exactly."""
    rng = np.random.default_rng(0)
    world = rng.random((4, 5, 6))  # indexed (R, A, S) in the reference storage (identity directions)
    ref_affine = _affine((0, 1, 2), (1, 1, 1))
    ref_display, ref_daff = ids.nifti_to_display(world, ref_affine)
    labels = set()
    for perm in itertools.permutations(range(3)):
        for flips in itertools.product((1, -1), repeat=3):
            stored = world.transpose(perm)  # axis i of stored = world axis perm[i]
            for i, f in enumerate(flips):
                if f < 0:
                    stored = np.flip(stored, axis=i)
            affine = _affine(perm, flips)
            affine[:3, 3] = (
                ref_affine[:3, :3]
                @ np.array([world.shape[perm[i]] - 1 if flips[i] < 0 else 0 for i in np.argsort(perm)])
                + ref_affine[:3, 3]
            )  # the stored first voxel sits where the world voxel it holds does
            display, daff = ids.nifti_to_display(stored, affine)
            assert np.array_equal(display, ref_display) and np.allclose(daff, ref_daff)
            assert np.array_equal(ids.nifti_from_display(display, affine), stored)
            labels.add(ids.geometry_label(display.shape, daff))
    assert len(labels) == 1 and labels.pop().split()[1] == "LPS"


def test_a_header_that_places_the_volume_elsewhere_changes_the_label():
    vol = np.zeros((4, 5, 6))
    a = _affine((0, 1, 2), (1, 1, 1))
    shifted = a.copy()
    shifted[:3, 3] += [1.0, 0, 0]  # the same array one mm to the right: same shape and orientation
    (da, aff_a), (db, aff_b) = ids.nifti_to_display(vol, a), ids.nifti_to_display(vol, shifted)
    label_a, label_b = ids.geometry_label(da.shape, aff_a), ids.geometry_label(db.shape, aff_b)
    assert label_a.split()[:2] == label_b.split()[:2] == ["6x5x4", "LPS"]
    assert ids.geometry_conflict(label_a, label_b)


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        ("6x40x32 LPS 1a2b3c4d", "6x40x32 LPS 1a2b3c4d", False),
        ("6x40x32 LPS 1a2b3c4d", "6x40x32", False),  # a store written without the volume's affine
        ("6x40x32 LPS 1a2b3c4d", "6x40x32 LPS 99999999", True),
        ("6x40x32 LPS", "6x40x32 LPS 1a2b3c4d", False),  # a store written before the digest existed
        ("6x40x32", "6x32x40", True),
        ("?x40x32", "6x40x32", False),  # SSL4MIS slices: the depth is not known
        ("40x32", "6x40x32", True),
    ],
)
def test_geometry_conflict_compares_the_fields_both_labels_know(a, b, conflict):
    assert ids.geometry_conflict(a, b) is conflict
