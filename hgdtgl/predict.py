"""``hgdtgl predict``: label maps for new images with a trained checkpoint.

- a NIfTI file (or a folder of them) -> NIfTI label volumes with the input's affine, header and array order
  (predicted slice by slice in the display geometry that training and gazekit use, then mapped back:
  :func:`gazekit.ids.nifti_from_display`), so a mask overlays its image in 3D Slicer / ITK-SNAP;
- an image file or a folder of images -> PNG masks (binary models: 0/255, multi-class: class indices);
- an SSL4MIS data folder + ``--split`` list -> ``OUT/<case>.nii.gz`` in the HDF5 volume's array order.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from gazekit.atomic import atomic_path
from gazekit.errors import GazekitError
from gazekit.ids import nifti_from_display, nifti_to_display
from hgdtgl.data.formats import IMAGE_EXT, Case, detect_format, load_cases
from hgdtgl.evaluate import perception_case, predict_case


def _nifti_case(path: Path) -> Case:
    import nibabel as nib

    nii = nib.load(path)
    v = np.asarray(nii.dataobj, dtype=np.float32)
    if v.ndim != 3:
        raise GazekitError(path, "shape", f"expected a 3-D volume, got {v.shape}")
    lo, hi = float(v.min()), float(v.max())
    display, _ = nifti_to_display((v - lo) / (hi - lo) if hi > lo else np.zeros_like(v), nii.affine)
    return Case(path.name.split(".nii")[0], display[:, None], None, str(path), nii.affine)


def _save_like_source(volume: np.ndarray, case: Case, target: Path) -> None:
    """Write a display-geometry ``[slice, row, col]`` volume as NIfTI in the source file's array order, affine
    and header (data type from ``volume``)."""
    import nibabel as nib

    src = nib.load(case.source)
    img = nib.Nifti1Image(nifti_from_display(volume, src.affine), src.affine, header=src.header)
    img.set_data_dtype(volume.dtype)
    with atomic_path(target) as tmp:
        nib.save(img, tmp)


def _image_case(path: Path, channels: int) -> Case:
    img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR)
    if img is None:
        raise GazekitError(path, None, "expected a readable image")
    img = img[None] if channels == 1 else cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
    return Case(path.stem, img[None].astype(np.float32) / 255.0, None, str(path))


def collect_inputs(path: Path, split: str | None, channels: int) -> tuple[str, list[Case]]:
    """('nifti' | 'images' | 'volumes', cases) for an input file or folder."""
    name = path.name.lower()
    if path.is_file() and (name.endswith(".nii") or name.endswith(".nii.gz")):
        return "nifti", [_nifti_case(path)]
    if path.is_file() and path.suffix.lower() in IMAGE_EXT:
        return "images", [_image_case(path, channels)]
    if path.is_dir():
        if (path / "data").is_dir() and split is not None:
            cases = load_cases(path, split, "ssl4mis", with_labels=False)
            return "volumes", cases
        fmt = None
        try:
            fmt = detect_format(path)
        except GazekitError:
            pass
        if fmt == "ssl4mis":
            raise GazekitError(path, "--split", "expected a split list (val, test or FILE.list) for an SSL4MIS folder")
        folder = path / "images" if fmt == "images" else path / "imagesTr" if fmt == "nifti" else path
        niftis = sorted(p for p in folder.iterdir() if p.name.endswith((".nii.gz", ".nii")))
        if niftis:
            return "nifti", [_nifti_case(p) for p in niftis]
        images = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXT)
        if images:
            return "images", [_image_case(p, channels) for p in images]
    raise GazekitError(
        path, None, "expected a NIfTI file/folder, an image file/folder, or an SSL4MIS folder with --split"
    )


def predict(
    ckpt: dict,
    model: torch.nn.Module,
    inp: Path,
    out: Path,
    split: str | None,
    device: torch.device,
    perception: bool = False,
) -> list[Path]:
    """Write one label file per input case under ``out`` (or to ``out`` for a single NIfTI file); with
    ``perception`` (MGP models) also ``<case>_perception.png`` (scaled to its maximum) or ``.nii.gz`` (density)."""
    import nibabel as nib

    spec = ckpt["model"]
    kind, cases = collect_inputs(inp, split, int(spec["in_channels"]))
    written = []
    single_file = kind == "nifti" and len(cases) == 1 and out.name.endswith((".nii.gz", ".nii"))
    if not single_file:
        out.mkdir(parents=True, exist_ok=True)
    if perception and not spec.get("mgp"):
        raise GazekitError("--perception", None, "expected a checkpoint trained with MGP heads (--mgp)")
    for case in cases:
        if case.image.shape[1] != spec["in_channels"]:
            raise GazekitError(
                case.source, "channels", f"expected {spec['in_channels']} channel(s) as the model was trained on"
            )
        pred = predict_case(model, case.image, int(spec["size"]), device)
        if kind == "images":
            mask = pred[0] * (255 if spec["num_classes"] == 2 else 1)
            target = out / f"{case.name}.png"
            with atomic_path(target) as tmp:
                ok, buf = cv2.imencode(".png", mask.astype(np.uint8))
                Path(tmp).write_bytes(buf.tobytes())
        elif kind == "nifti":
            target = out if single_file else out / f"{case.name}.nii.gz"
            _save_like_source(pred.astype(np.uint8), case, target)
        else:
            target = out / f"{case.name}.nii.gz"
            with atomic_path(target) as tmp:
                nib.save(nib.Nifti1Image(pred.astype(np.uint8), np.eye(4)), tmp)
        written.append(target)
        if perception:
            maps = perception_case(model, case.image, int(spec["size"]), device)
            if kind == "images":
                target = out / f"{case.name}_perception.png"
                scaled = np.rint(maps[0] / max(float(maps[0].max()), 1e-12) * 255).astype(np.uint8)
                with atomic_path(target) as tmp:
                    Path(tmp).write_bytes(cv2.imencode(".png", scaled)[1].tobytes())
            else:
                base = out.parent / out.name.split(".nii")[0] if single_file else out / case.name
                target = Path(f"{base}_perception.nii.gz")
                if kind == "nifti":
                    _save_like_source(maps.astype(np.float32), case, target)
                else:
                    with atomic_path(target) as tmp:
                        nib.save(nib.Nifti1Image(maps.astype(np.float32), np.eye(4)), tmp)
            written.append(target)
    return written
