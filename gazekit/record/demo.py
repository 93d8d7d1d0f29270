"""A synthetic, non-identifying DICOM series to try ``gazekit record`` on (and to test it with)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gazekit.stimuli import write_dicom_series


def phantom(n_slices: int = 12, size_px: int = 128) -> np.ndarray:
    """A body-like ellipse with one bright round 'lesion' that drifts across the slices [slice, row, column]."""
    k, y, x = np.mgrid[0:n_slices, 0:size_px, 0:size_px].astype(np.float32) + 0.5
    c = size_px / 2
    vol = np.where(((x - c) / (0.42 * size_px)) ** 2 + ((y - c) / (0.34 * size_px)) ** 2 <= 1, 300.0, 0.0)
    lx = c + (k / max(n_slices - 1, 1) - 0.5) * 0.4 * size_px
    vol = vol + np.where((x - lx) ** 2 + (y - 0.45 * size_px) ** 2 <= (0.07 * size_px) ** 2, 500.0, 0.0)
    return vol.astype(np.float32)


def write_demo_series(folder: str | Path, n_slices: int = 12, size_px: int = 128) -> str:
    """Write the phantom as an axial MR DICOM series (1 mm pixels, 3 mm slices); returns its SeriesInstanceUID."""
    return write_dicom_series(phantom(n_slices, size_px), folder, (3.0, 1.0, 1.0), description="gazekit demo phantom")


if __name__ == "__main__":  # python -m gazekit.record.demo FOLDER (used by examples/record_demo.sh)
    import sys

    if len(sys.argv) != 2:
        sys.exit("usage: python -m gazekit.record.demo FOLDER")
    print(f"{sys.argv[1]}: demo DICOM series {write_demo_series(sys.argv[1])}")
