"""Device clocks are not trusted blindly: implausible timestamps fall back to the receive time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.ingest import BatchResult, sanitise_ts

RECEIVED = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("device_ts", "expected_ts", "suspect"),
    [
        (None, RECEIVED, False),
        (RECEIVED, RECEIVED, False),
        (RECEIVED + timedelta(minutes=5), RECEIVED + timedelta(minutes=5), False),
        (RECEIVED + timedelta(minutes=5, seconds=1), RECEIVED, True),
        (RECEIVED - timedelta(days=2), RECEIVED - timedelta(days=2), False),
        (RECEIVED - timedelta(days=2, seconds=1), RECEIVED, True),
        (datetime(2019, 12, 31, 23, 59, tzinfo=UTC), RECEIVED, True),
        (datetime(1970, 1, 1, tzinfo=UTC), RECEIVED, True),
    ],
)
def test_sanitise_ts(device_ts: datetime | None, expected_ts: datetime, suspect: bool) -> None:
    assert sanitise_ts(device_ts, RECEIVED) == (expected_ts, suspect)


def test_before_2020_is_suspect_even_when_received_then() -> None:
    received = datetime(2019, 6, 1, tzinfo=UTC)
    assert sanitise_ts(received, received) == (received, True)


def test_batch_results_add_up() -> None:
    total = BatchResult(stored=1, rejected=2)
    total.add(BatchResult(stored=3, duplicates=1, edges=2, clock_suspect=1, pending_devices_created=1))
    assert total == BatchResult(
        stored=4, duplicates=1, rejected=2, edges=2, clock_suspect=1, pending_devices_created=1
    )
