"""gazekit: eye-tracking data for medical imaging, from vendor exports to heatmap pyramids."""

__version__ = "0.1.0"
