"""The one rule that makes gaze maps densities: each map divided by its mass (:func:`as_density`).

Every normalisation of a gaze map in hgdtgl calls this function; the steps between them keep mass by
construction. In pipeline order:

- **join** (:func:`hgdtgl.data.gaze.heatmap_at`, and the packed reader :func:`hgdtgl.data.formats.packed.load_train`):
  each store map becomes a density. The training set keeps it times S² (mean 1) in float16, where that scale
  keeps its precision; the scale is a storage format, not a second normalisation.
- **augmentation** (:func:`hgdtgl.data.augment.apply_affines`) must renormalise: the affine moves part of a map
  out of the frame (zero padding) and bilinear resampling does not conserve mass; the call also removes the
  S² storage scale.
- **paste** (:func:`hgdtgl.mixing.mix_heat`) must renormalise: a mixed map holds part of one density and part of
  another, with any mass between 0 and 2.
- **pyramid** (:func:`hgdtgl.losses.gaze_pyramid`): sum pooling keeps the mass by construction (exactly in real
  arithmetic, for a grid divisible by each scale). :func:`hgdtgl.losses.gaze_kl` still calls
  :func:`as_density` on each level: there it only absorbs float rounding (a few 1e-8 of the mass), and removing
  it would change trained weights in their last bits, so it stays to keep training bit-identical to earlier
  versions.

Mixing and augmentation of labels, images and the other steps never touch a map's mass.
"""

from __future__ import annotations

from typing import TypeVar

EPS = 1e-12  # the smallest mass divided by: a map without gaze (mass 0) stays all zeros

Maps = TypeVar("Maps")  # a torch.Tensor or a numpy array


def as_density(maps: Maps) -> Maps:
    """``maps`` [B, ...] (torch tensor or numpy array, one map per row) each divided by its mass (its sum over
    all but the first axis) clamped at :data:`EPS`: every map with mass sums to 1, an empty map stays zeros.
    Same type, shape and dtype."""
    mass = maps.reshape(maps.shape[0], -1).sum(1).clip(min=EPS)
    return maps / mass.reshape(-1, *(1,) * (maps.ndim - 1))
