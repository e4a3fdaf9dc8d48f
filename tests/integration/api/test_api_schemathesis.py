"""Schemathesis against our own OpenAPI schema: no 5xx, and every response matches the schema.

Generated requests (valid and invalid) hit every documented operation, on both dialects (ids
near PostgreSQL's 32-bit INTEGER limit found a 500 once), as the admin (who may
call everything) in a seeded world. Checks: no server errors, responses that conform to the
documented schema and content type. Status codes are not checked against the documentation:
the authorization matrix (test_api_authz_every_route.py) pins those precisely.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from sqlalchemy import Engine

from api.app import create_app
from core.clock import ManualClock
from core.settings import Settings
from tests.integration.api.conftest import World

schemathesis = pytest.importorskip(
    "schemathesis", reason="schemathesis is not installed (pip install -e '.[dev]')"
)
from schemathesis.checks import (  # noqa: E402
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
)

pytestmark = pytest.mark.slow
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]


def _operations(schema: Any) -> list[Any]:
    operations = []
    for result in schema.get_all_operations():
        operations.append(result.ok())  # a schema we cannot even read is a failure, not a skip
    return operations


def test_api_conforms_to_its_schema(
    settings: Settings,
    engine: Engine,
    clock: ManualClock,
    world: World,
    auth: Callable[[str], dict[str, str]],
) -> None:
    # Built here, not at collection: the app needs this test's database and clock.
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", create_app(settings, engine, clock))
    operations = _operations(schema)
    assert len(operations) >= 15, "expected every documented /api/v1 operation"
    admin = auth("admin")
    for operation in operations:
        if operation.path.endswith("/live/urgent"):
            continue  # a stream stays open for minutes by design: test_api_live_urgent.py covers it
        # The token endpoint takes a form and no token; everything else is called as the admin.
        _exercise(operation, {} if operation.path.endswith("/auth/token") else admin)


def _exercise(operation: Any, headers: dict[str, str]) -> None:
    @given(case=operation.as_strategy())
    @hypothesis_settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    def run(case: Any) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()
