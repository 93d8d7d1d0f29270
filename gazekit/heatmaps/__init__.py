"""``gazekit render-heatmaps``: fixation table -> heatmap pyramids -> heatmap store.

Modules: :mod:`~gazekit.heatmaps.render` (the maths: separable Gaussians evaluated at pixel centres,
normalisation, pyramids; pure numpy), :mod:`~gazekit.heatmaps.build` (the orchestration: sizes, sigmas,
shards and workers, writing the store through :mod:`gazekit.store`) and
:mod:`~gazekit.heatmaps.stimulus_index` (which images / slices exist and their sizes, from ``--stimuli``).
"""
