"""``--anonymize-paths``: folder names in written metadata replaced by short hashes.

Folder names often carry identities (``Doe_Jane_PID-12345/``). With the option, every folder
component of a source path that gazekit writes (fixation-table metadata, session.json) becomes
``d-<12 hex digits of sha256(name)>`` (:func:`hash_name`, which also makes the readers' pseudonymous reader
ids); file names are kept, since their stems are the stimulus ids.
The same name always gives the same hash (so files of one folder stay grouped), and a hash of a
guessable name can be guessed: it hides names from view, it is not encryption.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

# the one name hasher's kinds: prefix and sha256 hex digits. Folders (``--anonymize-paths``) and reader ids (the
# participant names of the readers' tables) were first hashed by two functions with these lengths; both kept, so
# that stored tables and metadata keep their ids.
HASH_KINDS = {"folder": ("d-", 12), "reader": ("r-", 10)}


def hash_name(name: str, kind: str = "folder") -> str:
    """``Doe_Jane_PID-12345`` -> ``d-`` + the first 12 hex digits of its sha256 (``kind="folder"``), or
    ``r-`` + the first 10 (``kind="reader"``: a pseudonymous reader id; an empty participant name stays "")."""
    prefix, digits = HASH_KINDS[kind]
    if kind == "reader" and not name:
        return ""
    return prefix + hashlib.sha256(name.encode("utf-8")).hexdigest()[:digits]


def anonymize_path(path: str | Path, keep_name: bool = True) -> str:
    """Every folder component hashed; the last component kept when ``keep_name`` (a file name)."""
    p = PurePosixPath(Path(path).as_posix())
    parts = list(p.parts)
    last = len(parts) - 1
    out = [
        part if part in ("/", ".", "..") or (keep_name and i == last) else hash_name(part)
        for i, part in enumerate(parts)
    ]
    return PurePosixPath(*out).as_posix() if out else str(path)


def anonymize_meta(meta: dict, paths: Iterable[str | Path]) -> dict:
    """``meta`` with the folders of ``paths`` (as given and absolute) replaced wherever they appear in it.

    A path that is a folder (a session folder, a DICOM series) is hashed whole.
    """
    pairs: dict[str, str] = {}
    for given in paths:
        for p in {Path(given), Path(given).resolve()}:
            target = p if p.is_dir() else p.parent
            if str(target) not in ("", "."):
                pairs[str(target)] = anonymize_path(target, keep_name=False)
    text = json.dumps(meta, default=str)
    for old in sorted(pairs, key=len, reverse=True):
        text = text.replace(json.dumps(old)[1:-1], json.dumps(pairs[old])[1:-1])
    return json.loads(text)
