"""The heatmap store on disk (DESIGN.md section 3) and its lazy reader, ``gazekit.store.open``.

Layout of STORE_DIR:
- ``store.json``: render parameters (sigma in deg and px, weighting, normalisation, scales, size),
  the digest of the fixation table, the gazekit version;
- ``manifest.parquet``: one row per (stimulus_id, slice_index) with ``height, width, n_fixations,
  total_duration_ms, n_readers, file`` (``file`` is null for an image nobody looked at);
- ``heatmaps/<stimulus_id>.npz``: ``scale_<s>`` arrays [n_slices, floor(H/s), floor(W/s)] for each
  down-sampling factor s of the pyramid, and ``slice_index`` [n_slices] (-1 for a 2D image).
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from gazekit.atomic import atomic_path, check_output
from gazekit.errors import GazekitError
from gazekit.tables import MANIFEST
from gazekit.version import __version__

NO_SLICE = -1  # slice_index stored in the npz for 2D images
# what a store holds (store.json first: the marker); an existing folder is replaced only if it holds no other file
STORE_FILES = ("store.json", "manifest.parquet", "heatmaps/*")


def npz_name(stimulus_id: str) -> str:
    """Relative path of a stimulus' heatmap file inside the store."""
    return f"heatmaps/{stimulus_id}.npz"


def write_npz(path: str | Path, maps: Mapping[int, np.ndarray], slice_index: np.ndarray) -> None:
    """Write one stimulus' pyramid: ``maps[s]`` is [n_slices, H//s, W//s]; ``slice_index`` [n_slices].

    A plain ``np.load``-able npz (stored uncompressed, as ``np.savez``: float maps barely deflate and
    compressing costs 10x the rendering), written deterministically: same arrays, same bytes.
    """
    arrays = {f"scale_{int(s)}": np.asarray(a) for s, a in maps.items()}
    arrays["slice_index"] = np.asarray(slice_index, dtype=np.int32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(fh, np.ascontiguousarray(arr), allow_pickle=False)


def write_index(root: str | Path, manifest: pd.DataFrame, params: Mapping[str, Any]) -> None:
    """Write ``manifest.parquet`` and ``store.json`` into ``root`` (extra manifest columns are kept)."""
    root = Path(root)
    df = manifest.reset_index(drop=True)
    extra = [c for c in df.columns if c not in MANIFEST.names]
    table = pa.Table.from_pandas(df[MANIFEST.names + extra], preserve_index=False)
    table = table.cast(pa.schema(list(MANIFEST) + [table.schema.field(c) for c in extra]))
    pq.write_table(table, root / "manifest.parquet")
    info = {"format": "gazekit-heatmap-store", "gazekit_version": __version__, **params}
    (root / "store.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


class UnknownStimulusError(GazekitError, KeyError):
    """An id (and slice) the store's manifest does not list: a GazekitError that ``except KeyError`` catches."""

    def __str__(self) -> str:
        return self.one_line()


class HeatmapStore:
    """Read access to a heatmap store; npz files are opened lazily and a few are kept open."""

    def __init__(self, root: str | Path, cache_size: int = 64):
        self.root = Path(root)
        info_path = self.root / "store.json"
        if not info_path.is_file():
            raise GazekitError(self.root, None, "expected a heatmap store (store.json not found)")
        try:
            self.params: dict[str, Any] = json.loads(info_path.read_text())
            manifest = pq.read_table(self.root / "manifest.parquet").to_pandas()
        except (OSError, ValueError, pa.ArrowInvalid) as exc:
            raise GazekitError(self.root, None, f"expected a readable heatmap store: {exc}") from None
        manifest["slice_index"] = manifest["slice_index"].astype("Int64")
        self.manifest = manifest
        self.scales: list[int] = [int(s) for s in self.params.get("scales", [1])]
        self._cache: OrderedDict[str, Any] = OrderedDict()
        self._cache_size = cache_size
        self._rows: dict[tuple[str, int], str | None] = {
            (sid, NO_SLICE if pd.isna(sl) else int(sl)): None if pd.isna(f) else str(f)
            for sid, sl, f in zip(manifest["stimulus_id"], manifest["slice_index"], manifest["file"], strict=True)
        }

    def __contains__(self, key: tuple[str, int | None]) -> bool:
        sid, sl = key
        return self._rows.get((sid, NO_SLICE if sl is None else int(sl))) is not None

    def keys(self) -> builtins.list[tuple[str, int | None]]:
        """(stimulus_id, slice_index or None) of every map the store has (images with gaze only)."""
        return [(sid, None if sl == NO_SLICE else sl) for (sid, sl), f in self._rows.items() if f is not None]

    def _arrays(self, stimulus_id: str, file: str) -> tuple[Any, dict[int, int]]:
        if stimulus_id not in self._cache:
            npz = np.load(self.root / file)
            index = {int(s): i for i, s in enumerate(npz["slice_index"])}
            self._cache[stimulus_id] = (npz, index)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(stimulus_id)
        return self._cache[stimulus_id]

    def get(self, stimulus_id: str, slice_index: int | None = None, scale: int = 1) -> np.ndarray | None:
        """The heatmap of one image/slice at down-sampling factor ``scale`` as float32 [H//s, W//s].

        Returns None when the image is in the manifest without gaze (absent gaze is not a flat map); raises
        :class:`UnknownStimulusError` (a KeyError) for an image/slice the manifest does not list.
        """
        sl = NO_SLICE if slice_index is None else int(slice_index)
        if (stimulus_id, sl) not in self._rows:
            where = f"stimulus_id {stimulus_id!r}" + ("" if slice_index is None else f", slice {sl}")
            raise UnknownStimulusError(self.root, where, "not in the store's manifest (a mistyped id?)")
        file = self._rows[(stimulus_id, sl)]
        if file is None:
            return None
        if scale not in self.scales:
            raise GazekitError(self.root, f"scale {scale}", f"expected one of the store's scales {self.scales}")
        npz, index = self._arrays(stimulus_id, file)
        return np.asarray(npz[f"scale_{scale}"][index[sl]], dtype=np.float32)


def open(root: str | Path) -> HeatmapStore:  # noqa: A001 - the documented reader API name
    """Open the heatmap store at ``root`` for lazy reading: ``open(d).get(stimulus_id, slice_index, scale)``."""
    return HeatmapStore(root)


def prepare_output(root: str | Path) -> Path:
    """Refuse to replace an existing folder unless empty or a heatmap store holding only its own files."""
    return check_output(root, "dir", STORE_FILES)


def merge(shards: builtins.list[str | Path], out: str | Path) -> pd.DataFrame:
    """Join the shard stores written with ``--shard i/n`` into one store at ``out``; returns its manifest.

    All shards must come from the same fixation table and parameters, and every i in 0..n-1 be there.
    """
    if not shards:
        raise GazekitError(None, "store merge", "expected at least one shard store")
    stores = [HeatmapStore(p) for p in shards]
    base = {k: v for k, v in stores[0].params.items() if k != "shard"}
    seen: dict[int, Path] = {}
    n_total = None
    for st in stores:
        params = {k: v for k, v in st.params.items() if k != "shard"}
        diff = sorted(k for k in set(params) | set(base) if params.get(k) != base.get(k))
        if diff:
            raise GazekitError(
                st.root,
                "store.json",
                f"expected the same render parameters and table as {stores[0].root}, differs in {', '.join(diff)}",
            )
        shard = st.params.get("shard")
        if shard is None:
            raise GazekitError(st.root, "store.json", "expected a shard store (written with --shard i/n)")
        i, n = int(shard["index"]), int(shard["count"])
        if n_total not in (None, n):
            raise GazekitError(st.root, "store.json shard", f"expected a shard of {n_total}, got one of {n}")
        n_total = n
        if i in seen:
            raise GazekitError(st.root, "store.json shard", f"expected each shard once; {i}/{n} is also {seen[i]}")
        seen[i] = st.root
    missing = sorted(set(range(n_total)) - set(seen))
    if missing:
        raise GazekitError(None, "store merge", f"expected all {n_total} shards, missing {missing}")
    manifest = pd.concat([st.manifest for st in stores], ignore_index=True)
    manifest = manifest.sort_values(["stimulus_id", "slice_index"], kind="stable", na_position="first")
    out = prepare_output(out)
    with atomic_path(out, "dir", STORE_FILES) as tmp:
        (tmp / "heatmaps").mkdir(parents=True)
        for st in stores:
            for f in (
                st.manifest.get("file", pd.Series(dtype=object)).dropna().unique().tolist()
                + st.manifest.get("nifti", pd.Series(dtype=object)).dropna().unique().tolist()
            ):
                dst = tmp / str(f)
                if dst.exists():
                    raise GazekitError(st.root, str(f), "expected each stimulus in one shard only")
                try:
                    os.link(st.root / str(f), dst)
                except OSError:
                    shutil.copyfile(st.root / str(f), dst)
        write_index(tmp, manifest, base)
    return manifest.reset_index(drop=True)
