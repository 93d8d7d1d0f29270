"""Shared fixtures: where the real data is (GAZEKIT_SHARED_DATA, default ../shared/data)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("MPLCONFIGDIR", tempfile.mkdtemp(prefix="mpl-"))

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("GAZEKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_path(*parts: str) -> Path:
    """Path inside the shared data; skips the test with a reason when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not found: {path} (set GAZEKIT_SHARED_DATA to ../shared/data)")
    return path


@pytest.fixture(autouse=True)
def cpu_without_native_bf16(monkeypatch):
    """Every test sees a CPU without native bf16 (``--amp auto`` = float32), whatever this machine has, so the
    suite trains the same numbers on any machine; tests of the native path patch ``cpu_native`` back."""
    import hgdtgl.precision

    monkeypatch.setattr(hgdtgl.precision, "cpu_native", lambda precision: False)


@pytest.fixture
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found: {SHARED} (set GAZEKIT_SHARED_DATA)")
    return SHARED
