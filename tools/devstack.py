"""``python -m tools.devstack`` (``make run``): the whole stack locally, in the foreground.

Starts, under honcho, a private Redis (unless ``REDIS_URL`` is set) and a private MongoDB
wire-protocol server (SecantusDB, ``tools/devmongo.py``; unless ``MONGODB_URI`` is set),
both with their files under ``VAR_DIR`` and reopened intact on the next start, then the
API and the gateway. Also a development JWT secret in ``var/`` and one token per role in
``var/dev-tokens.json``. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import re
import sys

from shared.auth import write_dev_tokens
from shared.settings import Settings


def main() -> None:
    env = dict(os.environ)
    defaults = Settings.from_env(env)
    processes = ["api", "gateway"]
    if not env.get("MONGODB_URI") and not env.get("MONGODB_URI_FILE"):
        env["MONGODB_URI"] = f"mongodb://127.0.0.1:{defaults.dev_mongo_port}/"
        processes.insert(0, "mongo")
    if not env.get("REDIS_URL") and not env.get("REDIS_URL_FILE"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{defaults.dev_redis_port}/0"
        processes.insert(0, "redis")
    settings = Settings.from_env(env)
    if settings.is_production:
        sys.exit("make run is the development stack: unset APP_ENV=production")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    tokens = write_dev_tokens(settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
    private_mongo = "  (private development server, SecantusDB; files in var/mongo)"
    print(
        "\n".join(
            [
                "",
                "Drone events — local stack",
                f"  API            {api}/api/v1",
                f"  API docs       {api}/api/v1/docs",
                f"  Gateway        {gateway}  (Socket.IO path /ws/events)",
                f"  Dashboard      {gateway}/dashboard  (sign in with a dev token)",
                f"  Test page      {gateway}/",
                f"  Redis          {_without_password(settings.redis_url)}"
                + ("  (private, files in var/redis)" if "redis" in processes else ""),
                f"  MongoDB        {_without_password(settings.mongodb_uri)}"
                + (private_mongo if "mongo" in processes else ""),
                f"  Dev tokens     {tokens}  (one per role; the test page fills them in)",
                "  Ctrl-C stops everything.",
                "",
            ]
        ),
        flush=True,
    )
    env["PYTHONUNBUFFERED"] = "1"
    bin_dir = os.path.dirname(sys.executable)  # the Procfile's "python" is the venv's
    env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
    honcho = os.path.join(bin_dir, "honcho")
    os.execve(honcho, [honcho, "-f", "Procfile", "start", *processes], env)


def _without_password(url: str) -> str:
    """The URL as it may be printed: credentials masked."""
    return re.sub(r"//[^@/]*@", "//***@", url)


if __name__ == "__main__":
    main()
