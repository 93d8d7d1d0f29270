"""Datasets decoded once into memory: training slices at the training size (+ gaze heatmaps) and
evaluation cases (volumes or images) at their original size."""

from hgdtgl.data.formats import Case, TrainData, detect_format, load_cases, load_train, select_labeled

__all__ = ["Case", "TrainData", "detect_format", "load_cases", "load_train", "select_labeled"]
