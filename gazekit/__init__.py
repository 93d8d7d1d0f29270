"""gazekit: eye-tracking data for medical imaging, from vendor exports to heatmap pyramids.

The public API (:mod:`gazekit.api`), imported on first use so that ``import gazekit.errors`` (or any one
module) stays light::

    fix = gazekit.convert_files("export.tsv", "fixations.parquet")  # exports -> fixation table
    fix = gazekit.read_fixations("fixations.parquet")
    st = gazekit.render_heatmaps("fixations.parquet", "store/", sigma_px=20, scales=(1, 2))
    st = gazekit.open_store("store/")  # st.get(stimulus_id, slice_index, scale); st.keys(): (id, slice) tuples
    gazekit.simulate_session("labels.nii.gz", "session/")  # a session folder to convert
"""

from gazekit.version import __version__

API = ("convert_files", "read_fixations", "render_heatmaps", "open_store", "simulate_session")
__all__ = ["__version__", *API]


def __getattr__(name: str):
    """PEP 562: the API functions load :mod:`gazekit.api` (and the pipeline) only when first used."""
    if name == "open_store":  # reading a store does not load the pipeline
        from gazekit.store import open_store

        return open_store
    if name in API:
        from gazekit import api

        return getattr(api, name)
    raise AttributeError(f"module 'gazekit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *API})
