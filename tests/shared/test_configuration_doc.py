"""docs/configuration.md is what tools.configdoc writes from the settings and .env.example."""

from __future__ import annotations

import dataclasses

import pytest

from shared.settings import Settings
from tools import configdoc


def test_the_page_is_up_to_date():
    assert configdoc.TARGET.read_text() == configdoc.render(), (
        "docs/configuration.md drifted from shared/settings.py or .env.example: "
        "run python -m tools.configdoc"
    )


def test_every_setting_has_a_row_with_its_real_default():
    page = configdoc.render()
    defaults = Settings()
    for field in dataclasses.fields(Settings):
        name = Settings.env_names()[field.name]
        (row,) = [line for line in page.splitlines() if line.startswith(f"| `{name}` |")]
        value = getattr(defaults, field.name)
        if value is not None and not isinstance(value, bool | tuple):
            assert f"`{value}`" in row, row


def test_a_setting_missing_from_env_example_is_an_error():
    text = configdoc.ENV_EXAMPLE.read_text().replace("# GATEWAY_PORT=5001\n", "")

    with pytest.raises(ValueError, match="GATEWAY_PORT"):
        configdoc.render(text)


def test_the_comment_above_a_variable_is_its_description():
    text = "# --- Gateway ---\n# Gateway port: the one clients\n# connect to.\n# GATEWAY_PORT=5\n"

    ((title, (variable,)),) = configdoc.parse_env_example(text)

    assert (title, variable.name) == ("Gateway", "GATEWAY_PORT")
    assert " ".join(variable.comment) == "Gateway port: the one clients connect to."
