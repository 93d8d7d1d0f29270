"""The heatmap store on disk (DESIGN.md section 3) and its lazy reader, ``gazekit.open_store``.

Layout of STORE_DIR:
- ``store.json``: render parameters (sigma in deg and px, weighting, normalisation, scales, size),
  the digest of the fixation table, the gazekit version;
- ``manifest.parquet``: one row per (stimulus_id, slice_index) with ``height, width, n_fixations,
  total_duration_ms, n_readers, file`` (``file`` is null for an image nobody looked at);
- ``heatmaps/<stimulus_id>.npz``: ``scale_<s>`` arrays [n_slices, floor(H/s), floor(W/s)] for each
  down-sampling factor s of the pyramid, and ``slice_index`` [n_slices] (-1 for a 2D image).

Map encodings (``dtype`` in store.json; the reader goes by the arrays in each file, so stores written before
the uint16 encoding stay readable):
- ``float32``: ``scale_<s>`` holds the maps, stored uncompressed.
- ``uint16`` (default): each map is quantised to q = rint(map / step), step = peak / 65535 (its own
  peak, ``step_<s>`` float32 [n_slices]); the codes are the 2-D difference of q (along columns, then
  rows, modulo 2^16) zigzag-mapped to small non-negative numbers (uint8 when they all fit, else
  uint16); ``scale_<s>`` (uint8) holds their .npy bytes compressed with zstd (pyarrow's codec),
  ``scale_<s>_nbytes`` [1] the size of those bytes. Decode (:func:`unpack_codes`, :func:`decode_uint16`):
  decompress, zigzag back, ``cumsum(cumsum(d, -1), -2)`` in uint16, times step. Maximum error:
  step / 2 = peak / 131070 plus float32 rounding, i.e. below 8e-6 of the map's peak; a smooth map's
  codes are small, so the file is ~7 % of float32 (Kvasir, scales 1, 2, 4).

A lazy store (``render-heatmaps --lazy``) has no npz files: store.json's ``lazy`` entry names the
fixation table (path relative to the store and absolute, and its sha256), and :meth:`HeatmapStore.get`
renders a stimulus on first use, encodes it as the eager store would (same maps, same bytes) and caches it
in memory (``disk_cache=True``: also as the eager npz file in the store).
"""

from __future__ import annotations

import builtins
import io
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
from gazekit.tables import MANIFEST, NO_SLICE
from gazekit.version import __version__

# what a store holds (store.json first: the marker); an existing folder is replaced only if it holds no other file
STORE_FILES = ("store.json", "manifest.parquet", "heatmaps/*")


def npz_name(stimulus_id: str) -> str:
    """Relative path of a stimulus' heatmap file inside the store."""
    return f"heatmaps/{stimulus_id}.npz"


QMAX = 65535  # uint16 levels of a quantised map: error <= peak / (2 QMAX)
MAX_REL_ERROR = 8e-6  # stated bound of |stored - rendered| / peak for dtype uint16 (tests check it)


def encode_uint16(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Quantise a stack of maps [n, H, W] (values >= 0) per map: (codes, step [n]).

    q = rint(map / step) with ``step = peak / 65535`` (1 for an all-zero map); codes = the 2-D difference
    of q (along columns, then rows, modulo 2^16) zigzag-mapped (0, -1, 1, -2, ... -> 0, 1, 2, 3, ...) as
    uint16, or as uint8 when every code fits. See the module docstring for the error bound.
    """
    m = np.asarray(maps, np.float32)
    peak = m.reshape(len(m), -1).max(axis=1) if m.size else np.zeros(len(m), np.float32)
    step = np.where(peak > 0, peak / np.float32(QMAX), np.float32(1)).astype(np.float32)
    x = m / step[:, None, None]
    np.clip(np.rint(x, out=x), 0, QMAX, out=x)
    q = x.astype(np.uint16)
    d = q.copy()  # differences in place, modulo 2^16: along columns, then along rows
    np.subtract(q[..., 1:], q[..., :-1], out=d[..., 1:])
    np.subtract(d[..., 1:, :], d[..., :-1, :], out=q[..., 1:, :])
    q[..., 0, :] = d[..., 0, :]
    s = q.view(np.int16)
    codes = np.bitwise_xor(np.left_shift(s, 1), np.right_shift(s, 15, out=s)).view(np.uint16)
    return (codes.astype(np.uint8) if codes.size and codes.max() < 256 else codes), step


def decode_uint16(codes: np.ndarray, step: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`encode_uint16` for one map [H, W] (or a stack with ``step`` [n]); float32."""
    z = codes.astype(np.uint16)
    d = (z >> 1) ^ np.negative(z & 1)  # zigzag back, modulo 2^16
    q = np.cumsum(np.cumsum(d, axis=-1, dtype=np.uint16), axis=-2, dtype=np.uint16)
    step = np.asarray(step, np.float32)
    return q.astype(np.float32) * (step if step.ndim == 0 else step[:, None, None])


ZSTD = pa.Codec("zstd", 1)  # the uint16 codes' compressor (pyarrow's; deterministic, ~3x faster than zlib -1)


def npz_arrays(maps: Mapping[int, np.ndarray], slice_index: np.ndarray, dtype: str = "float32") -> dict[str, Any]:
    """The arrays of one stimulus' npz: ``maps[s]`` is [n_slices, H//s, W//s]; ``slice_index`` [n_slices].

    ``uint16``: ``scale_<s>`` is the zstd frame (uint8) of the codes' .npy bytes (:func:`encode_uint16`),
    ``scale_<s>_nbytes`` the size of those bytes, ``step_<s>`` the steps; ``float32``: the maps.
    """
    arrays: dict[str, Any] = {}
    for s, a in maps.items():
        if dtype == "uint16":
            codes, arrays[f"step_{int(s)}"] = encode_uint16(a)
            buf = io.BytesIO()
            np.lib.format.write_array(buf, codes, allow_pickle=False)
            arrays[f"scale_{int(s)}"] = np.frombuffer(ZSTD.compress(buf.getbuffer(), asbytes=True), np.uint8)
            arrays[f"scale_{int(s)}_nbytes"] = np.array([buf.getbuffer().nbytes], np.int64)
        else:
            arrays[f"scale_{int(s)}"] = np.asarray(a, np.float32)
    arrays["slice_index"] = np.asarray(slice_index, dtype=np.int32)
    return arrays


def unpack_codes(frame: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """The codes array of a ``scale_<s>`` zstd frame and its ``scale_<s>_nbytes`` (see :func:`npz_arrays`)."""
    raw = ZSTD.decompress(np.ascontiguousarray(frame), decompressed_size=int(nbytes[0]), asbytes=True)
    return np.lib.format.read_array(io.BytesIO(raw), allow_pickle=False)


def write_npz(
    path: str | Path, maps: Mapping[int, np.ndarray], slice_index: np.ndarray, dtype: str = "float32"
) -> None:
    """Write one stimulus' pyramid (:func:`npz_arrays`) as a plain ``np.load``-able npz.

    ``float32`` maps as they are (float maps barely compress and compressing costs 10x the rendering);
    ``uint16`` codes zstd-compressed (level 1: smaller than zlib -1 at a third of its time; zlib, the
    npz's own deflate, took 2/3 of the end-to-end time). Deterministic: same arrays, same bytes.
    """
    write_arrays(path, npz_arrays(maps, slice_index, dtype))


def write_arrays(path: str | Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Write :func:`npz_arrays` as an npz file (members stored, with a fixed date: same arrays, same bytes)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
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
    """Read access to a heatmap store; npz files are opened lazily and a few are kept open (decoded arrays
    memoised). A lazy store renders a stimulus on first use (``disk_cache``: and writes its npz file)."""

    def __init__(self, root: str | Path, cache_size: int = 64, disk_cache: bool = False):
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
        self._disk_cache = disk_cache
        self._jobs: dict[str, Any] | None = None
        self._rows: dict[tuple[str, int], str | None] = {
            (sid, NO_SLICE if pd.isna(sl) else int(sl)): None if pd.isna(f) else str(f)
            for sid, sl, f in zip(manifest["stimulus_id"], manifest["slice_index"], manifest["file"], strict=True)
        }

    def __contains__(self, key: tuple[str, int | None]) -> bool:
        sid, sl = key
        return self._rows.get((sid, NO_SLICE if sl is None else int(sl))) is not None

    def keys(self) -> builtins.list[tuple[str, int | None]]:
        """The maps the store has (images/slices with gaze only), as a list of ``(stimulus_id, slice_index)``
        tuples: ``slice_index`` is None for a 2-D image and the slice number (int) for a slice of a volume,
        so that ``st.get(*key)`` reads each one. Images listed without gaze are in ``st.manifest``."""
        return [(sid, None if sl == NO_SLICE else sl) for (sid, sl), f in self._rows.items() if f is not None]

    def _arrays(self, stimulus_id: str, file: str) -> tuple[Any, dict[str, np.ndarray], dict[int, int]]:
        if stimulus_id not in self._cache:
            path = self.root / file
            if self.params.get("lazy") is not None and not path.is_file():
                source: Any = self._render(stimulus_id)
                if self._disk_cache:
                    with atomic_path(path) as tmp:
                        write_arrays(tmp, source)
            else:
                source = np.load(path)
            index = {int(s): i for i, s in enumerate(source["slice_index"])}
            self._cache[stimulus_id] = (source, {}, index)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        self._cache.move_to_end(stimulus_id)
        return self._cache[stimulus_id]

    def _render(self, stimulus_id: str) -> dict[str, np.ndarray]:
        """A lazy store's npz arrays of one stimulus, exactly as the eager store writes them."""
        from gazekit.heatmaps import plan, render  # (pure: neither imports this module) on first use only

        cfg = render.RenderConfig.from_params(self.params)
        if self._jobs is None:
            self._jobs = {job.stimulus_id: job for job in plan.lazy_jobs(self.root, self.params, self.manifest)}
        maps, slice_index = plan.job_maps(self._jobs[stimulus_id], cfg)
        return npz_arrays(maps, slice_index, cfg.dtype)

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
        source, loaded, index = self._arrays(stimulus_id, file)
        name = f"scale_{scale}"
        step = f"step_{scale}"
        if name not in loaded:
            if step in source:  # uint16 store: zstd-compressed codes
                loaded[name] = unpack_codes(source[name], source[f"{name}_nbytes"])
                loaded[step] = np.asarray(source[step])
            else:  # float32 store (the maps themselves)
                loaded[name] = np.asarray(source[name])
        i = index[sl]
        if step in loaded:
            return decode_uint16(loaded[name][i], loaded[step][i])
        return np.asarray(loaded[name][i], dtype=np.float32)


def open_store(root: str | Path, disk_cache: bool = False) -> HeatmapStore:
    """The heatmap store at ``root``, opened for lazy reading (the API's ``gazekit.open_store``).

    ``st.get(stimulus_id, slice_index, scale)`` is one map; ``st.keys()`` lists the maps the store has as
    ``(stimulus_id, slice_index)`` tuples (``slice_index`` None for a 2-D image). ``disk_cache``: a lazy
    store (``--lazy``) also writes each map it renders into its folder.
    """
    return HeatmapStore(root, disk_cache=disk_cache)


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
    base = {k: v for k, v in stores[0].params.items() if k not in ("shard", "lazy")}
    seen: dict[int, Path] = {}
    n_total = None
    for st in stores:
        params = {k: v for k, v in st.params.items() if k not in ("shard", "lazy")}
        if (st.params.get("lazy") is None) != (stores[0].params.get("lazy") is None):
            raise GazekitError(st.root, "store.json", f"expected all shards lazy or none, as {stores[0].root}")
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
                if st.params.get("lazy") is not None and not (st.root / str(f)).is_file():
                    continue  # a lazy store's map not rendered yet
                try:
                    os.link(st.root / str(f), dst)
                except OSError:
                    shutil.copyfile(st.root / str(f), dst)
        lazy = stores[0].params.get("lazy")
        if lazy is not None:
            base["lazy"] = lazy_reference(lazy["table_absolute"], out)
        write_index(tmp, manifest, base)
    return manifest.reset_index(drop=True)


def lazy_reference(table: str | Path, root: str | Path) -> dict[str, str]:
    """store.json's ``lazy`` entry: the fixation table's path relative to the store ``root`` and absolute."""
    absolute = Path(table).resolve()
    return {"table": os.path.relpath(absolute, Path(root).resolve()), "table_absolute": str(absolute)}
