"""``gazekit render-heatmaps``: fixation table -> per-image pyramids -> heatmap store (orchestration only).

Image sizes come from, in this order: ``--stimuli`` (authoritative; it also lists the images nobody
looked at), the table's ``image_width_px``/``image_height_px`` columns, the table's Parquet metadata
``stimuli`` entry (``width``/``height``). Stimuli of the table missing from ``--stimuli`` are skipped (counted
in store.json ``skipped_stimuli`` and by the CLI). Only fixations with ``on_image`` and finite ``x_px, y_px`` are
rendered. Rendering is a pure function of one stimulus' fixations, so the store does not depend on
``--workers`` or ``--shard``.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from gazekit import store, tables
from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.heatmaps import render
from gazekit.heatmaps.plan import Job, job_maps, plan, present_stimuli, table_digest
from gazekit.heatmaps.stimulus_index import index_stimuli

THREADS = 2  # threads of a --workers 1 run
SKIPPED_KEPT = 100  # ids of skipped stimuli (not in --stimuli) listed in store.json


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"i/n"`` (0 <= i < n) -> (i, n)."""
    if text is None:
        return None
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise GazekitError(None, "--shard", f"expected i/n with integers, got {text!r}") from None
    if not (n >= 1 and 0 <= i < n):
        raise GazekitError(None, "--shard", f"expected 0 <= i < n, got {text!r}")
    return i, n


def _write_job(args: tuple[Job, render.RenderConfig, str, bool, bool]) -> list[dict]:
    job, cfg, root, nifti, lazy = args
    rows = []
    file = nifti_file = None
    if job.slices:
        file = store.npz_name(job.stimulus_id)
    if job.slices and not lazy:
        stacked, slice_index = job_maps(job, cfg)
        store.write_npz(Path(root) / file, stacked, slice_index, cfg.dtype)
        if nifti and job.n_slices is not None:
            nifti_file = _write_nifti(Path(root), job, slice_index, stacked[1])
    by_slice = {sg.slice_index: sg for sg in job.slices}
    keys = list(range(job.n_slices)) if job.n_slices is not None else [None]
    for k in sorted(set(keys) | set(by_slice), key=lambda v: -1 if v is None else v):
        sg = by_slice.get(k)
        rows.append(
            {
                "stimulus_id": job.stimulus_id,
                "slice_index": k,
                "height": job.height,
                "width": job.width,
                "n_fixations": 0 if sg is None else len(sg.x),
                "total_duration_ms": 0.0 if sg is None else sg.total_duration_ms,
                "n_readers": 0 if sg is None else len(np.unique(sg.reader)),
                "file": None if sg is None else file,
                "image_height": job.image_height,
                "image_width": job.image_width,
                "sigma_px": np.nan if sg is None else float(np.mean(np.sqrt(sg.sigma_x * sg.sigma_y))),
                "geometry": job.geometry,
                "nifti": None if sg is None else nifti_file,
            }
        )
    return rows


def _write_nifti(root: Path, job: Job, order: np.ndarray, maps: np.ndarray) -> str:
    import nibabel as nib

    vol = np.zeros((job.n_slices, job.height, job.width), np.float32)
    for i, k in enumerate(order):
        vol[k] = maps[i]
    affine = np.asarray(job.affine) if job.affine is not None else np.eye(4)
    name = f"heatmaps/{job.stimulus_id}.nii.gz"
    nib.save(nib.Nifti1Image(vol, affine), str(root / name))
    return name


def build_store(
    table: str | Path,
    out: str | Path,
    cfg: render.RenderConfig,
    stimuli: str | Path | None = None,
    workers: int = 1,
    shard: tuple[int, int] | None = None,
    nifti: bool = False,
    progress: bool | None = None,
    lazy: bool = False,
) -> pd.DataFrame:
    """Render every stimulus of the fixation table ``table`` into the store ``out``; returns the manifest.

    ``lazy``: write only the manifest and store.json (with a reference to ``table``); maps are rendered
    when read (:class:`gazekit.store.HeatmapStore`).
    """
    fix, meta = tables.read_table("fixations", table)
    if len(fix) == 0:
        raise GazekitError(table, None, "expected fixations, the table is empty")
    if nifti and (1 not in cfg.scales or cfg.size is not None):
        raise GazekitError(None, "--nifti", "expected scale 1 in --scales and no --size (the source volume's grid)")
    if nifti and lazy:
        raise GazekitError(None, "--nifti", "expected --nifti without --lazy (NIfTI volumes are written eagerly)")
    if workers < 1:
        raise GazekitError(None, "--workers", f"expected a number >= 1, got {workers}")
    index = index_stimuli(stimuli) if stimuli is not None else None
    skipped: list[str] = []
    if index is not None:  # a folder holding some of the images: render those, say which were skipped
        fix, skipped = present_stimuli(fix, index, table)
    jobs = plan(fix, meta, cfg, index, table)
    if not any(j.slices for j in jobs):
        raise GazekitError(table, None, "expected at least one on-image fixation with x_px/y_px")
    if shard is not None:
        jobs = jobs[shard[0] :: shard[1]]
    params = {**cfg.params(), "fixation_table_sha256": table_digest(table), "nifti": nifti}
    if shard is not None:
        params["shard"] = {"index": shard[0], "count": shard[1]}
    if skipped:
        params["skipped_stimuli"] = {"count": len(skipped), "ids": skipped[:SKIPPED_KEPT]}
    if lazy:
        params["lazy"] = store.lazy_reference(table, out)
    out = store.prepare_output(out)
    with atomic_path(out, "dir", store.STORE_FILES) as tmp:
        (tmp if lazy else tmp / "heatmaps").mkdir(parents=True)
        tasks = [(j, cfg, str(tmp), nifti, lazy) for j in jobs]
        rows: list[dict] = []
        bar = tqdm(
            total=len(tasks),
            desc="render-heatmaps",
            unit="stimulus",
            disable=None if progress is None else not progress,
        )
        for part in _map(tasks, workers):
            rows.extend(part)
            bar.update()
        bar.close()
        manifest = pd.DataFrame(
            rows, columns=[*tables.MANIFEST.names, "image_height", "image_width", "sigma_px", "geometry", "nifti"]
        )
        manifest["slice_index"] = pd.array(manifest["slice_index"], dtype="Int64")
        if not nifti:
            manifest = manifest.drop(columns="nifti")
        store.write_index(tmp, manifest, params)
    manifest.attrs["skipped_stimuli"] = skipped
    return manifest


def _map(tasks: list, workers: int) -> Iterable[list[dict]]:
    """``_write_job`` over ``tasks`` in order: ``workers`` processes, or for 1 a pair of threads (BLAS,
    exp and zlib release the GIL, so the rendering of one stimulus overlaps the compression of another)."""
    if len(tasks) <= 1 or tasks[0][4]:  # lazy: nothing to render
        yield from map(_write_job, tasks)
        return
    if workers == 1:
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            yield from pool.map(_write_job, tasks)
        return
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_write_job, tasks, chunksize=max(1, len(tasks) // (8 * workers)))
