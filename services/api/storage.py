"""Opens the MongoDB database named by the settings.

- ``mongodb://`` / ``mongodb+srv://``: a real MongoDB through pymongo.
- ``mongomock://NAME``: mongomock, in memory, one store per NAME in the process (tests).
- unset: the embedded litemongo store (SQLite files) under ``VAR_DIR/db``. It allows ONE
  writing process, so run the API with ``API_WORKERS=1`` on it.

mongomock and litemongo evaluate each update in Python (read, then write), so they are not
atomic across threads: :attr:`Storage.lock` is a process lock the repositories hold around
every operation on those backends, and a no-op on a real MongoDB.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any

from shared.settings import Settings

_MOCK_STORES: dict[str, Any] = {}
_MOCK_STORES_LOCK = threading.Lock()


class ThreadLocalCollection:
    """A collection whose calls go to the calling thread's own client.

    litemongo's SQLite connections may only be used by the thread that opened them, so each
    thread gets its own client (litemongo keeps connections of one file consistent).
    """

    def __init__(self, storage: Storage, name: str):
        self._storage = storage
        self.name = name

    def __getattr__(self, attr: str):
        return getattr(self._storage.database()[self.name], attr)


class Storage:
    """The database of the settings; :meth:`collection` hands out collections."""

    def __init__(self, settings: Settings):
        uri = settings.mongodb_uri
        self.db_name = settings.mongodb_db
        self._clients: list[Any] = []
        self._clients_lock = threading.Lock()
        self._thread_clients: dict[int, Any] = {}
        if uri is None:
            self.kind = "embedded"
            path = settings.var_dir / "db"
            path.mkdir(parents=True, exist_ok=True)
            self._connect: Callable[[], Any] = lambda: _litemongo_client(str(path))
        elif uri.startswith("mongomock://"):
            self.kind = "mongomock"
            client = _mongomock_client(uri.removeprefix("mongomock://"))
            self._connect = lambda: client
        elif uri.startswith(("mongodb://", "mongodb+srv://")):
            self.kind = "mongodb"
            import pymongo

            client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=3000, connectTimeoutMS=3000, appname="drones-api"
            )
            self._connect = lambda: client
        else:
            raise ValueError(
                "MONGODB_URI must start with mongodb://, mongodb+srv:// or mongomock://"
            )
        self.needs_lock = self.kind != "mongodb"
        self.lock: contextlib.AbstractContextManager = (
            threading.RLock() if self.needs_lock else contextlib.nullcontext()
        )

    def database(self):
        """The database, through this thread's client (one shared client unless embedded)."""
        # Keyed on the OS thread, not ``threading.local``: under the gevent worker that is
        # per greenlet (a client per connection, never closed); greenlets share one thread.
        thread = threading.get_native_id()
        client = self._thread_clients.get(thread)
        if client is None:
            client = self._connect()
            with self._clients_lock:
                self._thread_clients[thread] = client
                self._clients.append(client)
        return client[self.db_name]

    def collection(self, name: str):
        """A collection usable from any thread."""
        if self.kind == "embedded":
            return ThreadLocalCollection(self, name)
        return self.database()[name]

    def ping(self) -> None:
        """Raise if the database does not answer."""
        with self.lock:
            self.database().command("ping")

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = self._clients, []
            self._thread_clients.clear()
        if self.kind == "mongomock":
            return  # the in-memory store outlives an app, like a server would
        for client in dict.fromkeys(clients):
            with contextlib.suppress(Exception):
                client.close()


def _litemongo_client(path: str):
    import litemongo

    return litemongo.connect(path)


def _mongomock_client(name: str):
    import mongomock
    import mongomock.store

    with _MOCK_STORES_LOCK:
        store = _MOCK_STORES.setdefault(name, mongomock.store.ServerStore())
    return mongomock.MongoClient(_store=store)
