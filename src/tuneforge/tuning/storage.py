"""Where a search keeps its study (``tuneforge tune --storage``), so that several processes or machines
can share one: any Optuna storage.

- nothing: ``sqlite:///<tune dir>/study.db`` (one machine; several local workers are fine);
- ``sqlite:///PATH``, ``postgresql://USER:PASSWORD@HOST:PORT/DB``, ``mysql+pymysql://...``: Optuna's
  relational storage; trials of a worker that stops answering are failed after a grace period and
  queued again (Optuna's heartbeat);
- ``journal:PATH`` (or a path ending in ``.journal``): Optuna's journal file storage, for a file system
  that several machines share without a database server.
"""

from __future__ import annotations

import os
import socket
import warnings
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ..errors import ConfigError, TuneForgeError

RDB_SCHEMES = ("sqlite", "postgresql", "mysql")
HEARTBEAT_SECONDS = 30
GRACE_SECONDS = 120
DRIVER_HINTS = {"postgresql": "pip install 'tuneforge[distributed]' (psycopg)",
                "mysql": "pip install pymysql and use mysql+pymysql://"}


def default_storage_url(tune_dir: Path) -> str:
    """The study file inside the search folder."""
    return f"sqlite:///{(tune_dir / 'study.db').resolve()}"


def describe(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and result files)."""
    if url.startswith("journal:"):
        return url
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def normalise(url: str | None, tune_dir: Path) -> str:
    """The storage URL to use: the default file, ``journal:PATH``, or a relational URL (checked)."""
    if not url:
        return default_storage_url(tune_dir)
    if url.startswith("journal:") or url.endswith(".journal"):
        path = Path(url.removeprefix("journal:")).expanduser()
        if not path.parent.is_dir():
            raise ConfigError(f"--storage {url}: the folder {path.parent} does not exist")
        return f"journal:{path.resolve()}"
    scheme = urlsplit(url).scheme.split("+")[0]
    if scheme not in RDB_SCHEMES:
        raise ConfigError(f"--storage {describe(url)}: give sqlite:///PATH, postgresql://USER@HOST/DB, "
                          "mysql+pymysql://USER@HOST/DB or journal:PATH")
    return url


def open_storage(url: str):
    """An Optuna storage for a normalised ``url``; the relational ones with heartbeats, so that a trial
    whose worker died is failed and run again by another worker."""
    import optuna

    if url.startswith("journal:"):
        from optuna.storages.journal import JournalFileBackend, JournalStorage

        return JournalStorage(JournalFileBackend(url.removeprefix("journal:")))
    scheme = urlsplit(url).scheme.split("+")[0]
    engine = {"connect_args": {"timeout": 60}} if scheme == "sqlite" else {"pool_pre_ping": True}
    try:
        with warnings.catch_warnings():  # heartbeats are marked experimental since Optuna 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_SECONDS, grace_period=GRACE_SECONDS,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1))
    except ImportError as exc:  # Optuna wraps the driver's ModuleNotFoundError
        missing = getattr(exc.__cause__, "name", None) or getattr(exc, "name", None) or "driver"
        raise TuneForgeError(f"--storage {describe(url)} needs the database driver {missing!r}: "
                             f"{DRIVER_HINTS.get(scheme, 'pip install it')}") from None
    except Exception as exc:  # sqlalchemy.exc.OperationalError and friends: server down, wrong password
        if type(exc).__module__.startswith("sqlalchemy"):
            first = str(exc).strip().splitlines()[0]
            raise TuneForgeError(f"--storage {describe(url)}: cannot open the database ({first})") from None
        raise


def worker_id() -> str:
    """``host:pid`` of this process, recorded on each trial it runs."""
    return f"{socket.gethostname()}:{os.getpid()}"


def worker_is_gone(worker: str | None) -> bool:
    """True when ``worker`` is missing (a trial started outside a worker) or is a process on this host
    that no longer runs; workers on other hosts are left to the storage's heartbeat."""
    if not worker:
        return True
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():  # this process is starting a search: none of its trials is running
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
