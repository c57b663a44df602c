"""Every route needs a valid token with the right role, on drones the token covers."""

import time

import jwt
import pytest

from shared.auth import AuthError, TokenVerifier, mint_token
from tests.conftest import TEST_SECRET

BASE = "/api/v1/drones"
INCIDENT = {"type": "x", "confidence": 0.5}

# (method, path, json body, expected success status, roles allowed)
ROUTES = {
    "register": (
        "post",
        f"{BASE}/register",
        {"deviceSerialNumber": "NEW", "deviceName": "n"},
        201,
        {"admin", "operator"},
    ),
    "list": ("get", BASE, None, 200, {"admin", "operator", "detector", "viewer"}),
    "get": ("get", f"{BASE}/AUTH", None, 200, {"admin", "operator", "detector", "viewer"}),
    "patch": ("patch", f"{BASE}/AUTH", {"deviceName": "z"}, 200, {"admin", "operator"}),
    "delete": ("delete", f"{BASE}/AUTH", None, 204, {"admin"}),
    "put_stream": ("put", f"{BASE}/AUTH/stream", {"streamIsOn": True}, 200, {"admin", "operator"}),
    "toggle_stream": ("post", f"{BASE}/AUTH/stream/toggle", None, 200, {"admin", "operator"}),
    "put_ai": ("put", f"{BASE}/AUTH/ai-detection", {"enabled": True}, 200, {"admin", "operator"}),
    "toggle_ai": ("post", f"{BASE}/AUTH/ai-detection/toggle", None, 200, {"admin", "operator"}),
    "put_classes": (
        "put",
        f"{BASE}/AUTH/detection-classes",
        {"detectionClasses": ["a"]},
        200,
        {"admin", "operator"},
    ),
    "report_incident": (
        "post",
        f"{BASE}/AUTH/incidents",
        INCIDENT,
        201,
        {"admin", "operator", "detector"},
    ),
    "list_incidents": (
        "get",
        f"{BASE}/AUTH/incidents",
        None,
        200,
        {"admin", "operator", "detector", "viewer"},
    ),
    "broadcast": (
        "post",
        "/api/v1/system/broadcast",
        {"message": "m", "level": "info"},
        202,
        {"admin"},
    ),
}
ROLES = ("admin", "operator", "detector", "viewer")
MATRIX = [pytest.param(name, role, id=f"{name}-{role}") for name in ROUTES for role in ROLES]


@pytest.mark.parametrize(("name", "role"), MATRIX)
def test_role_matrix(api, register, name, role):
    register("AUTH")
    method, path, body, success, allowed = ROUTES[name]
    response = api(method, path, role=role, json=body)
    expected = success if role in allowed else 403
    assert response.status_code == expected, response.json
    if expected == 403:
        assert response.json["error"]["code"] == "forbidden"


@pytest.mark.parametrize("name", ROUTES)
def test_every_route_needs_a_token(client, name):
    method, path, body, _, _ = ROUTES[name]
    response = client.open(path, method=method.upper(), json=body)
    assert response.status_code == 401
    assert response.json["error"]["code"] == "unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def _get(client, token):
    return client.get(BASE, headers={"Authorization": f"Bearer {token}"})


def test_expired_token_is_401(client):
    token = mint_token(TEST_SECRET, "admin", "old", ttl_seconds=-10)
    response = _get(client, token)
    assert (response.status_code, response.json["error"]["message"]) == (401, "token expired")


def test_forged_token_is_401(client):
    token = mint_token("another-secret-" + "x" * 30, "admin", "forger")
    assert _get(client, token).status_code == 401


def test_alg_none_token_is_401(client):
    claims = {"sub": "x", "role": "admin", "drones": "*", "exp": int(time.time()) + 60}
    token = jwt.encode(claims, key=None, algorithm="none")
    assert _get(client, token).status_code == 401


def test_unknown_role_is_401(client):
    claims = {"sub": "x", "role": "root", "exp": int(time.time()) + 60}
    assert _get(client, jwt.encode(claims, TEST_SECRET, algorithm="HS256")).status_code == 401


def test_non_bearer_scheme_is_401(client, tokens):
    response = client.get(BASE, headers={"Authorization": f"Basic {tokens['admin']}"})
    assert response.status_code == 401


def test_scoped_token_cannot_touch_other_drones(client, register, scoped_token):
    register("MINE")
    register("OTHER")
    headers = scoped_token("operator", ["MINE"])
    assert client.post(f"{BASE}/MINE/stream/toggle", headers=headers).status_code == 200
    response = client.post(f"{BASE}/OTHER/stream/toggle", headers=headers)
    assert response.status_code == 403
    assert client.get(f"{BASE}/OTHER", headers=headers).status_code == 403


def test_scoped_token_cannot_register_outside_its_drones(client, scoped_token):
    body = {"deviceSerialNumber": "ELSE", "deviceName": "e"}
    response = client.post(
        f"{BASE}/register", json=body, headers=scoped_token("operator", ["MINE"])
    )
    assert response.status_code == 403


def test_list_shows_only_the_tokens_drones(client, register, scoped_token):
    for serial in ("A", "B", "C"):
        register(serial)
    response = client.get(BASE, headers=scoped_token("viewer", ["A", "C", "ZZ"]))
    assert [d["deviceSerialNumber"] for d in response.json] == ["A", "C"]


def test_detector_reports_incidents_only_on_its_drones(client, register, scoped_token):
    register("CAM")
    register("NOT")
    headers = scoped_token("detector", ["CAM"])
    assert client.post(f"{BASE}/CAM/incidents", json=INCIDENT, headers=headers).status_code == 201
    assert client.post(f"{BASE}/NOT/incidents", json=INCIDENT, headers=headers).status_code == 403


def test_refused_request_publishes_nothing(client, register, events, auth_headers):
    register("RF")
    before = events()
    client.delete(f"{BASE}/RF", headers=auth_headers("operator"))
    assert events() == before


def test_public_routes_need_no_token(client):
    for path in ("/healthz", "/readyz", "/metrics", "/api/v1/openapi.json", "/api/v1/docs"):
        assert client.get(path).status_code == 200, path


class Clock:
    """A clock the test moves by hand."""

    def __init__(self):
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_still_expires_at_its_exp(settings):
    clock = Clock()
    verifier = TokenVerifier(settings, clock=clock)
    token = mint_token(TEST_SECRET, "viewer", "kiosk", ttl_seconds=60)
    principal = verifier.verify(token)
    assert verifier.verify(token) == principal  # the second time from memory

    clock.now = principal.expires_at
    with pytest.raises(AuthError, match="token expired"):
        verifier.verify(token)


def test_the_token_memory_is_bounded(settings, monkeypatch):
    monkeypatch.setattr(TokenVerifier, "CACHE_SIZE", 3)
    verifier = TokenVerifier(settings)
    tokens = [mint_token(TEST_SECRET, "viewer", f"user-{n}") for n in range(5)]
    principals = [verifier.verify(token) for token in tokens]
    checked = []
    decode = jwt.decode

    def checking(token, *args, **kwargs):  # each signature the verifier really checks
        checked.append(token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", checking)

    assert [p.subject for p in principals] == [f"user-{n}" for n in range(5)]
    for token in tokens[-3:] + tokens[:1]:
        verifier.verify(token)
    assert checked == tokens[:1]  # the three newest from memory, the oldest checked again
