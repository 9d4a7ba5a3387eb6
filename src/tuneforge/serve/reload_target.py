"""What ``/v1/admin/reload`` may load: a bundle folder under ``--bundle-root``, or a version a model
registry names (``registry://NAME@STAGE|VERSION``, verified) when the server has ``--registry``."""

from __future__ import annotations

from pathlib import Path


def _inside(path: str, root: str) -> Path | None:
    """``path`` resolved (symlinks followed), if it lies inside ``root``; else None."""
    try:
        resolved, base = Path(path).resolve(), Path(root).resolve()
    except (OSError, RuntimeError, ValueError):
        return None
    return resolved if base in resolved.parents else None


def reload_target(bundle: str, settings) -> tuple[Path, str] | tuple[int, str]:
    """(bundle folder, how to name it in the answer), or (status, message) for the error response."""
    from ..errors import TuneForgeError
    from ..model_registry import SCHEME
    from ..registry_access import open_registry

    if bundle.startswith(SCHEME):
        if settings.registry is None and settings.mlflow is None:
            return 403, "registry reload is off: start the server with --registry FOLDER (or --mlflow URI)"
        try:
            return open_registry(settings.registry, settings.mlflow).resolve(bundle), bundle
        except TuneForgeError as exc:
            hidden = str(Path(settings.registry).resolve()) if settings.registry else settings.mlflow
            return 422, f"kept the current model: {str(exc).replace(hidden, '')}"
    if settings.bundle_root is None:
        return 403, "reload is off: start the server with --bundle-root FOLDER to allow it"
    path = _inside(bundle, settings.bundle_root)
    if path is None:  # the same answer whether or not the path exists
        return 403, "the bundle must be a folder under the server's bundle root"
    return path, path.relative_to(Path(settings.bundle_root).resolve()).as_posix()
