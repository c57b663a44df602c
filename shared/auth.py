"""Bearer tokens (JWT): who the caller is, what role they have, which drones they may touch.

Both services check tokens with :class:`TokenVerifier`; ``python -m services.api mint-token``
and the local stack mint them with :func:`mint_token`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import threading
import time
from pathlib import Path

import jwt

from shared.settings import Settings, SettingsError

ROLES = ("admin", "operator", "detector", "viewer")

# What each role may do. Scoping to drones is separate (the token's ``drones`` claim).
PERMISSIONS = {
    "drones:read": {"admin", "operator", "detector", "viewer"},
    "drones:write": {"admin", "operator"},
    "drones:delete": {"admin"},
    "drones:report": {"admin", "detector"},  # what a detector applied (PUT .../reported)
    "incidents:read": {"admin", "operator", "detector", "viewer"},
    "incidents:write": {"admin", "operator", "detector"},
    "system:broadcast": {"admin"},
    "events:subscribe": {"admin", "operator", "detector", "viewer"},
}

# Permissions whose effect reaches every drone's clients: a token limited to some drones
# cannot have them, whatever its role (a broadcast is shown to every client).
FLEET_WIDE = frozenset({"system:broadcast"})

DEV_SECRET_PREFIX = "dev-"
DEV_SECRET_FILE = "dev-jwt-secret"
DEV_TOKENS_FILE = "dev-tokens.json"
ASYMMETRIC_PREFIXES = ("RS", "ES", "PS", "EdDSA")
MIN_SECRET_LENGTH = 32
MIN_SECRET_BITS = 80


class AuthError(Exception):
    """The token is missing, malformed, forged or expired (HTTP 401)."""


class Forbidden(Exception):
    """The token is valid but does not allow this (HTTP 403)."""


@dataclasses.dataclass(frozen=True)
class Principal:
    """The verified caller."""

    subject: str
    role: str
    drones: frozenset[str] | None  # None: every drone
    expires_at: float

    @property
    def all_drones(self) -> bool:
        return self.drones is None

    def can(self, permission: str) -> bool:
        return self.role in PERMISSIONS[permission]

    def can_see(self, serial: str) -> bool:
        return self.drones is None or serial in self.drones

    def require(self, permission: str, serial: str | None = None) -> None:
        """Raise :class:`Forbidden` unless this caller may do ``permission`` (on ``serial``)."""
        if not self.can(permission):
            raise Forbidden(f"role '{self.role}' may not {permission.replace(':', ' ')}")
        if permission in FLEET_WIDE and not self.all_drones:
            raise Forbidden(
                f"{permission.replace(':', ' ')} reaches every client: it needs a token for "
                'every drone (drones "*"), not one limited to some drones'
            )
        if serial is not None and not self.can_see(serial):
            raise Forbidden(f"this token does not cover drone '{serial}'")


def _dev_secret(var_dir: Path) -> str:
    """The local stack's secret, made once and kept in ``var/``."""
    path = var_dir / DEV_SECRET_FILE
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    secret = DEV_SECRET_PREFIX + secrets.token_urlsafe(32)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(secret)
    tmp.chmod(0o600)
    tmp.replace(path)
    return path.read_text().strip()


def signing_secret(settings: Settings) -> str | None:
    """The HS* secret in force: the configured one, or in development the local one."""
    if settings.jwt_secret:
        return settings.jwt_secret
    if settings.jwt_public_key or settings.jwt_jwks_file:
        return None
    if settings.is_production:
        return None
    return _dev_secret(settings.var_dir)


def check_production_keys(settings: Settings) -> None:
    """Refuse to run in production without a real key, or with the development secret."""
    if "none" in (a.lower() for a in settings.jwt_algorithms):
        raise SettingsError("JWT_ALGORITHMS must not include 'none'")
    if not settings.is_production:
        return
    if not (settings.jwt_secret or settings.jwt_public_key or settings.jwt_jwks_file):
        raise SettingsError(
            "APP_ENV=production needs JWT_SECRET(_FILE), JWT_PUBLIC_KEY(_FILE) or JWT_JWKS_FILE"
        )
    problem = secret_weakness(settings.jwt_secret) if settings.jwt_secret else None
    if problem:
        raise SettingsError(f"JWT_SECRET {problem}; make one with: {STRONG_SECRET_HINT}")


STRONG_SECRET_HINT = "python -c 'import secrets; print(secrets.token_urlsafe(48))'"


def estimated_secret_bits(secret: str) -> float:
    """A rough upper estimate of the entropy of ``secret``, in bits: the Shannon entropy of
    its characters' frequencies times the length of its shortest repeating unit. "a"*32 is
    0, "ab"*24 is 2, a random 32-character hex string about 120. It catches repetition and
    tiny alphabets, not dictionary words: generate secrets, never type them."""
    unit = _repeating_unit(secret)
    counts = {char: unit.count(char) for char in set(unit)}
    size = len(unit)
    return max(0.0, -size * sum(n / size * math.log2(n / size) for n in counts.values()))


def _repeating_unit(text: str) -> str:
    for period in range(1, len(text) // 2 + 1):
        if len(text) % period == 0 and text[:period] * (len(text) // period) == text:
            return text[:period]
    return text


def secret_weakness(secret: str) -> str | None:
    """Why production refuses ``secret`` as an HS secret, or None."""
    if secret.startswith(DEV_SECRET_PREFIX):
        return "is a development secret"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"must be at least {MIN_SECRET_LENGTH} characters"
    bits = estimated_secret_bits(secret)
    if bits < MIN_SECRET_BITS:
        return f"has too little entropy (about {bits:.0f} bits, at least {MIN_SECRET_BITS} needed)"
    return None


def check_keys(settings: Settings) -> None:
    """Everything :class:`TokenVerifier` would refuse, checked before serving (the server's
    master process: a refusal exits 2 with one line instead of failing each worker)."""
    check_production_keys(settings)
    if settings.jwt_jwks_file or settings.jwt_public_key:
        symmetric = _symmetric(settings.jwt_algorithms)
        if symmetric:
            raise SettingsError(
                "JWT_ALGORITHMS must list only asymmetric algorithms (RS*, ES*, PS*, EdDSA) "
                f"with JWT_PUBLIC_KEY or JWT_JWKS_FILE, not {', '.join(symmetric)}"
            )
    if settings.jwt_jwks_file:
        try:
            jwt.PyJWKSet.from_json(settings.jwt_jwks_file.read_text())
        except (OSError, ValueError, jwt.PyJWTError) as exc:
            raise SettingsError(
                f"JWT_JWKS_FILE: cannot load {settings.jwt_jwks_file}: {exc}"
            ) from None


def _symmetric(algorithms) -> list[str]:
    return [a for a in algorithms if not a.startswith(ASYMMETRIC_PREFIXES)]


class TokenVerifier:
    """Verifies bearer tokens with the keys and algorithms of the settings.

    A client sends the same token with every request (and every reconnection) for its
    lifetime, so the principal of a verified token is remembered until the token expires:
    a signature that checked out once stays valid, only time can end it. The cache holds
    at most ``CACHE_SIZE`` tokens, oldest out first.
    """

    CACHE_SIZE = 4096

    def __init__(self, settings: Settings, clock=time.time):
        check_keys(settings)
        self._clock = clock
        self._verified: dict[str, Principal] = {}
        self._verified_lock = threading.Lock()
        self._algorithms = list(settings.jwt_algorithms)
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self._jwks = None
        self._key = None
        # check_keys: a public key verifies only asymmetric signatures; with HS* in the list
        # a public key would be misused as an HMAC secret (or every check would fail).
        if settings.jwt_jwks_file:
            self._jwks = jwt.PyJWKSet.from_json(settings.jwt_jwks_file.read_text())
        elif settings.jwt_public_key:
            self._key = settings.jwt_public_key
        else:
            self._key = signing_secret(settings)
            if self._key is None:
                raise SettingsError("no JWT key configured")
            self._algorithms = [a for a in self._algorithms if a.startswith("HS")] or ["HS256"]

    def _key_for(self, token: str):
        if self._jwks is None:
            return self._key
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._jwks.keys:
            if kid is None or key.key_id == kid:
                return key
        raise AuthError("token signed with an unknown key")

    def verify(self, token: str | None) -> Principal:
        """The principal of a valid token; :class:`AuthError` for anything else."""
        if not token or not isinstance(token, str):
            raise AuthError("a bearer token is required")
        principal = self._verified.get(token)
        if principal is None:
            principal = self._decode(token)
            with self._verified_lock:
                if len(self._verified) >= self.CACHE_SIZE:
                    del self._verified[next(iter(self._verified))]
                self._verified[token] = principal
        if principal.expires_at <= self._clock():  # as PyJWT: expired at exp
            with self._verified_lock:
                self._verified.pop(token, None)
            raise AuthError("token expired")
        return principal

    def _decode(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key_for(token),
                algorithms=self._algorithms,
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise AuthError(f"invalid token: {exc}") from None
        role = claims.get("role")
        if role not in ROLES:
            raise AuthError(f"token role must be one of {', '.join(ROLES)}")
        return Principal(
            subject=str(claims["sub"]),
            role=role,
            drones=_drone_scope(claims.get("drones", "*")),
            expires_at=float(claims["exp"]),
        )


def _drone_scope(value) -> frozenset[str] | None:
    if value == "*" or (isinstance(value, list) and "*" in value):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise AuthError("token 'drones' claim must be '*' or a list of serials")


def mint_token(
    secret: str,
    role: str,
    subject: str,
    drones: list[str] | str = "*",
    ttl_seconds: int = 3600,
    algorithm: str = "HS256",
) -> str:
    """Sign a token. ``secret`` is the HS secret or a private key PEM for RS/ES algorithms."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    now = int(time.time())
    claims = {"sub": subject, "role": role, "drones": drones, "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=algorithm)


def write_dev_tokens(settings: Settings, ttl_seconds: int = 30 * 86_400) -> Path:
    """Mint one token per role with the local secret into ``var/dev-tokens.json``."""
    secret = signing_secret(settings)
    if secret is None:
        raise SettingsError("development tokens need the local HS secret")
    tokens = {
        role: mint_token(secret, role, f"dev-{role}", ttl_seconds=ttl_seconds) for role in ROLES
    }
    path = settings.var_dir / DEV_TOKENS_FILE
    path.write_text(json.dumps(tokens, indent=2) + "\n")
    path.chmod(0o600)
    return path
