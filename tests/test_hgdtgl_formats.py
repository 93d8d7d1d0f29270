"""The training-format table: one module per format in hgdtgl/data/formats/, each listed once in ``FORMATS`` with
the same two entry points, so the dispatch has one style (a format's name -> its module)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from gazekit.errors import GazekitError
from hgdtgl.data import formats
from hgdtgl.data.formats import FORMATS, load_cases


def test_every_format_module_is_in_the_table_with_the_same_entry_points():
    folder = Path(formats.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "base"))
    assert (
        sorted(m.__name__.rpartition(".")[2] for m in FORMATS.values())
        == modules
        == [
            "images",
            "nifti",
            "packed",
            "ssl4mis",
        ]
    )
    for module in FORMATS.values():
        assert list(inspect.signature(module.load_train).parameters) == ["root", "size", "train_list", "masks"]
        assert list(inspect.signature(module.load_cases).parameters) == ["root", "split", "with_labels"]


def test_an_unknown_format_name_is_a_one_line_error(tmp_path):
    with pytest.raises(GazekitError, match="expected ssl4mis, images, nifti or npz, got 'dicom'"):
        load_cases(tmp_path, "val", "dicom")
