"""The ingest benchmark's lag arithmetic: lag counts from the actual send, not the schedule."""

from __future__ import annotations

from pytest import approx

from benchmarks.ingest import lag_figures


def test_publisher_lateness_is_reported_apart_from_gateway_lag() -> None:
    # 4 messages at 1,000 msg/s from t=100, due at 100.000, .001, .002, .003. The publisher
    # wrote messages 0-1 at 100.000 and 2-3 at 100.052 (about 50 ms late); each message was
    # seen stored 10 ms after it was actually written.
    writes = [(0, 100.0), (2, 100.052)]
    samples = [(100.005, 0), (100.010, 2), (100.030, 2), (100.062, 4)]
    fig = lag_figures(samples, writes, 4, 100.0, 1000.0)
    assert fig["stored"] == 4
    assert fig["lag_p50_ms"] == approx(10.0)
    assert fig["lag_p99_ms"] == approx(10.0)
    assert fig["lag_max_ms"] == approx(10.0)
    # Lateness sorted: −1, 0, 49, 50 ms (nearest rank, rounded down: p50 = 2nd, p99 = 3rd).
    assert fig["publisher_late_p50_ms"] == approx(0.0)
    assert fig["publisher_late_p99_ms"] == approx(49.0)
    assert fig["publisher_late_max_ms"] == approx(50.0)
    # The old figure, from the schedule: 10, 9, 60, 59 ms → p99 (3rd of 4) = 59.
    assert fig["lag_from_schedule_p99_ms"] == approx(59.0)


def test_messages_never_stored_are_counted_not_hidden() -> None:
    writes = [(0, 10.0)]
    samples = [(10.02, 1), (10.5, 1)]
    fig = lag_figures(samples, writes, 3, 10.0, 100.0)
    assert fig["stored"] == 1
    assert fig["lag_max_ms"] == approx(20.0)


def _device_times(msgs: list[tuple[str, bytes]]) -> list[tuple[str, float]]:
    """(device topic, device time in unix s) of each benchmark message, Tasmota or Shelly."""
    import json
    from datetime import datetime

    out = []
    for topic, payload in msgs:
        body = json.loads(payload)
        if "Time" in body:
            out.append((topic, datetime.fromisoformat(body["Time"]).timestamp()))
        else:
            out.append((topic, float(body["params"]["ts"])))
    return out


def test_runs_at_several_lag_rates_never_reuse_a_device_time_and_stay_in_the_past() -> None:
    """Issue 15.6: the documented three-rate run reused device times across runs (49,000 of
    50,000 stored, then a timeout) and its last run reached into the future."""
    from datetime import UTC, datetime

    from benchmarks.ingest import messages, run_bases
    from gateway.reading_time import MAX_FIRST_BEHIND as MAX_CLOCK_BEHIND

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    # The drain and three lag rates, a tenth of the documented size (same layout, faster test).
    counts = [10_000, 2_500, 5_050, 10_000]
    seen: set[tuple[str, float]] = set()
    for count, base in zip(counts, run_bases(counts, now), strict=True):
        times = _device_times(messages("t", 0, count, base, 1))
        assert all(now - MAX_CLOCK_BEHIND < datetime.fromtimestamp(t, UTC) < now for _, t in times)
        seen.update(times)
    assert len(seen) == sum(counts)


def test_the_documented_runs_fit_back_to_back_before_now() -> None:
    from datetime import UTC, datetime

    from benchmarks.ingest import run_bases, run_span

    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    counts = [100_000, 25_000, 50_000, 100_000]  # --messages 100000 --lag-rates 5000,10000,20000
    bases = run_bases(counts, now)
    ends = [base + run_span(count) for base, count in zip(bases, counts, strict=True)]
    assert all(end <= following for end, following in zip(ends, bases[1:], strict=False))
    assert ends[-1] < now


def test_runs_that_cannot_fit_the_believed_clock_window_are_refused() -> None:
    from datetime import UTC, datetime

    import pytest

    from benchmarks.ingest import run_bases

    with pytest.raises(SystemExit, match="fewer --messages"):
        run_bases([100_000, 1_000_000], datetime(2026, 3, 2, tzinfo=UTC))
