"""Gateway metrics snapshot -> gateway_status row, staleness, and the labelled /metrics series."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api.routes.metrics import gateway_metrics
from gateway.status import STALE_AFTER_INTERVALS, STATUS_INTERVAL_S, is_stale, status_row

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _snapshot(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "received": 1200,
        "stored": 1000,
        "duplicates": 70,
        "rejected": 13,
        "batches": 42,
        "queue_depth": 5,
        "connected": True,
        "generation": 3,
        "messages_per_s": 250.5,
        "batch_ms_p50": 4.5,
        "batch_ms_p99": 31.0,
        "acked": 1100,  # not in the row: only what the issue asks for, plus received/batches
    }
    values.update(overrides)
    return values


def test_snapshot_maps_onto_the_row() -> None:
    row = status_row("gw-1", "anbu", _snapshot(), NOW)
    assert (row.client_id, row.share_group, row.updated_at) == ("gw-1", "anbu", NOW)
    assert (row.connected, row.generation, row.queue_depth) == (True, 3, 5)
    assert (row.msgs_per_s, row.batch_ms_p50, row.batch_ms_p99) == (250.5, 4.5, 31.0)
    assert (row.received, row.stored, row.duplicates, row.rejected, row.batches) == (1200, 1000, 70, 13, 42)


def test_disconnected_gateway_maps_to_false() -> None:
    assert status_row("gw-1", None, _snapshot(connected=False), NOW).connected is False


def test_stale_only_after_three_intervals() -> None:
    limit = timedelta(seconds=STALE_AFTER_INTERVALS * STATUS_INTERVAL_S)
    assert not is_stale(NOW - limit, NOW)
    assert is_stale(NOW - limit - timedelta(seconds=1), NOW)


def test_status_rows_become_series_labelled_by_client_id_next_to_the_in_process_one() -> None:
    rows = [
        {"client_id": "gw-a", "msgs_per_s": 10.0, "batch_ms_p99": 20.0, "stored": 5, "stale": False},
        {"client_id": "gw-b", "msgs_per_s": 0.0, "batch_ms_p99": 0.0, "stored": 9, "stale": True},
    ]
    families = {m.name: m for m in gateway_metrics({"stored": 100}, rows)}
    stored = families["anbu_gateway_readings_stored_total"].samples
    assert [(dict(labels), value) for labels, value in stored] == [
        ({}, 100.0),
        ({"client_id": "gw-a"}, 5.0),
        ({"client_id": "gw-b"}, 9.0),
    ]
    rate = families["anbu_gateway_messages_per_second"].samples
    assert [(dict(labels), value) for labels, value in rate] == [
        ({"client_id": "gw-a"}, 10.0),
        ({"client_id": "gw-b"}, 0.0),
    ]
    p99 = families["anbu_gateway_batch_latency_p99_seconds"].samples
    assert p99[0][1] == 0.02  # milliseconds in the row, seconds in Prometheus
    stale = families["anbu_gateway_status_stale"].samples
    assert [(dict(labels), value) for labels, value in stale] == [
        ({"client_id": "gw-a"}, 0.0),
        ({"client_id": "gw-b"}, 1.0),
    ]
