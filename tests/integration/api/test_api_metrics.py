"""GET /metrics: database figures always, the gateway's live figures when one runs in the process."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from api.app import create_app
from core import spool
from core.clock import ManualClock
from core.db import session_scope
from core.models import GatewayStatus, RejectedMessage
from core.settings import Settings
from notifier import stored_replies, webhook_spool
from tests.factories import make_device, make_household
from tests.integration.api.conftest import METRICS_TOKEN

SCRAPE = {"Authorization": f"Bearer {METRICS_TOKEN}"}


def _seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        h = make_household(s)
        online = make_device(s, household=h)
        online.online = True
        make_device(s, household=None)  # pending, never heard: unknown
        s.add(
            RejectedMessage(
                received_at=datetime(2026, 3, 2, tzinfo=UTC),
                topic="anbu/x/reading",
                payload_excerpt="{",
                payload_size=1,
                reason="invalid JSON",
            )
        )


def _samples(text: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line and not line.startswith("#")
    }


def test_metrics_without_a_gateway_has_database_figures_only(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    _seed(engine)
    with TestClient(headers=SCRAPE, app=create_app(settings, engine, clock)) as client:
        response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = _samples(response.text)
    assert samples["anbu_rejected_messages"] == 1
    assert samples['anbu_devices{state="online",status="assigned"}'] == 1
    assert samples['anbu_devices{state="unknown",status="pending"}'] == 1
    assert samples['anbu_system_incidents{kind="gateway_deaf"}'] == 0
    assert not any(name.startswith("anbu_gateway_") for name in samples)


def test_metrics_include_the_in_process_gateway(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    live: dict[str, Any] = {
        "received": 120,
        "stored": 100,
        "duplicates": 7,
        "rejected": 13,
        "queue_depth": 4,
        "connected": True,
        "messages_per_s": 12.5,
        "batch_ms_p99": 40.0,
    }
    app = create_app(settings, engine, clock, gateway_metrics=lambda: live)
    with TestClient(app, headers=SCRAPE) as client:
        samples = _samples(client.get("/metrics").text)
    assert samples["anbu_gateway_messages_received_total"] == 120
    assert samples["anbu_gateway_duplicates_total"] == 7
    assert samples["anbu_gateway_rejected_total"] == 13
    assert samples["anbu_gateway_queue_depth"] == 4
    assert samples["anbu_gateway_connected"] == 1
    assert samples["anbu_gateway_messages_per_second"] == 12.5
    assert samples["anbu_gateway_batch_latency_p99_seconds"] == 0.04


def test_metrics_label_every_gateway_status_row_by_client_id(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as s:
        s.add(
            GatewayStatus(
                client_id="gw-a",
                updated_at=clock.now(),
                connected=True,
                generation=2,
                msgs_per_s=30.0,
                batch_ms_p99=50.0,
                queue_depth=3,
                stored=900,
                duplicates=11,
                rejected=2,
            )
        )
        s.add(GatewayStatus(client_id="gw-b", updated_at=clock.now() - timedelta(minutes=5), stored=1))
    live: dict[str, Any] = {"stored": 100, "connected": True}
    with TestClient(
        headers=SCRAPE, app=create_app(settings, engine, clock, gateway_metrics=lambda: live)
    ) as client:
        text = client.get("/metrics").text
    samples = _samples(text)
    assert samples["anbu_gateway_readings_stored_total"] == 100  # the in-process gateway, unlabelled
    assert samples['anbu_gateway_readings_stored_total{client_id="gw-a"}'] == 900
    assert samples['anbu_gateway_readings_stored_total{client_id="gw-b"}'] == 1
    assert samples['anbu_gateway_duplicates_total{client_id="gw-a"}'] == 11
    assert samples['anbu_gateway_messages_per_second{client_id="gw-a"}'] == 30
    assert samples['anbu_gateway_batch_latency_p99_seconds{client_id="gw-a"}'] == 0.05
    assert samples['anbu_gateway_queue_depth{client_id="gw-a"}'] == 3
    assert samples['anbu_gateway_connected{client_id="gw-a"}'] == 1
    assert samples['anbu_gateway_connected{client_id="gw-b"}'] == 0
    assert samples['anbu_gateway_status_stale{client_id="gw-a"}'] == 0
    assert samples['anbu_gateway_status_stale{client_id="gw-b"}'] == 1
    assert text.count("# TYPE anbu_gateway_readings_stored_total ") == 1  # one family, not one per source


def test_metrics_need_the_scrape_token(settings: Settings, engine: Engine, clock: ManualClock) -> None:
    with TestClient(create_app(settings, engine, clock)) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics", headers=SCRAPE).status_code == 200


def test_outside_dev_metrics_are_off_without_a_token(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    """Issue 13.7: /metrics was public in prod."""
    prod = settings.model_copy(update={"metrics_token": None, "env": "prod"})
    with TestClient(create_app(prod, engine, clock)) as client:
        assert client.get("/metrics").status_code == 404
    dev = settings.model_copy(update={"metrics_token": None, "env": "dev"})
    with TestClient(create_app(dev, engine, clock)) as client:
        assert client.get("/metrics").status_code == 200


def test_metrics_count_spooled_webhooks_waiting_and_set_aside(
    settings: Settings, engine: Engine, clock: ManualClock, tmp_path: Path
) -> None:
    """An operator sees requests the database could not take in time (docs/reliability.md §10)."""
    settings = settings.model_copy(update={"data_dir": tmp_path / "data"})
    spool.write(webhook_spool.spool_dir(settings), {"hook": "call_status"}, clock.now())
    spool.set_aside(spool.write(webhook_spool.spool_dir(settings), {}, clock.now()))
    spool.write(stored_replies.spool_dir(settings), {}, clock.now())
    with TestClient(headers=SCRAPE, app=create_app(settings, engine, clock)) as client:
        samples = _samples(client.get("/metrics").text)
    assert samples['anbu_spooled_webhooks{spool="webhooks",state="pending"}'] == 1
    assert samples['anbu_spooled_webhooks{spool="webhooks",state="bad"}'] == 1
    assert samples['anbu_spooled_webhooks{spool="replies",state="pending"}'] == 1
    assert samples['anbu_spooled_webhooks{spool="replies",state="bad"}'] == 0
