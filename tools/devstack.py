"""``python -m tools.devstack`` (``make run``): the whole stack locally, in the foreground.

Starts a private Redis (unless ``REDIS_URL`` is set), the API and the gateway under honcho,
with embedded defaults: drones in ``var/db``, a development JWT secret in ``var/`` and one
token per role in ``var/dev-tokens.json``. Ctrl-C stops everything it started.
"""

from __future__ import annotations

import os
import sys

from shared.auth import write_dev_tokens
from shared.settings import Settings
from tools.devredis import DEV_REDIS_PORT


def main() -> None:
    env = dict(os.environ)
    processes = ["api", "gateway"]
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = f"redis://127.0.0.1:{DEV_REDIS_PORT}/0"
        processes.insert(0, "redis")
    settings = Settings.from_env(env)
    if settings.is_production:
        sys.exit("make run is the development stack: unset APP_ENV=production")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    tokens = write_dev_tokens(settings)
    api = f"http://{settings.api_host}:{settings.api_port}"
    gateway = f"http://{settings.gateway_host}:{settings.gateway_port}"
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
                f"  Redis          {env['REDIS_URL']}"
                + ("  (private, files in var/redis)" if "redis" in processes else ""),
                f"  Storage        {settings.mongodb_uri or 'embedded store in var/db'}",
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


if __name__ == "__main__":
    main()
