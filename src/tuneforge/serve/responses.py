"""The one shape of an error answer of the TuneForge routes: ``{"error": message}`` with its status."""

from __future__ import annotations


def error_response(status: int, message: str, headers: dict[str, str] | None = None):
    """A JSON error response (``{"error": message}``) with ``status`` and optional headers."""
    from fastapi.responses import JSONResponse

    return JSONResponse({"error": message}, status_code=status, headers=headers)
