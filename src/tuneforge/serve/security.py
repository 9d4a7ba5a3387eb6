"""API keys (read from a file, compared in constant time, required off loopback) and the checks that
stop other web sites from using a server on the user's machine: Host names and Origins."""

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
    odd = [i for i, key in enumerate(keys, 1) if not (key.isascii() and key.isprintable() and " " not in key)]
    if odd:
        raise ConfigError(f"{path}: keys must be printable ASCII without spaces (key {odd[0]}); an HTTP header "
                          "could never carry it")
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


LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


def allowed_host_names(bind_host: str, extra: list[str]) -> set[str] | None:
    """Host names the server answers for (None: any).

    On loopback: the loopback names, so that a web page whose DNS name was rebound to 127.0.0.1
    (``Host: evil.example``) is refused. On a wildcard address: any, unless names are given. On one
    address: that address and the names given.
    """
    extra_names = {name.strip().lower().strip("[]") for name in extra if name.strip()}
    if is_loopback(bind_host):
        return LOOPBACK_NAMES | {bind_host.lower()} | extra_names
    if bind_host in ("0.0.0.0", "::", ""):
        return (extra_names | LOOPBACK_NAMES) if extra_names else None
    return {bind_host.lower().strip("[]")} | extra_names


def _host_name(header: str) -> str:
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_allowed(header: str | None, allowed: set[str] | None) -> bool:
    """True when the request's Host header names this server (a missing header is allowed)."""
    if allowed is None or header is None:
        return True
    name = _host_name(header)
    return name in allowed or (name.startswith("127.") and "127.0.0.1" in allowed and is_loopback(name))


def origin_allowed(origin: str | None, host: str | None, cors_origins: list[str]) -> bool:
    """True for requests without an Origin (not from a browser page), from the server's own pages
    (the /docs page), or from an origin given with ``--cors-origin``."""
    if origin is None:
        return True
    if origin in cors_origins:
        return True
    return host is not None and origin.lower() in (f"http://{host.lower()}", f"https://{host.lower()}")
