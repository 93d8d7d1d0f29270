"""The fixation detectors by name (``--detect ivt`` / ``idt``) and their parameters from CLI text.

One module per algorithm: :mod:`gazekit.convert.ivt`, :mod:`gazekit.convert.idt`; what they share (eye
selection, gap fill-in, the fixation table, the conventions) in :mod:`gazekit.convert.fixations`.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from gazekit.convert.idt import IDTParams, idt
from gazekit.convert.ivt import IVTParams, ivt
from gazekit.errors import GazekitError
from gazekit.geometry import Screen

if TYPE_CHECKING:
    import pandas as pd

DETECTORS = {"ivt": (ivt, IVTParams), "idt": (idt, IDTParams)}


def detect(samples: pd.DataFrame, screen: Screen, method: str, **overrides) -> pd.DataFrame:
    """Run detector ``method`` ("ivt" or "idt") with its default parameters changed by ``overrides``.

    ``overrides`` are field names of :class:`IVTParams` / :class:`IDTParams` (e.g. ``eye="left"``).
    """
    if method not in DETECTORS:
        raise GazekitError(None, "--detect", f"expected one of {', '.join(DETECTORS)}, got {method!r}")
    return DETECTORS[method][0](samples, screen, make_params(method, **overrides))


def make_params(method: str, **overrides) -> IVTParams | IDTParams:
    """The parameter dataclass of ``method`` with ``overrides`` applied (unknown names -> GazekitError)."""
    params_cls = DETECTORS[method][1]
    names = {f.name for f in dataclasses.fields(params_cls)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise GazekitError(None, f"{method} parameters", f"expected some of {', '.join(sorted(names))}, got {unknown}")
    return params_cls(**overrides)


def parse_params(method: str, items: tuple[str, ...] | list[str]) -> dict:
    """``["velocity_threshold_deg_s=40", "eye=left"]`` -> typed overrides for ``method``'s parameters."""
    if method not in DETECTORS:
        raise GazekitError(None, "--detect", f"expected one of {', '.join(DETECTORS)}, got {method!r}")
    types = {f.name: type(f.default) for f in dataclasses.fields(DETECTORS[method][1])}
    out: dict = {}
    for item in items:
        name, sep, value = item.partition("=")
        name = name.strip()
        if not sep or name not in types:
            raise GazekitError(
                None, "--detect-param", f"expected NAME=VALUE with NAME in {', '.join(types)}, got {item!r}"
            )
        try:
            out[name] = types[name](value.strip())
        except ValueError:
            raise GazekitError(
                None, "--detect-param", f"expected a {types[name].__name__} for {name}, got {value!r}"
            ) from None
    make_params(method, **out)
    return out
