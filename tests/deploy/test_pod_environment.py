"""The real services start with exactly the environment a production pod gives them.

The prod overlay's ConfigMap plus each container's env, secrets as files like the mounted
Secret; only addresses (Redis, ports, loopback) and VAR_DIR are swapped for local ones.
"""

import os
import subprocess
import sys

import pytest
import requests

from tests.conftest import TEST_SECRET
from tests.deploy.conftest import REPO
from tests.deploy.test_kubernetes import app_container, config, deployment
from tests.support.redis_server import free_port
from tests.support.waiting import wait_until

TIERS = ("api", "gateway")


@pytest.fixture
def pod_env(rendered, redis_server, mongo_server, tmp_path):
    """``pod_env(tier, jwt_secret)``: the prod pod's environment, made runnable here."""

    def build(tier: str, jwt_secret: str = TEST_SECRET) -> dict[str, str]:
        prod = rendered["prod"]
        secrets_dir = tmp_path / f"{tier}-secrets"
        secrets_dir.mkdir()
        values = {
            "JWT_SECRET": jwt_secret,
            "REDIS_URL": redis_server.url,
            "MONGODB_URI": mongo_server.uri,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB", "REDIS"))}
        env.update(config(prod))
        for item in app_container(prod, tier)["env"]:
            key = item["name"].removesuffix("_FILE")
            (secrets_dir / key).write_text(values[key] + "\n")
            env[item["name"]] = str(secrets_dir / key)
        env.update(
            API_HOST="127.0.0.1",
            GATEWAY_HOST="127.0.0.1",
            API_PORT=str(free_port()),
            GATEWAY_PORT=str(free_port()),
            VAR_DIR=str(tmp_path / f"{tier}-var"),
            EVENTS_KEY_PREFIX=tmp_path.name,
            MONGODB_DB=tmp_path.name,
        )
        return env

    return build


@pytest.fixture
def launch(tmp_path, rendered):
    """``launch(tier, env)``: ``python -m services.<tier>`` as in the pod; stopped after."""
    processes = []
    prod_objects = rendered["prod"]

    def start(tier: str, env: dict[str, str]) -> subprocess.Popen:
        log = open(tmp_path / f"{tier}.log", "wb")  # noqa: SIM115 - owned by the child
        command = [sys.executable, *app_container(prod_objects, tier)["command"][1:]]
        proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        processes.append(proc)
        return proc

    yield start
    for proc in processes:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def url(env, tier, path):
    return f"http://127.0.0.1:{env[f'{tier.upper()}_PORT']}{path}"


@pytest.mark.parametrize("tier", TIERS)
def test_tier_becomes_ready_with_the_pod_environment(tier, pod_env, launch):
    env = pod_env(tier)
    proc = launch(tier, env)

    def ready():
        assert proc.poll() is None, "the service exited"
        return requests.get(url(env, tier, "/readyz"), timeout=2).status_code == 200

    wait_until(ready, timeout=60, message=f"{tier} /readyz")
    check = subprocess.run(
        [sys.executable, str(REPO / "deploy/docker/healthcheck.py")],
        env={**env, "HEALTHCHECK_PORT": ""},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert check.returncode == 0, check.stdout


@pytest.mark.parametrize("tier", TIERS)
def test_tier_exits_on_sigterm_within_the_pod_grace_period(tier, pod_env, launch, rendered):
    env = pod_env(tier)
    proc = launch(tier, env)
    wait_until(
        lambda: requests.get(url(env, tier, "/healthz"), timeout=2).ok,
        timeout=60,
        message=f"{tier} /healthz",
    )
    grace = deployment(rendered["prod"], tier)["spec"]["template"]["spec"]
    proc.terminate()
    assert proc.wait(timeout=grace["terminationGracePeriodSeconds"]) == 0


@pytest.mark.parametrize("tier", TIERS)
def test_tier_refuses_the_secret_template_placeholder(tier, pod_env, launch, tmp_path):
    import yaml

    template = yaml.safe_load((REPO / "deploy/base/secret.template.yaml").read_text())
    proc = launch(tier, pod_env(tier, jwt_secret=template["stringData"]["JWT_SECRET"]))
    assert proc.wait(timeout=60) != 0
    assert "JWT_SECRET" in (tmp_path / f"{tier}.log").read_text()
