"""Serve a bundle over HTTP (FastAPI + uvicorn): micro-batching, limits, API keys, health, metrics."""

from __future__ import annotations

import os
import signal

from ..errors import ConfigError
from .security import is_loopback

__all__ = ["run"]


def run(settings, workers: int = 1, predictor=None, on_ready=None) -> None:
    """Start the service; refuses a non-loopback host without API keys, and settings that cannot work
    (``on_ready`` is called once they are checked). SIGTERM drains and exits 0.

    Example:
        >>> run(ServeSettings(bundle="runs/demo/bundle", port=8000))
    """
    try:
        import uvicorn

        from .app import SETTINGS_ENV, configure_access_log, create_app, settings_json
    except ImportError:
        raise ConfigError("serving needs fastapi, uvicorn and prometheus-client: pip install 'tuneforge[serve]'") from None
    if not is_loopback(settings.host) and not settings.api_keys:
        raise ConfigError(f"--host {settings.host} is reachable from other machines: give --api-key-file "
                          "(the server never runs unauthenticated off loopback)")
    if workers < 1:
        raise ConfigError("--workers must be at least 1")
    if set(settings.admin_keys) & set(settings.api_keys):
        raise ConfigError("an admin key may not also be an API key: give admin keys a file of their own")
    if settings.bundle_root is not None and not os.path.isdir(settings.bundle_root):
        raise ConfigError(f"--bundle-root {settings.bundle_root}: folder not found")
    if settings.capture is not None and os.path.exists(settings.capture) and not os.path.isdir(settings.capture):
        raise ConfigError(f"--capture {settings.capture}: not a folder")
    if settings.canary is not None:  # a wrong candidate fails here, in one line, not at start-up
        from ..bundle import read_manifest
        from .canary import check_candidate

        check_candidate(read_manifest(settings.bundle, verify=False), read_manifest(settings.canary))
    if on_ready is not None:
        on_ready()
    configure_access_log()
    options = dict(host=settings.host, port=settings.port, log_level="warning", access_log=False,
                   timeout_graceful_shutdown=int(settings.drain_timeout_s))
    if workers == 1:
        app = create_app(settings, predictor)

        class DrainingServer(uvicorn.Server):
            """SIGTERM: turn unready, stop accepting, finish requests in flight, exit 0 (uvicorn alone
            re-raises the signal after draining, which ends the process with -15)."""

            def handle_exit(self, sig, frame):
                app.state.engine.draining = True  # /readyz turns 503; requests that arrive are still answered
                if sig == signal.SIGTERM:
                    self.should_exit = True
                else:
                    super().handle_exit(sig, frame)

        DrainingServer(uvicorn.Config(app, **options)).run()
    else:
        os.environ[SETTINGS_ENV] = settings_json(settings)
        uvicorn.run("tuneforge.serve.app:create_app_from_env", factory=True, workers=workers, **options)
