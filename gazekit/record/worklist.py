"""What to show, in order: stimulus paths on the command line and/or a worklist file."""

from __future__ import annotations

from pathlib import Path

from gazekit import stimuli
from gazekit.errors import GazekitError
from gazekit.stimuli import Stimulus


def read_worklist(path: str | Path) -> list[Path]:
    """Stimulus paths of a worklist file: one per line, relative to the file's folder; ``#`` comments."""
    path = Path(path)
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        raise GazekitError(path, None, "worklist file not found") from None
    except UnicodeDecodeError:
        raise GazekitError(path, None, "expected a text file with one stimulus path per line") from None
    out = []
    for i, line in enumerate(lines, start=1):
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        target = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        if not target.exists():
            raise GazekitError(path, f"line {i}", f"expected an existing stimulus path, {entry!r} not found")
        out.append(target)
    if not out:
        raise GazekitError(path, None, "expected at least one stimulus path, the worklist is empty")
    return out


def load_stimuli(paths: list[Path]) -> list[Stimulus]:
    """Load every path (a folder of images gives several stimuli); ids must be unique."""
    found: list[Stimulus] = []
    seen: dict[str, Path] = {}
    for p in paths:
        for stim in stimuli.load(p):
            if stim.stimulus_id in seen:
                first = seen[stim.stimulus_id]
                raise GazekitError(p, None, f"stimulus id {stim.stimulus_id!r} is already shown from {first}")
            seen[stim.stimulus_id] = p
            found.append(stim)
    return found
