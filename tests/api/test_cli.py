"""``python -m services.api mint-token`` and ``dev-tokens``."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.auth import TokenVerifier
from tests.support.services import ROOT


def _run(settings, *args):
    env = {**settings.to_env(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "services.api", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_mint_token_prints_a_token_the_api_accepts(settings):
    result = _run(
        settings,
        "mint-token",
        "--role",
        "operator",
        "--drones",
        "A,B",
        "--ttl",
        "60",
        "--subject",
        "ops",
    )
    assert result.returncode == 0, result.stderr
    principal = TokenVerifier(settings).verify(result.stdout.strip())
    assert (principal.subject, principal.role, principal.drones) == ("ops", "operator", {"A", "B"})


def test_mint_token_refuses_unknown_role(settings):
    result = _run(settings, "mint-token", "--role", "root")
    assert result.returncode != 0
    assert "invalid choice" in result.stderr


def test_dev_tokens_writes_one_token_per_role(settings):
    dev = settings.replace(jwt_secret=None)
    result = _run(dev, "dev-tokens")
    assert result.returncode == 0, result.stderr
    path = result.stdout.strip()
    tokens = json.loads(Path(path).read_text())
    verifier = TokenVerifier(dev)
    assert {role: verifier.verify(t).role for role, t in tokens.items()} == {
        r: r for r in ("admin", "operator", "detector", "viewer")
    }


@pytest.mark.parametrize("secret", [None, "short"])
def test_server_refuses_production_without_real_key(settings, secret):
    result = _run(settings.replace(app_env="production", jwt_secret=secret))
    assert result.returncode == 2
    assert "configuration error" in result.stderr
