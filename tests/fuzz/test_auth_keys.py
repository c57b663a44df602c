"""Tokens signed with private keys: RS256 and ES256 checked with a public key or a JWKS file,
through the real API app. Forgeries (another key, an unknown ``kid``, HS256 signed with the
public key, ``alg: none``) get 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from services.api import create_app
from shared.auth import TokenVerifier, mint_token
from shared.settings import SettingsError

BASE = "/api/v1/drones"


def _private_pem(key) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _public_pem(key) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


@pytest.fixture(scope="module")
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def other_rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _sign(key, algorithm: str, kid: str | None = None, role: str = "admin") -> str:
    claims = {"sub": "k", "role": role, "drones": "*", "exp": int(time.time()) + 300}
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims, _private_pem(key), algorithm=algorithm, headers=headers)


@pytest.fixture
def api_with(settings):
    """``api_with(**settings)``: a test client of the API built with those key settings."""
    apps = []

    def build(**changes):
        app = create_app(settings.replace(jwt_secret=None, **changes), start_relay=False)
        apps.append(app)
        return app.test_client()

    yield build
    for app in apps:
        app.extensions["shutdown"]()


def _status(client, token: str) -> int:
    return client.get(BASE, headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def jwks_file(tmp_path, rsa_key, ec_key):
    keys = []
    for kid, key, algorithm in ((b"rsa-1", rsa_key, "RS256"), (b"ec-1", ec_key, "ES256")):
        jwk = json.loads(jwt.get_algorithm_by_name(algorithm).to_jwk(key.public_key()))
        keys.append({**jwk, "kid": kid.decode(), "alg": algorithm, "use": "sig"})
    path = tmp_path / "jwks.json"
    path.write_text(json.dumps({"keys": keys}))
    return path


def test_rs256_token_is_verified_with_the_public_key(api_with, rsa_key, other_rsa_key):
    client = api_with(jwt_public_key=_public_pem(rsa_key), jwt_algorithms=("RS256",))

    assert _status(client, _sign(rsa_key, "RS256")) == 200
    assert _status(client, _sign(other_rsa_key, "RS256")) == 401


def test_es256_token_is_verified_with_the_public_key(api_with, ec_key):
    client = api_with(jwt_public_key=_public_pem(ec_key), jwt_algorithms=("ES256",))

    assert _status(client, _sign(ec_key, "ES256")) == 200
    assert _status(client, _sign(ec.generate_private_key(ec.SECP256R1()), "ES256")) == 401


def test_jwks_picks_the_key_named_by_kid(api_with, jwks_file, rsa_key, ec_key, other_rsa_key):
    client = api_with(jwt_jwks_file=jwks_file, jwt_algorithms=("RS256", "ES256"))

    assert _status(client, _sign(rsa_key, "RS256", kid="rsa-1")) == 200
    assert _status(client, _sign(ec_key, "ES256", kid="ec-1")) == 200
    assert _status(client, _sign(rsa_key, "RS256", kid="ec-1")) == 401  # wrong key for kid
    assert _status(client, _sign(other_rsa_key, "RS256", kid="rsa-1")) == 401
    assert _status(client, _sign(rsa_key, "RS256", kid="unknown")) == 401


def _hs256_with_public_key(public_pem: str) -> str:
    # The classic algorithm confusion: HMAC keyed with the (public) verification key.
    # PyJWT refuses to make such a token, so it is assembled by hand.
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = {"sub": "x", "role": "admin", "drones": "*", "exp": int(time.time()) + 300}
    payload = b64(json.dumps(claims).encode())
    signature = hmac.new(public_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256)
    return f"{header}.{payload}.{b64(signature.digest())}"


def test_hs256_token_signed_with_the_public_key_is_refused(api_with, rsa_key):
    public = _public_pem(rsa_key)
    client = api_with(jwt_public_key=public, jwt_algorithms=("RS256",))

    assert _status(client, _hs256_with_public_key(public)) == 401


def test_unsigned_token_is_refused_with_a_public_key(api_with, rsa_key):
    client = api_with(jwt_public_key=_public_pem(rsa_key), jwt_algorithms=("RS256",))
    claims = {"sub": "x", "role": "admin", "exp": int(time.time()) + 300}

    assert _status(client, jwt.encode(claims, None, algorithm="none")) == 401


def test_scoped_rs256_token_is_scoped(api_with, rsa_key):
    client = api_with(jwt_public_key=_public_pem(rsa_key), jwt_algorithms=("RS256",))
    token = mint_token(_private_pem(rsa_key), "viewer", "v", drones=["A"], algorithm="RS256")

    response = client.get(f"{BASE}/B", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403


def test_public_key_with_hmac_algorithms_is_refused_at_start(settings, rsa_key):
    misconfigured = settings.replace(jwt_secret=None, jwt_public_key=_public_pem(rsa_key))

    with pytest.raises(SettingsError):
        TokenVerifier(misconfigured)
