"""Join gaze heatmaps from a gazekit heatmap store to the training images (by stimulus id and slice)."""

from __future__ import annotations

import sys

import cv2
import numpy as np

from gazekit.errors import GazekitError
from gazekit.ids import geometry_conflict, geometry_label, nnunet_case
from hgdtgl.data.density import as_density
from hgdtgl.data.formats.base import TrainData


def heatmap_at(m: np.ndarray, size: int) -> np.ndarray:
    """A heatmap resized to size x size (bilinear), clipped at 0 and made a density (:func:`as_density`: sums
    to 1, zeros if empty): the join-time normalisation."""
    r = cv2.resize(m.astype(np.float32), (size, size), interpolation=cv2.INTER_LINEAR) if m.shape != (size, size) else m
    return as_density(np.clip(r.astype(np.float32), 0, None)[None])[0]


def store_scale_at(params: dict, scales: list[int], size: int) -> int:
    """The store scale whose grid is exactly ``size`` x ``size`` (read as it is), else 1 (resized).

    Only a store rendered on a square grid (``render-heatmaps --size G``) has one: G = size * s. The coarser
    decoder levels are sum-pooled from this map after augmentation (``hgdtgl.losses.gaze_pyramid``), which
    measures closer to the exact warped gaze than warping the store's coarse scales (docs/training.md)."""
    grid = params.get("size")
    if grid and grid[0] == grid[1] and grid[0] % size == 0 and grid[0] // size in scales:
        return int(grid[0] // size)
    return 1


def _store_ids(store, data: TrainData) -> dict[str, str]:
    """Training stimulus id of each store id that names a training image: the id itself, or for nnU-Net data
    the case of an image file id (``case_0000`` -> ``case``, :func:`gazekit.ids.nnunet_case`)."""
    wanted = {sid for sid, _ in data.keys}
    out = {}
    for sid in dict.fromkeys(store.manifest["stimulus_id"]):
        case = sid if sid in wanted or data.format != "nifti" else nnunet_case(sid)
        if case in wanted:
            out[sid] = case
    return out


def _store_geometry(rows) -> str:
    """The display geometry a store rendered one stimulus on, from its manifest ``rows``: their ``geometry``
    (stores written before it existed: the image size, else the map size, and for a volume its slice count)."""
    if "geometry" in rows and isinstance(rows["geometry"].iloc[0], str) and rows["geometry"].iloc[0]:
        return rows["geometry"].iloc[0]
    size = ["image_height", "image_width"] if "image_height" in rows else ["height", "width"]
    h, w = (int(rows[c].iloc[0]) for c in size)
    return geometry_label((h, w) if rows["slice_index"].isna().all() else (len(rows), h, w))


def _few(items) -> str:
    items = list(items)
    return ", ".join(repr(i) for i in items[:3]) + (f" (+{len(items) - 3} more)" if len(items) > 3 else "")


def join_gaze(data: TrainData, store_dir: str, strict: bool = True) -> TrainData:
    """Fill ``data.heat`` / ``data.has_gaze`` from the store (``gazekit.open_store``): its scale on the
    training grid when it has one, else its scale-1 maps resized (:func:`store_scale_at`).

    The contract (:mod:`gazekit.ids`): a store id joins the training image with that id (nnU-Net: the case of
    an image file id); every such stimulus must have been rendered on the display geometry hgdtgl loaded
    (shape, orientation and where its voxels lie; else a one-line error naming both); and every map the store
    has for a training image must join. ``strict`` (training with gaze): a map that does not join, or no map
    joining at all, is an error; otherwise (``hgdtgl pack``) a warning on stderr naming a few unmatched ids on
    both sides."""
    from gazekit.store import open_store  # pyarrow/pandas: only needed when a store is read

    store = open_store(store_dir)
    scale = store_scale_at(store.params, store.scales, data.size)
    to_case = _store_ids(store, data)
    joined_rows = store.manifest[store.manifest["stimulus_id"].isin(to_case)]
    for sid, rows in joined_rows.groupby("stimulus_id", sort=False):
        case = to_case[sid]
        have, want = _store_geometry(rows), data.geometry.get(case)
        if want is not None and geometry_conflict(have, want):
            raise GazekitError(
                store_dir,
                f"stimulus {sid!r}",
                f"expected heatmaps rendered on the training image's display geometry {want}, the store has {have}: "
                "render the store again from these images (gazekit render-heatmaps --stimuli DIR)",
            )
    index = {key: i for i, key in enumerate(data.keys)}
    heat = np.zeros((len(data.keys), data.size, data.size), dtype=np.float16)
    has = np.zeros(len(data.keys), dtype=bool)
    unjoined = []
    for sid, sl in store.keys():
        if sid not in to_case:
            continue
        i = index.get((to_case[sid], sl))
        if i is None:
            unjoined.append((sid, sl))
            continue
        h = heatmap_at(store.get(sid, sl, scale), data.size)
        if h.sum() > 0:
            heat[i] = (h * h.size).astype(np.float16)  # mean 1: float16 keeps its precision
            has[i] = True
    problem = None
    if unjoined:
        problem = f"expected every map of a training image to join one, {len(unjoined)} did not: {_few(unjoined)}"
    elif not has.any():
        store_ids = list(dict.fromkeys(store.manifest.loc[store.manifest["file"].notna(), "stimulus_id"]))
        problem = (
            f"expected heatmaps for the training images, none matched: store ids {_few(store_ids)}; training ids "
            f"{_few(dict.fromkeys(sid for sid, _ in data.keys))}"
        )
    if problem and strict:
        raise GazekitError(store_dir, "gaze", problem)
    if problem:
        print(f"warning: {store_dir}: {problem}", file=sys.stderr)
    data.heat, data.has_gaze = heat, has
    return data
