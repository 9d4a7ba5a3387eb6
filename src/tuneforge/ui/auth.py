"""Who may use the web interface, and from where: API keys (the same file and rules as ``tuneforge serve``),
a login that trades a key for a session cookie, and the Host and Origin checks that stop other web sites
(cross-site requests, DNS rebinding) from driving a UI running on the user's machine.

Example:
    >>> guard = Guard(host="127.0.0.1", api_keys=[])
    >>> guard.request_problem("GET", {"host": "evil.example"}, None)
    (421, 'this server does not answer for that Host name')
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..serve.security import (
    allowed_host_names,
    authorized,
    host_allowed,
    is_loopback,
    origin_allowed,
)
from .paths import new_token

COOKIE = "tuneforge_ui"
SESSION_SECONDS = 12 * 3600
MAX_SESSIONS = 1000
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}
LOGIN_FAILURES = 10  # wrong keys from one address within LOGIN_WINDOW seconds before it must wait
LOGIN_WINDOW = 300.0


def check_startup(host: str, api_keys: list[str]) -> None:
    """Refuse to listen off loopback without API keys (as ``tuneforge serve`` does)."""
    if not is_loopback(host) and not api_keys:
        raise ConfigError(f"--host {host} is not loopback: give --api-key-file (keys, one per line, at least 16 "
                          "characters), or keep the default 127.0.0.1")


@dataclass
class Guard:
    """The checks every request passes; sessions are random tokens kept here, in memory."""

    host: str
    api_keys: list[str]
    allowed_hosts: list[str] = field(default_factory=list)
    sessions: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    failures: dict[str, list[float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.hosts = allowed_host_names(self.host, self.allowed_hosts)

    @property
    def needs_login(self) -> bool:
        """True when keys are configured: every page but the login page needs a session or a key."""
        return bool(self.api_keys)

    def request_problem(self, method: str, headers: dict[str, str], path: str | None) -> tuple[int, str] | None:
        """(status, message) when the request is refused before any page sees it: a Host name this server is
        not bound to (421), or a state-changing request from another web origin (403)."""
        if not host_allowed(headers.get("host"), self.hosts):
            return 421, "this server does not answer for that Host name"
        if headers.get("sec-fetch-site") == "cross-site":  # another web site's page asking the browser for this
            return 403, "requests from other web sites are refused: open the interface directly"
        if method in STATE_CHANGING and not origin_allowed(headers.get("origin"), headers.get("host"), []):
            return 403, "requests from other web sites are refused"
        return None

    def failed_login(self, client: str) -> None:
        """Count a wrong key from ``client``."""
        now = time.monotonic()
        with self.lock:
            recent = [t for t in self.failures.get(client, []) if now - t < LOGIN_WINDOW]
            self.failures[client] = recent + [now]
            if len(self.failures) > MAX_SESSIONS:  # bounded: forget the oldest address
                self.failures.pop(next(iter(self.failures)))

    def locked_out(self, client: str) -> bool:
        """True after LOGIN_FAILURES wrong keys from ``client`` within the last LOGIN_WINDOW seconds."""
        now = time.monotonic()
        with self.lock:
            return sum(1 for t in self.failures.get(client, []) if now - t < LOGIN_WINDOW) >= LOGIN_FAILURES

    def key_ok(self, key: str) -> bool:
        """Whether ``key`` is one of the API keys (constant-time comparison, like the server's)."""
        return bool(key) and key.isascii() and authorized(f"Bearer {key}", self.api_keys)

    def signed_in(self, cookie: str | None, authorization: str | None) -> bool:
        """A live session cookie or an ``Authorization: Bearer <key>`` header; always True without keys."""
        if not self.needs_login:
            return True
        if authorization and authorized(authorization, self.api_keys):
            return True
        if not cookie:
            return False
        with self.lock:
            expires = self.sessions.get(cookie)
            if expires is None:
                return False
            if expires < time.time():
                del self.sessions[cookie]
                return False
            return True

    def new_session(self) -> str:
        """Start a session; its token goes into an HttpOnly, SameSite=Strict cookie."""
        token = new_token(32)
        now = time.time()
        with self.lock:
            for old in [t for t, e in self.sessions.items() if e < now]:
                del self.sessions[old]
            while len(self.sessions) >= MAX_SESSIONS:  # the oldest go first
                del self.sessions[min(self.sessions, key=self.sessions.get)]
            self.sessions[token] = now + SESSION_SECONDS
        return token

    def end_session(self, cookie: str | None) -> None:
        """Sign out: the token is forgotten."""
        with self.lock:
            self.sessions.pop(cookie or "", None)
