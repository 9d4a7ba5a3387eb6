"""Paths a web user gives (a data file, a bundle, a run) resolved inside the folders the UI may read:
the runs folder and the folder the server started in. ``..`` and symlinks that lead outside are
refused, and the message never says whether a path outside exists.

Example:
    >>> inside("examples/support_tickets.csv", [Path.cwd(), Path("runs")])
    PosixPath('/work/main/examples/support_tickets.csv')
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ..errors import TuneForgeError

MAX_PATH_CHARS = 1000
DATA_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".conll")
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".ui", "checkpoints", "tensorboard", "bundle",
             ".pytest_cache", "site-packages"}


class PathRefused(TuneForgeError):
    """A path outside the folders the UI may read, or not a usable path."""


def inside(given: str | Path, roots: list[Path], must_exist: bool = True) -> Path:
    """``given`` (relative to the first root, or absolute) resolved with symlinks followed; refused unless it
    lies inside one of ``roots`` (also resolved)."""
    text = str(given).strip()
    if not text or len(text) > MAX_PATH_CHARS or "\x00" in text:
        raise PathRefused("give a path (at most 1000 characters)")
    path = Path(text).expanduser() if text.startswith("~") else Path(text)
    if not path.is_absolute():
        path = roots[0] / path
    resolved = path.resolve()
    allowed = [root.resolve() for root in roots]
    if not any(resolved == root or resolved.is_relative_to(root) for root in allowed):
        raise PathRefused(f"{text}: only files inside {', '.join(str(r) for r in allowed)} can be used here")
    if must_exist and not resolved.exists():
        raise PathRefused(f"{text}: not found")
    return resolved


def stays_in(path: Path, folder: Path | None = None) -> bool:
    """True when ``path`` is a file that resolves (symlinks followed) inside ``folder`` (default: the folder
    it is listed in). A run's report or log that is a symlink to elsewhere counts as missing."""
    try:
        return path.is_file() and path.resolve().is_relative_to((folder or path.parent).resolve())
    except OSError:
        return False


def shown(path: Path, roots: list[Path]) -> str:
    """``path`` as a page shows it and ``inside`` reads it back: relative to the first root when it lies
    there, else absolute."""
    try:
        return str(path.resolve().relative_to(roots[0].resolve()))
    except ValueError:
        return str(path.resolve())


def new_token(nbytes: int = 8) -> str:
    """A random URL-safe name for an upload, a job or a session."""
    return secrets.token_hex(nbytes)


def data_files(root: Path, skip: list[Path], limit: int = 200, depth: int = 3) -> list[str]:
    """Data files under ``root`` (a few levels down; the folders in ``skip``, virtualenvs and git skipped),
    relative to it: the path suggestions of the forms."""
    found: list[str] = []
    root = root.resolve()
    skipped = {p.resolve() for p in skip}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        level = len(here.relative_to(root).parts)
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.startswith(".")
                         and (here / d).resolve() not in skipped) if level < depth else []
        for name in sorted(files):
            if name.lower().endswith(DATA_SUFFIXES):
                found.append(str((here / name).relative_to(root)))
                if len(found) >= limit:
                    return found
    return found
