"""API keys: read from a file, compared in constant time; required off loopback."""

from __future__ import annotations

import hmac
import ipaddress
from pathlib import Path

from ..errors import ConfigError


def read_api_keys(path: str | Path) -> list[str]:
    """Keys from a file, one per line (blank lines and ``#`` comments ignored).

    Example:
        >>> read_api_keys("keys.txt")
        ['k-3f9a...']
    """
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the API key file ({exc})") from None
    keys = [line.strip() for line in lines if line.strip() and not line.strip().startswith("#")]
    if not keys:
        raise ConfigError(f"{path}: the API key file holds no key")
    short = [i for i, key in enumerate(keys, 1) if len(key) < 16]
    if short:
        raise ConfigError(f"{path}: keys must be at least 16 characters (line {short[0]})")
    return keys


def authorized(header: str | None, keys: list[str]) -> bool:
    """True when ``Authorization: Bearer <key>`` names one of ``keys`` (constant-time comparison)."""
    if not header or not header.startswith("Bearer "):
        return False
    given = header[len("Bearer "):].strip().encode()
    found = False
    for key in keys:  # compare with every key, so timing does not tell which one matched
        found |= hmac.compare_digest(given, key.encode())
    return found


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and ``localhost``."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
