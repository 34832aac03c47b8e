"""The OpenAPI document declares every answer a route gives: statuses, problem media type, headers."""

from __future__ import annotations

from service.api.main import create_app
from service.api.openapi import implied_statuses
from service.api.problems import MEDIA_TYPE


def operations(document: dict):
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_every_error_status_is_a_problem_document() -> None:
    document = create_app().openapi()
    assert document["components"]["schemas"]["Problem"]["required"] == ["type", "title", "status", "detail",
                                                                         "instance"]
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for path, method, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [MEDIA_TYPE], (method, path, status)
                assert response["content"][MEDIA_TYPE]["schema"] == {"$ref": "#/components/schemas/Problem"}


def test_the_statuses_each_route_can_give_are_declared() -> None:
    document = create_app().openapi()
    declared = {(method.upper(), path): set(map(int, op["responses"])) for path, method, op in operations(document)}
    assert declared[("GET", "/health")] == {200}
    assert declared[("GET", "/parks")] == {200, 401}
    assert declared[("GET", "/keys")] == {200, 401, 403}
    assert declared[("POST", "/parks/{park_id}/plans")] == {201, 401, 403, 404, 413, 422, 503, 504}
    assert declared[("POST", "/parks/{park_id}/plans/intraday")] >= {409, 503, 504}
    assert declared[("GET", "/parks/{park_id}/studies/{study_id}/files/{name}")] >= {404, 409, 422}
    unauthorized = document["paths"]["/parks"]["get"]["responses"]["401"]
    assert "WWW-Authenticate" in unauthorized["headers"]
    busy = document["paths"]["/parks/{park_id}/plans"]["post"]["responses"]["503"]
    assert "Retry-After" in busy["headers"]


def test_implied_statuses_follow_security_parameters_and_body() -> None:
    assert implied_statuses("/health", {}) == set()
    assert implied_statuses("/keys", {"security": [{"k": []}]}) == {401}
    assert implied_statuses("/parks/{park_id}", {"security": [{}], "parameters": [{}]}) == {401, 403, 404, 422}
    assert implied_statuses("/keys", {"security": [{}], "requestBody": {}}) == {401, 413, 422}
