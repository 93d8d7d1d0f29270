"""MkDocs hook: the site is ``docs/`` plus the repository's README as its home page.

The Markdown files are written to read well where they lie (GitHub, a file browser): the README links
``docs/results.md`` and ``results/figures/x.png``, a page under ``docs/`` links ``../results/figures/x.png``.
This hook makes the same links work in the built site:

- ``README.md`` of the repository root becomes the site's home page (``index.html``);
- every repository file outside ``docs/`` that a page links (figures, ``results/*/commands.md``, ``LICENSE``,
  ``CITATION.cff``, example scripts) is copied into the site at its repository path;
- each such link is rewritten to the site path. A link that does not resolve next to its page is tried from the
  repository root: the results tables that ``python -m experiments tables`` generates link
  ``results/<dataset>/commands.md`` from the root.

A link to a file that exists nowhere is left alone, so ``mkdocs build --strict`` still reports it. It also blanks
the ``Sentinel.UNSET`` defaults that mkdocs-click prints for options without one, and shows the Sphinx roles of
docstrings (``:func:`x` ``) as plain code (``on_page_content``).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File

ROOT = Path(__file__).resolve().parents[2]
DOCS = "docs"
# [text](target) and ![alt](target); a target without a scheme, not an anchor, without spaces
LINK = re.compile(r"(!?\[[^\]]*\]\()([^)\s#:]+)(#[^)\s]*)?(\))")


def _repo_path(page_repo_path: str, target: str) -> str | None:
    """The repository-relative path ``target`` points at from the page at ``page_repo_path``, if it exists."""
    here = posixpath.dirname(page_repo_path)
    for base in (here, ""):
        p = posixpath.normpath(posixpath.join(base, target))
        if not p.startswith("..") and (ROOT / p).is_file():
            return p
    return None


def _site_uri(repo_path: str) -> str:
    """Where a repository file lies in the site: docs/x.md -> x.md, README.md -> README.md, other -> same."""
    return repo_path[len(DOCS) + 1 :] if repo_path.startswith(DOCS + "/") else repo_path


def _repo_of(file) -> str:
    """The repository path of a site file (added from the root by this hook, or under docs/)."""
    return file.src_uri if Path(file.src_dir).resolve() == ROOT else f"{DOCS}/{file.src_uri}"


def _links(text: str, page_repo_path: str):
    for m in LINK.finditer(text):
        repo = _repo_path(page_repo_path, m.group(2))
        if repo is not None:
            yield m, repo


def on_files(files, config):
    site_dir = config["site_dir"]
    use_dir_urls = config["use_directory_urls"]
    if files.get_file_from_path("index.md") is None and files.get_file_from_path("README.md") is None:
        files.append(File("README.md", str(ROOT), site_dir, use_dir_urls))
    pages = [f for f in files if f.src_uri.endswith(".md")]
    seen = {f.src_uri for f in files}
    while pages:  # pages added here (e.g. results/*/commands.md) may link further files
        page = pages.pop()
        text = Path(page.abs_src_path).read_text(encoding="utf-8")
        for _, repo in _links(text, _repo_of(page)):
            uri = _site_uri(repo)
            if uri not in seen and not repo.startswith(DOCS + "/"):
                f = File(repo, str(ROOT), site_dir, use_dir_urls)
                files.append(f)
                seen.add(uri)
                if uri.endswith(".md"):
                    pages.append(f)
    return files


def on_page_markdown(markdown, page, config, files):
    repo_page = _repo_of(page.file)
    here = posixpath.dirname(page.file.src_uri)

    def fix(m: re.Match) -> str:
        repo = _repo_path(repo_page, m.group(2))
        if repo is None:
            return m.group(0)
        rel = posixpath.relpath(_site_uri(repo), here or ".")
        return f"{m.group(1)}{rel}{m.group(3) or ''}{m.group(4)}"

    return LINK.sub(fix, markdown)


# docstrings cross-reference in Sphinx style (:func:`x`, :class:`~pkg.mod.Name`); mkdocstrings renders them as
# Markdown, which keeps the role's name in front of the code: keep the code (the last name for ~ targets)
ROLE = re.compile(r":(?:func|class|mod|meth|attr|data|exc|obj):<code>(~?)([^<]*)</code>")


def _role(m: re.Match) -> str:
    return f"<code>{m.group(2).rsplit('.', 1)[-1] if m.group(1) else m.group(2)}</code>"


def on_page_content(html, page, config, files):
    """click >= 8.2 marks an option without a default by a sentinel that mkdocs-click 0.9 prints as the default
    (``Sentinel.UNSET``): show nothing there, as ``--help`` does. Sphinx roles in docstrings: plain code."""
    return ROLE.sub(_role, html.replace("<code>Sentinel.UNSET</code>", ""))

