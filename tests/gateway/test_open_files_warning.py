"""The start-up warning about the open-files limit is given only when it matters."""

from __future__ import annotations

from services.gateway.server import RESERVED_FILES, open_files_warning
from shared.settings import Settings

DEFAULT = Settings.__dataclass_fields__["gateway_max_connections"].default


def test_a_development_run_with_the_default_cap_is_not_warned_on_a_common_hard_limit():
    # `make run` on a machine whose hard limit is 20,000: the default cap needs a few more.
    assert open_files_warning(20_000, DEFAULT, default_cap=DEFAULT, production=False) is None


def test_a_cap_someone_chose_above_the_limit_is_warned_with_what_to_do():
    warning = open_files_warning(4_096, 10_000, default_cap=DEFAULT, production=False)

    assert warning is not None
    assert "GATEWAY_MAX_CONNECTIONS=10000" in warning
    assert f"about {4_096 - RESERVED_FILES} connections" in warning
    assert "ulimit -Hn" in warning


def test_production_is_warned_even_with_the_default_cap():
    assert open_files_warning(20_000, DEFAULT, default_cap=DEFAULT, production=True)


def test_a_limit_that_holds_the_cap_or_no_limit_is_never_warned():
    enough = 10_000 + RESERVED_FILES
    assert open_files_warning(enough, 10_000, default_cap=DEFAULT, production=True) is None
    assert open_files_warning(None, 10_000, default_cap=DEFAULT, production=True) is None
