"""Settings handed to a service process through its environment come back unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from shared.settings import Settings

# Values the environment can carry that differ from every default, by field or by type.
CHOICES = {"app_env": "production", "gateway_async_mode": "eventlet", "log_level": "DEBUG"}


def _other_than_default(field: dataclasses.Field) -> object:
    if field.name in CHOICES:
        return CHOICES[field.name]
    default = field.default
    if isinstance(default, bool):
        return not default
    if isinstance(default, int | float):
        return default + 3
    if isinstance(default, tuple):
        return ("one", "two")
    if isinstance(default, Path) or "Path" in str(field.type):
        return Path("/srv/drones") / field.name
    return f"{field.name}-value"


def test_every_setting_comes_back_from_its_environment():
    changed = Settings(**{f.name: _other_than_default(f) for f in dataclasses.fields(Settings)})
    assert all(getattr(changed, f.name) != f.default for f in dataclasses.fields(Settings))

    assert Settings.from_env(changed.to_env()) == changed


def test_unset_settings_are_left_out_of_the_environment():
    env = Settings(jwt_secret=None, mongodb_uri=None).to_env()

    assert "JWT_SECRET" not in env
    assert "MONGODB_URI" not in env


def test_the_variables_are_the_documented_names():
    env = Settings(key_prefix="fleet", max_body_bytes=2048).to_env()

    assert env["EVENTS_KEY_PREFIX"] == "fleet"
    assert env["API_MAX_BODY_BYTES"] == "2048"
    assert env["GATEWAY_PING_INTERVAL"] == "25"
