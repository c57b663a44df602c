"""The OpenAPI document describes the errors the API really sends (found by schemathesis:
flask-smorest documented its own error shape, ``{"code": int, "status", "errors"}``)."""

import jsonschema
import pytest

BASE = "/api/v1/drones"


@pytest.fixture
def spec(api_app):
    return api_app.test_client().get("/api/v1/openapi.json").json


def _resolved(spec, schema: dict) -> dict:
    # The document's own components, so that its $refs resolve.
    return {**schema, "components": spec["components"]}


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("get", f"{BASE}/NOPE", "admin", 404),
        ("get", BASE, None, 401),
        ("delete", f"{BASE}/NOPE", "viewer", 403),
        ("post", f"{BASE}/register", "admin", 422),
    ],
)
def test_documented_error_schema_matches_real_errors(
    api_app, spec, auth_headers, method, path, headers, status
):
    client = api_app.test_client()
    response = client.open(
        path,
        method=method.upper(),
        json={} if method == "post" else None,
        headers=auth_headers(headers) if headers else {},
    )
    assert response.status_code == status
    error_schema = {"$ref": "#/components/schemas/Error"}

    jsonschema.validate(response.json, _resolved(spec, error_schema))


def test_every_operation_documents_a_default_error_response(spec):
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method != "parameters":
                assert "default" in operation["responses"], f"{method.upper()} {path}"


def test_document_states_the_rules_a_valid_drone_body_keeps(spec):
    schemas = spec["components"]["schemas"]
    for name in ("DroneRegister", "DronePatch"):
        properties = schemas[name]["properties"]
        assert properties["detectionClasses"]["uniqueItems"] is True
        assert properties["streamUrl"]["format"] == "uri"
        assert properties["streamUrl"]["pattern"].startswith("^(http|https|")
    assert schemas["DronePatch"]["minProperties"] == 1  # a PATCH changes something
