"""TuneForge's local cache folders: ``$TUNEFORGE_HOME/<name>``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``)
``/tuneforge/<name>``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir(name: str) -> Path:
    """The cache folder ``name`` (``models``, ``backend-choices``, ``precision``); not created here."""
    home = os.environ.get("TUNEFORGE_HOME")
    if home:
        return Path(home).expanduser() / name
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base).expanduser() / "tuneforge" / name
