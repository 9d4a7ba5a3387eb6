"""A tiny name -> object registry used for tasks and adaptation methods."""

from __future__ import annotations

from difflib import get_close_matches
from typing import Callable, Generic, TypeVar

from .errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects; entries register themselves where they are defined.

    Example:
        >>> METHODS = Registry("method")
        >>> @METHODS.register("full")
        ... class Full: ...
        >>> METHODS.get("full") is Full
        True
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that stores the decorated object under ``name``."""

        def decorator(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = obj
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (a plugin unloaded, or a test's temporary entry)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """Return the entry called ``name`` or fail naming the valid ones."""
        if not isinstance(name, str):
            raise ConfigError(f"a {self.kind} is named by a string, not {type(name).__name__} {str(name)[:40]!r}; "
                              f"valid: {', '.join(self.names())}")
        try:
            return self._entries[name]
        except KeyError:
            hint = get_close_matches(name, self._entries, n=1)
            suggestion = f" (did you mean {hint[0]!r}?)" if hint else ""
            raise ConfigError(
                f"unknown {self.kind} {name!r}{suggestion}; valid: {', '.join(self.names())}"
            ) from None

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries
