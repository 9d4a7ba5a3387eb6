"""File operations that an interrupted process (kill -9, power cut of the process) cannot leave half done.

Example:
    >>> atomic_write_text(run_dir / "config.yaml", text)   # old content or new, never a mix
    >>> replace_dir(partial_bundle, run_dir / "bundle")    # the folder appears whole
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to a temporary file beside ``path``, flush it to disk, then rename it over ``path``."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def replace_dir(new: Path, final: Path) -> None:
    """Move the finished folder ``new`` to ``final``, replacing what was there.

    Linux cannot rename a folder over a non-empty one, so the old folder is first renamed aside
    and removed after the swap: at every moment ``final`` is the old folder, absent, or the new one.
    """
    new, final = Path(new), Path(final)
    old = final.parent / f".{final.name}.old-{os.getpid()}"
    if final.exists() or final.is_symlink():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
    os.replace(new, final)
    shutil.rmtree(old, ignore_errors=True)
    remove_leftovers(final)


def remove_leftovers(final: Path) -> None:
    """Remove partial or replaced copies of ``final`` that an interrupted process left beside it."""
    for kind in ("partial", "old"):
        for stale in final.parent.glob(f".{final.name}.{kind}-*"):
            if stale.name != f".{final.name}.{kind}-{os.getpid()}":
                shutil.rmtree(stale, ignore_errors=True)


def remove_stale(folder: Path) -> None:
    """Remove what killed processes left in ``folder``: folders renamed aside for deletion
    (``.NAME.removing-PID``) and temporary files of atomic writes (``.NAME.tmp-PID``)."""
    mine = str(os.getpid())
    for stale in list(folder.glob(".*.removing-*")) + list(folder.glob(".*.tmp-*")):
        if stale.name.rsplit("-", 1)[-1] == mine:
            continue
        if stale.is_dir() and not stale.is_symlink():
            shutil.rmtree(stale, ignore_errors=True)
        else:
            stale.unlink(missing_ok=True)


def normalise_modes(root: Path) -> None:
    """Give every file and folder below ``root`` the modes the umask allows (safetensors writes 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o777 & ~umask)
        for name in files:
            os.chmod(os.path.join(folder, name), 0o666 & ~umask)
    os.chmod(root, 0o777 & ~umask)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
