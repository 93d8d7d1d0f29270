"""Quality control of fixation tables and heatmaps: ``metrics`` (saliency and agreement figures, pure
numpy), ``figures`` (per-session / per-stimulus tables) and ``report`` (overlays, contact sheets,
index.html; what ``gazekit qc`` writes)."""
