"""Self-describing checkpoints: what ``hgdtgl train`` writes (student, teacher, optimiser, scaler, iteration,
config, model and data description), loaded with ``weights_only=True`` only, and the small fp16 student-only
files of ``hgdtgl export`` that evaluate / predict load the same way."""

from __future__ import annotations

from pathlib import Path

import torch

from gazekit.errors import GazekitError
from hgdtgl.models import UNet, build_model

CHECKPOINT_FORMAT = "hgdtgl-checkpoint"
TRAINING_STATE = ("teacher", "optimizer", "scaler", "rng")  # what only resuming needs


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint written by ``hgdtgl train`` (weights_only loading); one-line error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise GazekitError(
            path, None, "file not found, expected a checkpoint file (checkpoint_best.pt / checkpoint_latest.pt)"
        )
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises many types for foreign files
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if path.stat().st_size == 0:
            reason = "the file is empty (0 bytes)"
        raise GazekitError(
            path, None, f"expected an hgdtgl checkpoint readable with weights_only=True: {reason}"
        ) from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise GazekitError(path, "format", f"expected an hgdtgl checkpoint (format {CHECKPOINT_FORMAT!r})")
    return ckpt


def model_from_checkpoint(ckpt: dict, which: str = "student", source: str | Path = "checkpoint") -> UNet:
    """The network of a checkpoint (or an exported fp16 student file) with its weights, as float32."""
    if ckpt.get(which) is None:
        raise GazekitError(source, which, f"expected {which} weights (an exported file holds the student only)")
    try:
        model = build_model(ckpt["model"])
        state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt[which].items()}
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        expected = f"expected weights matching the model described in the file ({ckpt.get('model')}): {first}"
        raise GazekitError(source, f"{which} weights", expected) from None
    return model


def export_student(ckpt: dict) -> dict:
    """A small shareable file: the student's weights in fp16 plus the self-description (config, model, data,
    iteration, best score); no teacher, optimiser or RNG state. Loads like a checkpoint for evaluate / predict."""
    student = {k: v.half() if v.is_floating_point() else v for k, v in ckpt["student"].items()}
    keep = ("format", "hgdtgl_version", "config", "model", "data", "iteration", "best")
    return {**{k: ckpt[k] for k in keep if k in ckpt}, "student": student, "teacher": None, "exported": True}
