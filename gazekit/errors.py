"""The one exception users see: where the problem is and what was expected."""

from __future__ import annotations

from pathlib import Path


class GazekitError(Exception):
    """An expected error in the user's input, printed by the CLI as one line (exit code 2).

    ``file`` is the input it concerns, ``where`` the row/column/field inside it, ``expected`` what
    should have been there (and, when known, what was found).
    """

    def __init__(self, file: str | Path | None, where: str | None, expected: str):
        self.file = None if file is None else str(file)
        self.where = where
        self.expected = expected
        super().__init__(self.one_line())

    def one_line(self) -> str:
        parts = [p for p in (self.file, self.where) if p]
        prefix = ", ".join(parts)
        text = f"{prefix}: {self.expected}" if prefix else self.expected
        return " ".join(text.split())
