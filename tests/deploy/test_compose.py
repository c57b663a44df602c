"""docker-compose.yml: valid Compose, healthy start order, ports and secrets from the env."""

import copy
import json
import re

import jsonschema
import pytest

from tests.deploy.conftest import REPO

APP_SERVICES = ("api", "gateway")
PORT = re.compile(r"^\$\{([A-Z_]+):-(\d+)\}:(\d+)$")


@pytest.fixture(scope="module")
def validator():
    schema = json.loads((REPO / "deploy" / "schemas" / "compose-spec.json").read_text())
    return jsonschema.Draft202012Validator(schema)


def test_compose_file_matches_the_compose_specification(compose, validator):
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_malformed_service(compose, validator):
    broken = copy.deepcopy(compose)
    broken["services"]["api"]["ports"] = 5000
    broken["services"]["gateway"]["no_such_key"] = True
    messages = " ".join(e.message for e in validator.iter_errors(broken))
    assert "not of type 'array'" in messages and "no_such_key" in messages


def test_compose_file_has_no_obsolete_version_key(compose):
    assert "version" not in compose


def test_every_service_has_a_healthcheck(compose):
    for name, service in compose["services"].items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"


def test_every_dependency_waits_for_health(compose):
    for name, service in compose["services"].items():
        for dependency, rule in service.get("depends_on", {}).items():
            assert rule == {"condition": "service_healthy"}, f"{name} -> {dependency}"
            assert dependency in compose["services"]


def test_services_start_after_mongo_and_redis(compose):
    for name in APP_SERVICES:
        assert set(compose["services"][name]["depends_on"]) == {"mongo", "redis"}


def test_published_ports_come_from_the_environment_with_defaults(compose):
    defaults = {"api": ("API_PORT", "5000"), "gateway": ("GATEWAY_PORT", "5001")}
    defaults["edge"] = ("EDGE_PORT", "8080")
    for name, (variable, port) in defaults.items():
        (mapping,) = compose["services"][name]["ports"]
        match = PORT.match(mapping)
        assert match, f"{name}: {mapping!r} is not ${{VAR:-default}}:port"
        assert match.groups()[:2] == (variable, port)


def test_app_services_run_their_module_from_the_one_image(compose):
    for name in APP_SERVICES:
        service = compose["services"][name]
        assert service["command"] == ["python", "-m", f"services.{name}"]
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert (REPO / service["build"]["context"] / "Dockerfile").is_file()


def test_app_services_run_as_production_on_all_interfaces(compose):
    for name in APP_SERVICES:
        env = compose["services"][name]["environment"]
        assert env["APP_ENV"] == "production"
        assert env[f"{name.upper()}_HOST"] == "0.0.0.0"
        assert env["MONGODB_URI"].endswith(":-mongodb://mongo:27017}")
        assert env["REDIS_URL"].endswith(":-redis://redis:6379/0}")


def test_jwt_secret_is_required_from_the_environment(compose):
    for name in APP_SERVICES:
        assert compose["services"][name]["environment"]["JWT_SECRET"].startswith("${JWT_SECRET:?")


def test_dot_env_is_read_when_present_and_optional(compose):
    for name in APP_SERVICES:
        assert {"path": ".env", "required": False} in compose["services"][name]["env_file"]


def test_app_services_set_only_variables_the_services_read(compose, settings_names):
    for name in APP_SERVICES:
        unknown = set(compose["services"][name]["environment"]) - settings_names
        assert unknown <= {"HEALTHCHECK_PORT"}, f"{name} sets unknown {sorted(unknown)}"


def test_mongo_and_redis_keep_data_in_named_volumes(compose):
    assert compose["services"]["mongo"]["image"] == "mongo:7"
    assert compose["services"]["redis"]["image"] == "redis:7-alpine"
    assert "--appendonly" in compose["services"]["redis"]["command"]
    for name, path in (("mongo", "/data/db"), ("redis", "/data")):
        volume, mount = compose["services"][name]["volumes"][0].split(":")[:2]
        assert mount == path and volume in compose["volumes"]


def test_edge_proxy_is_optional_and_uses_the_repo_config(compose):
    edge = compose["services"]["edge"]
    assert edge["profiles"] == ["edge"]
    assert edge["image"] == "nginx:1.27-alpine"
    source = edge["volumes"][0].split(":")[0]
    assert (REPO / source).resolve() == REPO / "deploy" / "nginx" / "edge.conf"
