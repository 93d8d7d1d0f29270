"""``hgdtgl train --val-fraction F``: a seeded share of the TRAINING patients / cases held out as validation,
for data without a validation split.

The split is by :attr:`TrainData.groups`: a patient for SSL4MIS (ACDC: ``patient001`` holds both frames'
slices), a case for NIfTI, an image for image folders; every image of a group is on one side. The held-out
groups become evaluation cases at the training size (a group's images stacked as one case) and leave the
training set before the labeled subset (``--labeled`` / ``--labeled-ratio``) is chosen from what remains.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from gazekit.errors import GazekitError
from hgdtgl.data.formats.base import Case, TrainData

HOLDOUT_STREAM = 0x5EED_7A1  # the generator of this split: (seed, stream), apart from --labeled-ratio's draw


def holdout_mask(groups: list[str], fraction: float, seed: int) -> np.ndarray:
    """Boolean mask of the images whose group is held out: round(fraction x groups) groups (at least one,
    at least one left for training), drawn by a generator seeded with ``seed``."""
    order = list(dict.fromkeys(groups))
    k = max(1, round(fraction * len(order)))
    if not 0 < fraction < 1 or k >= len(order):
        raise GazekitError(
            "--val-fraction",
            str(fraction),
            f"expected a fraction in (0, 1) that leaves training patients/cases ({len(order)} in the training list)",
        )
    rng = np.random.default_rng([seed, HOLDOUT_STREAM])
    held = {order[i] for i in rng.choice(len(order), size=k, replace=False)}
    return np.array([g in held for g in groups], dtype=bool)


def subset(data: TrainData, keep: np.ndarray) -> TrainData:
    """The images of ``data`` where ``keep`` is True (gaze included)."""
    idx = np.flatnonzero(keep)
    return dataclasses.replace(
        data,
        images=data.images[idx],
        labels=data.labels[idx],
        keys=[data.keys[i] for i in idx],
        groups=[data.groups[i] for i in idx],
        heat=None if data.heat is None else data.heat[idx],
        has_gaze=None if data.has_gaze is None else data.has_gaze[idx],
    )


def holdout_cases(data: TrainData, held: np.ndarray, source: str) -> list[Case]:
    """One evaluation case per held-out group: its images (in list order) as a [D, C, S, S] float32 stack in
    [0, 1] with their labels [D, S, S]."""
    cases = []
    groups = np.asarray(data.groups)
    for g in dict.fromkeys(groups[held]):
        idx = np.flatnonzero(held & (groups == g))
        images = data.images[idx].astype(np.float32)
        if data.images.dtype == np.uint8:
            images /= 255.0
        cases.append(Case(str(g), images, data.labels[idx], f"{source} (held out of the training list)"))
    return cases


def split_validation(data: TrainData, fraction: float, seed: int, source: str) -> tuple[TrainData, list[Case]]:
    """(the training data without the held-out groups, the held-out groups as validation cases)."""
    held = holdout_mask(data.groups, fraction, seed)
    return subset(data, ~held), holdout_cases(data, held, source)
