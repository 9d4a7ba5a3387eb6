"""Errors that reach the user as one clear line instead of a traceback."""

from __future__ import annotations


class TuneForgeError(Exception):
    """A problem the user can fix (bad config, bad data, bad bundle).

    The CLI prints ``error: <message>`` and exits with status 2.

    Example:
        >>> raise TuneForgeError("train.csv line 4: empty text in column 'text'")
    """

    exit_code = 2


class DataError(TuneForgeError):
    """A data file is missing, unreadable or inconsistent."""


class ConfigError(TuneForgeError):
    """The run configuration is invalid."""


class BundleError(TuneForgeError):
    """A model bundle is missing files, altered, or of an unknown format."""
