"""Opens the MongoDB database named by the settings.

- ``mongodb://`` / ``mongodb+srv://``: a MongoDB server through pymongo: a real ``mongod``
  in production, the development server of ``make run`` and of the tests otherwise (a
  MongoDB wire-protocol server, ``tools/devmongo.py``). One client per process, shared by
  every thread: pymongo's pool makes it thread-safe, and the server makes each
  single-document write atomic, so no lock is needed around them.
- ``mongomock://NAME``: mongomock, in memory, one store per NAME in the process. Only for
  the fast unit tests that are about something else than storage (see docs/api.md); never
  in production. mongomock evaluates an update in Python (read, then write), so it is not
  atomic across threads: those tests drive one request at a time with the relay stopped.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from shared.settings import Settings, SettingsError

_MOCK_STORES: dict[str, Any] = {}
_MOCK_STORES_LOCK = threading.Lock()

# How long an operation waits for an unreachable server before it fails (then 503).
SERVER_SELECTION_TIMEOUT_MS = 3000


class Storage:
    """The database of the settings; :meth:`collection` hands out collections."""

    def __init__(self, settings: Settings):
        uri = settings.mongodb_uri
        self.db_name = settings.mongodb_db
        if uri is None:
            raise SettingsError(
                "MONGODB_URI is not set: point it at MongoDB (`make run` starts a development "
                "server and sets it)"
            )
        if uri.startswith("mongomock://"):
            if settings.is_production:
                raise SettingsError("MONGODB_URI: mongomock:// is for tests, not production")
            self.kind = "mongomock"
            self.client = _mongomock_client(uri.removeprefix("mongomock://"))
        elif uri.startswith(("mongodb://", "mongodb+srv://")):
            self.kind = "mongodb"
            import pymongo

            # Lazy: nothing connects until the first operation, so the API starts (and
            # answers /readyz with 503) while the database is down, and recovers by itself.
            self.client = pymongo.MongoClient(
                uri,
                serverSelectionTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                connectTimeoutMS=SERVER_SELECTION_TIMEOUT_MS,
                appname="drones-api",
            )
        else:
            raise SettingsError(
                "MONGODB_URI must start with mongodb://, mongodb+srv:// or mongomock://"
            )

    def database(self):
        return self.client[self.db_name]

    def collection(self, name: str):
        return self.database()[name]

    def ping(self) -> None:
        """Raise if the database does not answer."""
        self.database().command("ping")

    def close(self) -> None:
        if self.kind == "mongomock":
            return  # the in-memory store outlives an app, like a server would
        with contextlib.suppress(Exception):
            self.client.close()


def _mongomock_client(name: str):
    import mongomock
    import mongomock.store

    with _MOCK_STORES_LOCK:
        store = _MOCK_STORES.setdefault(name, mongomock.store.ServerStore())
    return mongomock.MongoClient(_store=store)
