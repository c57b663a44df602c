"""Defect 10 (keys): production accepted "a"*32 as a JWT secret, and a public key with HS256
made gunicorn exit 3 with a worker's traceback. Both must exit 2 with one clear line.

No healthy client here: these processes must refuse to serve at all."""

from __future__ import annotations

import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.redis_server import free_port
from tests.support.services import ROOT


def _public_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


WEAK_SECRETS = {
    "one_char": "a" * 32,
    "two_chars": "ab" * 24,
    "digits_repeated": "0123456789" * 4,
}


def _run(settings) -> subprocess.CompletedProcess:
    # A port of its own: a server that wrongly starts must not take one the machine uses.
    env = {**settings.replace(api_port=free_port()).to_env(), "PATH": "/usr/bin:/bin"}
    try:
        return subprocess.run(
            [sys.executable, "-m", "services.api"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=30,  # a server that starts serving instead of refusing is a failure
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"the API started instead of refusing: {exc.stderr!r}"[:2000])


@pytest.mark.parametrize("secret", WEAK_SECRETS.values(), ids=WEAK_SECRETS)
def test_production_refuses_a_secret_without_entropy(attack_settings, secret):
    result = _run(attack_settings.replace(jwt_secret=secret))

    assert result.returncode == 2, result.stderr[-2000:]
    assert "configuration error: JWT_SECRET" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_public_key_with_hs256_exits_2_with_one_clear_line(attack_settings):
    settings = attack_settings.replace(
        jwt_secret=None, jwt_public_key=_public_pem(), jwt_algorithms=("HS256",)
    )

    result = _run(settings)

    assert result.returncode == 2, result.stderr[-2000:]
    assert "configuration error: JWT_ALGORITHMS" in result.stderr
    assert "Traceback" not in result.stderr
