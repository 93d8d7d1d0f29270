"""``hgdtgl pack``: a whole dataset (training images at the training size with labels and gaze heatmaps,
evaluation cases at their original size, lists) in one compressed .npz that ``--data data.npz`` trains from.
The file's layout, its writer and its reader are :mod:`hgdtgl.data.formats.packed`."""

from __future__ import annotations

from pathlib import Path

from gazekit.errors import GazekitError
from hgdtgl.data.formats import load_cases, load_train
from hgdtgl.data.formats.packed import IMAGE_DTYPES, write


def pack(
    root: str | Path,
    out: str | Path,
    size: int = 256,
    gaze_dir: str | None = None,
    fmt: str | None = None,
    image_dtype: str = "uint8",
    splits: dict[str, str] | None = None,
    train_list: str | None = None,
) -> dict:
    """Write ``out`` (.npz); returns its meta (counts, sizes). ``splits`` maps packed split names to split
    names or .list files (default val and test); splits whose list is absent are skipped."""
    from hgdtgl.data.gaze import join_gaze

    if image_dtype not in IMAGE_DTYPES:
        raise GazekitError("--image-dtype", image_dtype, "expected uint8 or float16")
    data = load_train(root, size, fmt, train_list)
    if gaze_dir:
        data = join_gaze(data, gaze_dir, strict=False)
    cases = {}
    for split, source in (splits or {"val": "val", "test": "test"}).items():
        try:
            cases[split] = load_cases(root, source, fmt)
        except GazekitError:
            continue
    return write(out, data, cases, root, gaze_dir, image_dtype)
