"""The mutation fuzzer of benchmarks/fuzz.py, a fast subset: every (recording, mutation) pair once through
``gazekit convert``: a clean error or a readable table, never a traceback, never over the time limit, no
output left after a failure, the input never modified, no Python warning for the user."""

from __future__ import annotations

import random

import pytest

from benchmarks import fuzz
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def result() -> dict:
    if not (SHARED / "gaze-samples").exists() or not (SHARED / "kvasir-seg").exists():
        pytest.skip(f"shared data not found: {SHARED} (set GAZEKIT_SHARED_DATA)")
    n = len(fuzz.seeds()) * len(fuzz.MUTATIONS)  # 7 x 14 = 98: each pair once
    return fuzz.run(n, base_seed=11, limit_s=10.0)


def test_no_crash_hang_leftover_or_warning(result):
    bad = [f"{f['format']} {f['mutation']}: {f['kind']} {f['text'][-200:]} {f['warnings']}" for f in result["findings"]]
    assert bad == []
    total = {k: sum(c.get(k, 0) for c in result["formats"].values()) for k in fuzz.COLUMNS}
    assert total["cases"] == total["clean_error"] + total["success"] == 98


def test_every_format_both_converts_and_refuses(result):
    for fmt, counts in result["formats"].items():
        assert counts.get("success", 0) > 0 and counts.get("clean_error", 0) > 0, (fmt, counts)


def test_mutations_are_deterministic_and_change_the_input():
    data = b"a,b,c\n1.5,2.25,3\n4,5,6\n7,8,9\n"
    for op in fuzz.MUTATIONS:
        one, two = fuzz.mutate(data, op, random.Random(3)), fuzz.mutate(data, op, random.Random(3))
        assert one == two and (one != data or op in ("swap_lines", "duplicate_line", "decimal_comma"))
    assert fuzz.mutate(data, "utf16", random.Random(0)).decode("utf-16") == data.decode()
    assert b"\n" not in fuzz.mutate(data, "cr_only", random.Random(0))
    assert fuzz.mutate(data, "decimal_comma", random.Random(1)).count(b",") > data.count(b",")
