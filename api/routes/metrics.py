"""``GET /metrics``: Prometheus scrape endpoint. Counts only: no personal data, no device ids.

Database figures are always there. Gateway figures (messages/s, batch latency, queue depth,
duplicates, connection state) come twice over: unlabelled from a gateway running in this process
(``anbu up``, ``anbu demo``), and with a ``client_id`` label from the ``gateway_status`` row every
gateway process writes (gateway/status.py), so separate ``anbu gateway`` processes show up too.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi import status as http_status
from fastapi.responses import PlainTextResponse
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from api.prometheus import CONTENT_TYPE, Metric, render
from core import spool
from core.clock import Clock
from core.enums import DeviceStatus, SystemIncidentKind
from core.models import Device, RejectedMessage, SystemIncident
from core.settings import Settings
from gateway.incidents import ACTIVE as ACTIVE_INCIDENT
from gateway.status import read_statuses
from notifier import stored_replies, webhook_spool

router = APIRouter(tags=["metrics"])

# (gateway metrics key, metric name, type, help)
GATEWAY_METRICS = [
    ("received", "anbu_gateway_messages_received_total", "counter", "MQTT messages received"),
    ("stored", "anbu_gateway_readings_stored_total", "counter", "new reading rows stored"),
    ("duplicates", "anbu_gateway_duplicates_total", "counter", "readings already stored (redelivery)"),
    ("rejected", "anbu_gateway_rejected_total", "counter", "messages kept in rejected_message"),
    ("ignored", "anbu_gateway_ignored_total", "counter", "well-formed messages about no single device"),
    (
        "clock_suspect",
        "anbu_gateway_clock_suspect_total",
        "counter",
        "readings whose device clock was not believed",
    ),
    ("acked", "anbu_gateway_acked_total", "counter", "messages acknowledged to the broker after commit"),
    (
        "rate_limited",
        "anbu_gateway_rate_limited_total",
        "counter",
        "messages not stored: their device was over ANBU_DEVICE_RATE_PER_MIN / _BURST",
    ),
    (
        "pending_refused",
        "anbu_gateway_pending_refused_total",
        "counter",
        "messages of unknown devices not stored: ANBU_PENDING_DEVICES_MAX devices already pending",
    ),
    ("db_retries", "anbu_gateway_db_retries_total", "counter", "waits for an unavailable database"),
    ("batches", "anbu_gateway_batches_total", "counter", "ingest transactions"),
    (
        "messages_per_s",
        "anbu_gateway_messages_per_second",
        "gauge",
        "messages processed per second (10 s window)",
    ),
    ("batch_ms_p50", "anbu_gateway_batch_latency_p50_seconds", "gauge", "median latency of recent batches"),
    (
        "batch_ms_p99",
        "anbu_gateway_batch_latency_p99_seconds",
        "gauge",
        "99th percentile latency of recent batches",
    ),
    ("queue_depth", "anbu_gateway_queue_depth", "gauge", "messages received, not yet committed"),
    ("connected", "anbu_gateway_connected", "gauge", "1 when connected and subscribed to the broker"),
    ("generation", "anbu_gateway_connection_generation", "gauge", "number of connections made so far"),
    # Is it really hearing? (gateway/link.py, gateway/hearing.py)
    ("deaf", "anbu_gateway_deaf", "gauge", "1 when the gateway heard no plug for longer than they report"),
    (
        "deaf_limit_s",
        "anbu_gateway_deaf_limit_seconds",
        "gauge",
        "silence after which the gateway counts as deaf (+Inf or absent: no plug expected to speak)",
    ),
    (
        "seconds_since_heard",
        "anbu_gateway_seconds_since_heard",
        "gauge",
        "seconds since the last message from a plug",
    ),
    ("delivery_verified", "anbu_gateway_delivery_verified", "gauge", "1 when a delivery probe came back"),
    ("flapping", "anbu_gateway_flapping", "gauge", "1 when the connection keeps dropping"),
    (
        "sessions_lost",
        "anbu_gateway_sessions_lost_total",
        "counter",
        "reconnects where the broker had lost the gateway's session (and what it queued)",
    ),
    (
        "session_takeovers",
        "anbu_gateway_session_takeovers_total",
        "counter",
        "disconnects because another client took the session (MQTT 5 reason 0x8E)",
    ),
    (
        "disconnects",
        "anbu_gateway_disconnects_total",
        "counter",
        "connection losses the gateway did not ask for",
    ),
    (
        "probe_failures",
        "anbu_gateway_probe_failures_total",
        "counter",
        "delivery probes that did not come back",
    ),
]

# gateway_status column -> gateway metrics key, where the names differ.
STATUS_KEYS = {"msgs_per_s": "messages_per_s"}


def _scrape_allowed(request: Request, settings: Settings) -> None:
    """Raise unless the caller may scrape: with ANBU_METRICS_TOKEN set, only a request bearing it;
    without one, nobody outside dev (404: the figures say how big and how healthy the service is)."""
    token = settings.metrics_token
    if token is None:
        if settings.env != "dev":
            raise HTTPException(http_status.HTTP_404_NOT_FOUND, "Not Found")
        return
    scheme, _, presented = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(presented.encode(), token.encode()):
        raise HTTPException(
            http_status.HTTP_401_UNAUTHORIZED,
            "metrics need the scrape token",
            headers={"WWW-Authenticate": "Bearer"},
        )


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
def metrics(request: Request) -> PlainTextResponse:
    _scrape_allowed(request, request.app.state.settings)
    engine: Engine = request.app.state.engine
    clock: Clock = request.app.state.clock
    source: Callable[[], dict[str, Any]] | None = getattr(request.app.state, "gateway_metrics", None)
    statuses = read_statuses(engine, clock.now())
    settings: Settings = request.app.state.settings
    body = render(
        [
            *database_metrics(engine),
            spool_metrics(settings),
            *gateway_metrics(source() if source else None, statuses),
        ]
    )
    return PlainTextResponse(body, media_type=CONTENT_TYPE)


def database_metrics(engine: Engine) -> list[Metric]:
    with Session(engine) as s:
        rejected = s.exec(select(func.count()).select_from(RejectedMessage)).one()
        active = dict(
            s.exec(
                select(SystemIncident.kind, func.count())
                .where(col(SystemIncident.status).in_(ACTIVE_INCIDENT))
                .group_by(col(SystemIncident.kind))
            ).all()
        )
        rows = s.exec(
            select(Device.status, Device.online, func.count())
            .where(col(Device.status) != DeviceStatus.RETIRED)
            .group_by(col(Device.status), col(Device.online))
        ).all()
    by_state: dict[tuple[str, str], float] = {}
    for status, online, count in rows:
        state = "unknown" if online is None else ("online" if online else "offline")
        key = (DeviceStatus(status).value, state)
        by_state[key] = by_state.get(key, 0) + count
    return [
        Metric("anbu_rejected_messages", "gauge", "rows in rejected_message", [({}, float(rejected))]),
        Metric(
            "anbu_system_incidents",
            "gauge",
            "active system incidents by kind (a deaf, flapping or down gateway, a lost broker session)",
            [({"kind": kind.value}, float(active.get(kind, 0))) for kind in SystemIncidentKind],
        ),
        Metric(
            "anbu_devices",
            "gauge",
            "devices by status and connectivity",
            [
                ({"status": status, "state": state}, value)
                for (status, state), value in sorted(by_state.items())
            ],
        ),
    ]


def spool_metrics(settings: Settings) -> Metric:
    """Twilio webhooks on this host's disk because the database could not take them in time
    (docs/reliability.md §4, §10): waiting for the worker, or set aside for an operator."""
    samples: list[tuple[Mapping[str, str], float]] = []
    for name, directory in (
        ("replies", stored_replies.spool_dir(settings)),
        ("webhooks", webhook_spool.spool_dir(settings)),
    ):
        waiting, bad = spool.counts(directory)
        samples += [
            ({"spool": name, "state": "pending"}, float(waiting)),
            ({"spool": name, "state": "bad"}, float(bad)),
        ]
    return Metric(
        "anbu_spooled_webhooks",
        "gauge",
        "Twilio webhooks spooled to this host's disk: pending (the worker takes them in) or bad (an operator looks)",
        samples,
    )


def gateway_metrics(
    values: dict[str, Any] | None, statuses: list[dict[str, Any]] | None = None
) -> list[Metric]:
    """One family per figure: the in-process gateway unlabelled, each status row by ``client_id``."""
    sources: list[tuple[dict[str, str], dict[str, Any]]] = []
    if values is not None:
        sources.append(({}, values))
    for row in statuses or []:
        figures = {STATUS_KEYS.get(k, k): v for k, v in row.items()}
        sources.append(({"client_id": str(row["client_id"])}, figures))
    result = []
    for key, name, kind, help_text in GATEWAY_METRICS:
        samples: list[tuple[dict[str, str], float]] = []
        for labels, figures in sources:
            if figures.get(key) is None:
                continue
            value = float(figures[key])
            if name.endswith("_seconds"):
                value /= 1000.0  # the gateway keeps milliseconds
            samples.append((labels, value))
        if samples:
            result.append(Metric(name, kind, help_text, list(samples)))
    if statuses:
        result.append(
            Metric(
                "anbu_gateway_status_stale",
                "gauge",
                "1 when the gateway's status row was not refreshed for 3 intervals",
                [({"client_id": str(row["client_id"])}, float(row["stale"])) for row in statuses],
            )
        )
    return result
