"""``gazekit render-heatmaps``: fixation table -> heatmap pyramids -> heatmap store.

Modules: :mod:`~gazekit.heatmaps.render` (the maths: separable Gaussians evaluated at pixel centres,
normalisation, pyramids; pure numpy), :mod:`~gazekit.heatmaps.plan` (table -> per-stimulus jobs: sizes,
grids, sigmas; a job's maps; no store I/O, so a lazy store can render on read),
:mod:`~gazekit.heatmaps.build` (the orchestration: shards and workers, writing the store through
:mod:`gazekit.store`) and
:mod:`~gazekit.heatmaps.stimulus_index` (which images / slices exist and their sizes, from ``--stimuli``).
"""
