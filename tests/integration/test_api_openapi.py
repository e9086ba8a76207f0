"""The OpenAPI document: valid OpenAPI 3.1, and it lists every request route the app serves."""
from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

REQUEST_ROUTES = {
    ("post", "/requests"), ("get", "/requests"), ("get", "/requests/{number}"), ("patch", "/requests/{number}"),
    ("post", "/requests/{number}/transitions"), ("post", "/requests/{number}/assignment"),
    ("post", "/requests/{number}/comments"), ("get", "/requests/{number}/history"),
    ("post", "/requests/{number}/localisation"), ("post", "/requests/{number}/auto-assign"),
    ("post", "/requests/{number}/rating"), ("post", "/requests/{number}/attachments"),
    ("get", "/requests/{number}/attachments"), ("get", "/attachments/{attachment_id}"),
}


@pytest.fixture
def document(client):
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    return r.get_json()


def test_the_document_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_the_validator_would_notice_a_broken_document(document):
    document["paths"]["/requests"]["get"]["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        validate(document)


def test_the_document_lists_every_request_route(document):
    listed = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert REQUEST_ROUTES <= listed


def test_every_request_route_the_app_serves_is_in_the_document(app, document):
    served = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/requests") or rule.rule.startswith("/api/v1/attachments"):
            path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            served |= {(m.lower(), path) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served == REQUEST_ROUTES
    listed = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert served <= listed


def test_request_routes_document_their_bodies_errors_and_auth(document):
    create = document["paths"]["/requests"]["post"]
    schema_ref = create["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][schema_ref.rsplit("/", 1)[1]]
    assert "description" in schema["required"] and schema["additionalProperties"] is False
    assert create["responses"]["4XX"]["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
    assert create["security"] == [{"bearer": []}]
    upload = document["paths"]["/requests/{number}/attachments"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    params = {p["name"]: p for p in document["paths"]["/requests"]["get"]["parameters"]}
    assert {"status", "work_type", "urgency", "building_id", "complex_id", "city_id", "assignee_id", "unassigned",
            "registered_from", "registered_to", "overdue", "q", "sort", "cursor", "limit"} <= set(params)


def test_the_document_needs_no_token(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
