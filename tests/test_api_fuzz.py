"""Generated requests against the live server with the real model (schemathesis, from the server's
own OpenAPI document): every response carries a status the document lists for that route, and
every error body is the one JSON error shape. Valid and invalid bodies alike; the token is sent,
so the requests reach the app rather than stopping at the auth check."""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (content_type_conformance, not_a_server_error, response_schema_conformance,
                                 status_code_conformance)

from .conftest import TOKEN, LiveServer


def test_every_response_is_documented_and_every_error_is_the_error_shape(live: LiveServer) -> None:
    schema = schemathesis.openapi.from_dict(httpx.get(f"{live.url}/openapi.json", timeout=30).json())
    checked = []
    for result, mode in itertools.product(schema.get_all_operations(), GenerationMode):
        operation = result.ok()
        if mode is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # nothing to get wrong in a GET without parameters
        checked.append((operation.label, mode.value))

        @settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        @given(case=operation.as_strategy(generation_mode=mode))
        def one(case: Any) -> None:
            response = case.call(base_url=live.url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=180)
            case.validate_response(response, checks=[not_a_server_error, status_code_conformance,
                                                     content_type_conformance, response_schema_conformance])
            if response.status_code >= 400:
                body = response.json()
                assert set(body) == {"error"} and {"code", "message"} <= set(body["error"]), body

        one()
    assert len(checked) >= 8, checked  # health, rules, analyze, rewrite, rewrite/stream; valid and invalid
