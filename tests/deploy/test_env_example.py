"""`.env.example` documents every variable the services read, with its real default."""

import re

import pytest

from shared.settings import Settings
from tests.deploy.conftest import REPO

COMPOSE_ONLY = {"IMAGE", "EDGE_PORT", "HEALTHCHECK_PORT"}
LINE = re.compile(r"^#? ?([A-Z][A-Z0-9_]*)=(.*)$")


def documented() -> dict[str, str]:
    lines = (REPO / ".env.example").read_text().splitlines()
    return {m[1]: m[2] for m in map(LINE.match, lines) if m}


def test_env_example_lists_every_setting(settings_names):
    missing = settings_names - documented().keys()
    assert not missing, f".env.example lacks {sorted(missing)}"


def test_env_example_lists_nothing_the_services_do_not_read(settings_names):
    stale = documented().keys() - settings_names - COMPOSE_ONLY
    assert not stale, f".env.example documents unknown variables {sorted(stale)}"


def test_every_variable_has_a_comment_above_it():
    lines = (REPO / ".env.example").read_text().splitlines()
    for index, line in enumerate(lines):
        if LINE.match(line):
            above = lines[index - 1]
            assert above.startswith("# ") and not LINE.match(above), f"no comment for {line}"


@pytest.mark.parametrize(
    "name,value", sorted((k, v) for k, v in documented().items() if k not in COMPOSE_ONLY)
)
def test_documented_value_is_the_real_default(name, value):
    assert Settings.from_env({name: value}) == Settings.from_env({})
