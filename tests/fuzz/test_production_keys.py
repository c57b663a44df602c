"""Production refuses to start without a real key: both services, as real processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from shared.auth import check_production_keys
from shared.settings import SettingsError
from tests.support.services import ROOT

DEV_SECRET = "dev-" + "d" * 40
REFUSED = {
    "no_key": {"jwt_secret": None},
    "short_secret": {"jwt_secret": "s" * 31},
    "dev_secret": {"jwt_secret": DEV_SECRET},
    "alg_none": {"jwt_algorithms": ("HS256", "none")},
}


def _run(module: str, settings) -> subprocess.CompletedProcess:
    env = {**settings.to_env(), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", ["services.api", "services.gateway"])
@pytest.mark.parametrize("case", REFUSED, ids=REFUSED)
def test_production_process_exits_without_a_real_key(process_settings, module, case):
    settings = process_settings.replace(app_env="production", **REFUSED[case])

    result = _run(module, settings)

    assert result.returncode != 0
    assert "JWT_" in result.stderr  # the message names the setting to fix


def test_production_accepts_a_public_key_alone(settings):
    prod = settings.replace(app_env="production", jwt_secret=None, jwt_public_key="PEM")

    check_production_keys(prod)


def test_development_accepts_a_dev_secret(settings):
    check_production_keys(settings.replace(jwt_secret=DEV_SECRET))


def test_alg_none_is_refused_in_development_too(settings):
    with pytest.raises(SettingsError):
        check_production_keys(settings.replace(jwt_algorithms=("none",)))
