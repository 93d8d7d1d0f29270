"""Quality control of gaze data, fixation tables and heatmaps: ``data_quality`` (sampling rate, lost
data, precision of raw samples, per session and eye), ``metrics`` (saliency and agreement figures, the
heatmap Dice at 0.5; pure numpy), ``figures`` (per-session / per-stimulus tables) and ``report``
(overlays, contact sheets, index.html; what ``gazekit qc`` writes)."""
