"""``gazekit convert``: vendor recordings -> one fixation table in image coordinates.

Modules, in the order a file goes through them: :mod:`~gazekit.convert.detection` (the screen, and vendor
fixations or I-VT / I-DT on the samples), :mod:`~gazekit.convert.detectors` (the detectors by name),
:mod:`~gazekit.convert.ivt` and :mod:`~gazekit.convert.idt` (one algorithm each, sharing
:mod:`~gazekit.convert.fixations`), :mod:`~gazekit.convert.viewer_log` (reading a viewer-event log),
:mod:`~gazekit.convert.coordinates` (every normalised -> screen -> image position change, one rule) and
:mod:`~gazekit.convert.pipeline` (the orchestration: read -> detect -> map -> one table).
"""
