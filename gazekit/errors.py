"""The one exception users see: where the problem is and what was expected."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


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


def user_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator of a CLI command (gazekit's and hgdtgl's): a GazekitError becomes one line
    ``error: ...`` on stderr and exit code 2, without a traceback."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except GazekitError as exc:
            import click  # only the CLIs use this; importing gazekit.errors stays dependency-free

            click.echo(f"error: {exc.one_line()}", err=True)
            sys.exit(2)

    return wrapper
