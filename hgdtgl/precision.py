"""Which autocast precision a run trains in, decided from the device it runs on.

``auto`` (the default) is bf16 on a CUDA GPU that supports it (fp16 otherwise), and on a CPU bf16 only where the
CPU executes bf16 natively (AVX512-BF16 or AMX); elsewhere float32. Without native instructions a CPU emulates
bf16 and a training step is 15-30x slower than float32 (measured: 7.7 s/it against 0.42 s/it on an AVX2 CPU), so
an explicit ``bf16`` on such a CPU falls back to float32 with one line saying why. An explicit ``fp16`` runs as
asked (on a CPU it only serves to exercise the GradScaler path).
"""

from __future__ import annotations

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}


def _cpu_flag(name: str) -> bool:
    """A private torch.cpu probe (``_is_avx512_bf16_supported`` ...); False where this torch lacks it."""
    probe = getattr(torch.cpu, name, None)
    return bool(probe()) if probe is not None else False


# torch's kernel dispatch levels below which its bf16 kernels are emulated whatever the CPU could do (the level
# follows the CPU, or ATEN_CPU_CAPABILITY when set lower)
EMULATED_DISPATCH = ("DEFAULT", "NO AVX", "AVX2")


def cpu_native(precision: str) -> bool:
    """Whether this CPU executes ``bf16`` / ``fp16`` arithmetic natively (not emulated in float32): the CPU has
    the instructions and torch dispatches to kernels that use them."""
    if torch.backends.cpu.get_cpu_capability() in EMULATED_DISPATCH:
        return False
    if precision == "bf16":
        return _cpu_flag("_is_avx512_bf16_supported") or _cpu_flag("_is_amx_tile_supported")
    if precision == "fp16":
        return _cpu_flag("_is_amx_fp16_supported")
    return True


def cpu_capability() -> str:
    """The CPU's vector capability as torch dispatches to it, plus its native low precisions: ``AVX512+bf16``,
    ``AVX2``, ``DEFAULT`` ... (recorded next to every result row)."""
    natives = [p for p in ("bf16", "fp16") if cpu_native(p)]
    return "+".join([torch.backends.cpu.get_cpu_capability(), *natives])


def resolve_precision(amp: str, device_type: str) -> tuple[str, str | None]:
    """(``bf16`` | ``fp16`` | ``fp32``, the reason of a fallback or None) for ``--amp`` on ``device_type``."""
    if amp == "none":
        return "fp32", None
    if device_type == "cuda":
        if amp == "auto":
            return ("bf16" if torch.cuda.is_bf16_supported() else "fp16"), None
        return amp, None
    if amp == "auto":
        return ("bf16" if cpu_native("bf16") else "fp32"), None
    if amp == "fp16" or cpu_native(amp):
        return amp, None
    cap = torch.backends.cpu.get_cpu_capability()
    why = (
        f"--amp {amp}: this CPU ({cap}) has no native {amp} instructions, where {amp} training runs 15-30x slower "
        "than float32; training in float32 instead"
    )
    return "fp32", why
