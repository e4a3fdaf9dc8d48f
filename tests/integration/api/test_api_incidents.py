"""System incidents through the API, the dashboard notice and /metrics (gateway/incidents.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import session_scope
from core.models import GatewayStatus
from core.settings import Settings
from gateway import incidents
from tests.integration.api.conftest import METRICS_TOKEN, World

Auth = Callable[[str], dict[str, str]]


def _gateway_reported(engine: Engine, clock: ManualClock, **figures: Any) -> None:
    """The connected gateway's status row says ``figures``; then the incidents tick runs."""
    with session_scope(engine) as s:
        s.merge(GatewayStatus(client_id="anbu-gateway", updated_at=clock.now(), connected=True, **figures))
    incidents.tick(engine, clock, Settings(_env_file=None))


def _deaf_gateway(engine: Engine, clock: ManualClock) -> None:
    _gateway_reported(
        engine, clock, deaf=True, deaf_limit_s=90.0, last_heard_at=clock.now() - timedelta(minutes=11)
    )


def test_staff_see_the_deaf_gateway_and_acknowledge_it(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _deaf_gateway(engine, clock)
    page = app_client.get("/api/v1/incidents", headers=auth("caseworker_other")).json()
    assert page["total"] == 1
    (item,) = page["items"]
    assert (item["kind"], item["source"], item["status"]) == ("gateway_deaf", "anbu-gateway", "open")
    assert item["detail"] == {"silent_s": 660, "limit_s": 90.0, "connected": True}

    response = app_client.post(f"/api/v1/incidents/{item['id']}/acknowledge", headers=auth("control_room"))
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["acknowledged_by"]) == ("acknowledged", "control-room")
    # Still listed (the gateway is still deaf), now acknowledged; history lists it too.
    assert (
        app_client.get("/api/v1/incidents", headers=auth("admin")).json()["items"][0]["status"]
        == "acknowledged"
    )
    history = app_client.get("/api/v1/incidents?active=false", headers=auth("admin")).json()
    assert history["total"] == 1

    missing = app_client.post("/api/v1/incidents/999999/acknowledge", headers=auth("admin"))
    assert (missing.status_code, missing.json()["code"]) == (404, "incident_not_found")
    assert app_client.get("/api/v1/incidents", headers=auth("family")).status_code == 403


def test_metrics_count_active_incidents_by_kind(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock
) -> None:
    _deaf_gateway(engine, clock)
    body = app_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'anbu_system_incidents{kind="gateway_deaf"} 1' in body
    assert 'anbu_system_incidents{kind="gateway_session_lost"} 0' in body
    assert 'anbu_gateway_deaf{client_id="anbu-gateway"} 1' in body


def test_the_dashboard_has_the_notice_in_both_languages(app_client: TestClient) -> None:
    ko = app_client.get("/").text
    en = app_client.get("/?lang=en").text
    assert 'id="incidents"' in ko and "운영 알림" in ko
    assert "System alerts" in en


def test_a_lost_broker_session_is_in_metrics_and_listed_for_staff(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    # Issue 14.7: what the gateway wrote after a broker crash lost its session reaches people.
    _gateway_reported(engine, clock, sessions_lost=2, session_lost_at=clock.now() - timedelta(seconds=30))
    body = app_client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    assert 'anbu_gateway_sessions_lost_total{client_id="anbu-gateway"} 2' in body
    assert 'anbu_system_incidents{kind="gateway_session_lost"} 1' in body
    (item,) = app_client.get("/api/v1/incidents", headers=auth("caseworker_other")).json()["items"]
    assert (item["kind"], item["source"]) == ("gateway_session_lost", "anbu-gateway")
    assert item["detail"]["sessions_lost"] == 2
