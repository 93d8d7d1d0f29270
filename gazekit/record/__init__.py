"""``gazekit record``: show DICOM / NIfTI / HDF5 / image stimuli, record gaze and every display change on
one clock, and write a session folder that ``gazekit convert`` maps to fixations on slices.

Modules: :mod:`~gazekit.record.viewer` (state and drawing), :mod:`~gazekit.record.display` (the Tk
window), :mod:`~gazekit.record.sources` (mouse, LSL, Tobii, replay), :mod:`~gazekit.record.calibration`
(validation in degrees), :mod:`~gazekit.record.writer` (incremental, crash-tolerant session folder),
:mod:`~gazekit.record.recorder` (the loop), :mod:`~gazekit.record.worklist` (what to show, in order).
"""
