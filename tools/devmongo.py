"""``python -m tools.devmongo``: the development and test MongoDB server (SecantusDB).

A single-node server that speaks the MongoDB wire protocol over WiredTiger, so the API
reaches it through pymongo exactly as it reaches a production ``mongod``. It is a separate
process on purpose: SecantusDB is GPL-2.0 and a development/test tool, installed by the
``devserver`` extra and never in the production image (see docs/deployment.md).

``make run`` starts it on ``DEV_MONGO_PORT`` with its files in ``VAR_DIR/mongo`` (reopened
intact on the next start); the tests start one on a free port in a temporary folder, with
``--test-commands`` so that they can arm fail points (``configureFailPoint``).
SIGINT/SIGTERM stop it cleanly (WiredTiger checkpoints its files).
"""

from __future__ import annotations

import argparse
import signal
import threading

from shared.settings import Settings


def main(argv: list[str] | None = None) -> int:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(prog="python -m tools.devmongo")
    parser.add_argument("--port", type=int, default=settings.dev_mongo_port)
    parser.add_argument("--storage-path", default=str(settings.var_dir / "mongo"))
    parser.add_argument(
        "--test-commands",
        action="store_true",
        help="accept configureFailPoint (tests only: any client could make the server fail)",
    )
    args = parser.parse_args(argv)

    # Imported here, not at the top: the module must import without the devserver extra.
    from secantus import SecantusDBServer

    # The class, not the ``secantusd-py`` command: that one also reads a secantusd.toml
    # from the working directory or the home directory, which would make runs differ.
    server = SecantusDBServer(
        host="127.0.0.1",
        port=args.port,
        storage_path=args.storage_path,
        enable_test_commands=args.test_commands,
    )
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    print(f"MongoDB wire-protocol server (SecantusDB) on {server.uri}", flush=True)
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
