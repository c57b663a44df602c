"""``python -m services.api``: the production server (gunicorn) and token helpers.

python -m services.api                       # serve (gunicorn, gevent workers)
python -m services.api mint-token --role operator --drones A,B [--ttl 3600] [--subject x]
python -m services.api dev-tokens            # var/dev-tokens.json, one token per role
"""

from __future__ import annotations

if __name__ == "__main__":
    # First of all: gunicorn's gevent workers fork from this process, and a module imported
    # before the standard library is patched keeps its unpatched ssl names (pymongo's TLS
    # to MongoDB would block a worker). gevent's MonkeyPatchWarning names such modules.
    from gevent import monkey

    monkey.patch_all()

# ruff: noqa: E402 - the imports below come after patching

import argparse
import os
import shutil
import sys
from pathlib import Path

from shared.auth import ROLES, mint_token, signing_secret, write_dev_tokens
from shared.logs import configure_logging
from shared.settings import Settings, SettingsError

# prometheus-client's own variable: where its multiprocess mode keeps every worker's samples.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def serve(settings: Settings) -> None:
    from gunicorn.app.base import BaseApplication
    from gunicorn.glogging import Logger

    from services.api.worker import (
        MAX_HEADER_FIELD_BYTES,
        MAX_HEADER_FIELDS,
        MAX_REQUEST_LINE_BYTES,
    )

    class JsonGunicornLogger(Logger):
        """gunicorn's own lines go through the JSON root handler; no access log (the app
        writes one JSON line per request, with its request id)."""

        def setup(self, cfg):
            self.cfg = cfg
            for logger in (self.error_log, self.access_log):
                logger.handlers[:] = []
                logger.propagate = True
            self.error_log.setLevel(cfg.loglevel.upper())

        def access(self, resp, req, environ, request_time):
            return None

    from shared.auth import check_keys

    check_keys(settings)  # fail in the master with one line, before forking workers
    metrics_dir = _share_metrics_between_workers(settings) if settings.api_workers > 1 else None

    class Server(BaseApplication):
        def load_config(self):
            options = {
                "bind": f"{settings.api_host}:{settings.api_port}",
                "workers": settings.api_workers,
                # gevent: a slow or idle socket holds a greenlet, not a thread (worker.py).
                "worker_class": "services.api.worker.ApiWorker",
                "worker_connections": settings.api_worker_connections,
                "graceful_timeout": settings.shutdown_grace_seconds,
                "timeout": 60,
                # The gevent worker's deadline for a request's line and headers, from the
                # connection or the previous request; also how long an idle one is kept.
                "keepalive": settings.api_header_timeout_seconds,
                "limit_request_line": MAX_REQUEST_LINE_BYTES,
                "limit_request_fields": MAX_HEADER_FIELDS,
                "limit_request_field_size": MAX_HEADER_FIELD_BYTES,
                "loglevel": settings.log_level.lower(),
                "logger_class": JsonGunicornLogger,
                "control_socket_disable": True,  # one fixed path would clash between instances
                "preload_app": False,  # each worker builds its own app and connections
                "worker_exit": _worker_exit,
                "child_exit": _child_exit,
                "on_exit": lambda server: _remove_metrics_dir(metrics_dir),
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self):
            from services.api import create_app

            return create_app(settings)

    Server().run()


def _share_metrics_between_workers(settings: Settings) -> Path:
    """An empty directory for prometheus-client's multiprocess mode (see
    ``services.api.metrics``). Set here, in gunicorn's master: the workers fork from it and
    import prometheus-client with the app, which picks the mode at import.

    One per port under ``VAR_DIR``, emptied at start: a server that was killed leaves its
    files (a few MB) for the next start to remove, not to add up or to count again.
    """
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the workers' metrics mode")
    path = settings.var_dir / f"metrics-{settings.api_port}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROCESS_DIR] = str(path)
    return path


def _remove_metrics_dir(path: Path | None) -> None:
    # From gunicorn's on_exit, in the master: a worker's exit unwinds through serve() too,
    # so a ``finally`` there would remove the directory under the other workers.
    if path:
        shutil.rmtree(path, ignore_errors=True)


def _child_exit(server, worker) -> None:
    # A worker's gauges leave the sum when it goes; its counters stay (they only grow).
    if MULTIPROCESS_DIR in os.environ:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def _worker_exit(server, worker) -> None:
    # In-flight requests are done; publish what the outbox still holds before exiting.
    app = getattr(worker, "wsgi", None)
    shutdown = getattr(app, "extensions", {}).get("shutdown")
    if shutdown:
        shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.api")
    sub = parser.add_subparsers(dest="command")
    mint = sub.add_parser("mint-token", help="print a bearer token signed with the configured key")
    mint.add_argument("--role", required=True, choices=ROLES)
    mint.add_argument("--drones", default="*", help="comma-separated serials, or * (default)")
    mint.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    mint.add_argument("--subject", default=None, help="token subject (default: cli-<role>)")
    sub.add_parser("dev-tokens", help="write var/dev-tokens.json (development only)")
    args = parser.parse_args(argv)

    try:
        settings = Settings.from_env()
        configure_logging("api", settings.log_level)
        if args.command == "mint-token":
            secret = signing_secret(settings)
            if secret is None:
                raise SettingsError("minting needs an HS secret (JWT_SECRET)")
            drones = (
                "*"
                if args.drones.strip() == "*"
                else [d.strip() for d in args.drones.split(",") if d.strip()]
            )
            if args.ttl < 1:
                raise SettingsError("--ttl must be positive")
            print(
                mint_token(secret, args.role, args.subject or f"cli-{args.role}", drones, args.ttl)
            )
        elif args.command == "dev-tokens":
            print(write_dev_tokens(settings))
        else:
            serve(settings)
    except SettingsError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
