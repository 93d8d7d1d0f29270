"""Shrink an `hgdtgl pack` file for the trip to the GPU machine: its PNG-encoded uint8 images (training set
and evaluation cases) are re-encoded as JPEG at --quality; labels and heatmaps are copied unchanged. The
loader decodes image blobs with cv2.imdecode, which reads JPEG as well as PNG, so `hgdtgl train/evaluate
--data OUT.npz` read the result as they read the original. Kvasir-SEG's photographs compress ~4x better as
JPEG than as PNG (the pack at 224 px: see docs/results.md). JPEG is lossy: the validation
images change by a few grey levels (printed: mean absolute difference).

    python examples/kvasir/jpeg_pack.py IN.npz OUT.npz [--quality 90]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from gazekit.atomic import atomic_path


def reencode(blob: np.ndarray, offsets: np.ndarray, quality: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(JPEG blob, offsets, mean absolute pixel difference) of concatenated PNG images."""
    parts, diffs = [], []
    for i in range(len(offsets) - 1):
        im = cv2.imdecode(blob[offsets[i] : offsets[i + 1]], cv2.IMREAD_UNCHANGED)
        jp = cv2.imencode(".jpg", im, [cv2.IMWRITE_JPEG_QUALITY, quality])[1]
        back = cv2.imdecode(jp, cv2.IMREAD_UNCHANGED)
        diffs.append(float(np.abs(back.astype(np.int16) - im.astype(np.int16)).mean()))
        parts.append(jp)
    new_off = np.cumsum([0] + [len(p) for p in parts]).astype(np.int64)
    return (np.concatenate(parts) if parts else np.zeros(0, np.uint8)), new_off, float(np.mean(diffs or [0.0]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--quality", type=int, default=90)
    a = ap.parse_args()
    z = np.load(a.input)
    arrays = {k: z[k] for k in z.files}
    diffs = []
    for key in [k for k in z.files if k.endswith("_png")]:
        stem = key[: -len("_png")]
        arrays[key], arrays[f"{stem}_offsets"], d = reencode(z[key], z[f"{stem}_offsets"], a.quality)
        diffs.append(d)
    with atomic_path(Path(a.output)) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    mb_in, mb_out = Path(a.input).stat().st_size / 2**20, Path(a.output).stat().st_size / 2**20
    diff = f"mean |diff| {np.mean(diffs):.2f} grey levels"
    print(f"{a.output}: {mb_in:.1f} MiB -> {mb_out:.1f} MiB (JPEG q{a.quality}, {diff})")


if __name__ == "__main__":
    main()
