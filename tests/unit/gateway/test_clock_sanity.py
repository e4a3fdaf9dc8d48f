"""Device clocks are learned, not trusted blindly (gateway/reading_time.py, pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.ingest import BatchResult
from gateway.reading_time import (
    CLOCK_TOLERANCE_S,
    ClockSample,
    DeviceClock,
    clock_is_wrong,
    clock_offsets,
    corrected,
)

T = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
DAY = 86400.0


def live(device_ts: datetime, received: datetime) -> ClockSample:
    return (device_ts, (received - device_ts).total_seconds(), True)


def test_a_right_clock_heard_first_in_a_backlog_is_believed() -> None:
    """30 queued readings from a right clock, the freshest 20 minutes old: a backlog, not a clock."""
    samples = [live(T - timedelta(minutes=50 - k), T) for k in range(30)]
    offsets, clock = clock_offsets(DeviceClock(), samples)
    assert offsets == [0.0] * 30
    assert (clock.offset_s, clock.device_ts, clock.lag_s) == (0.0, T - timedelta(minutes=21), 21 * 60.0)


@pytest.mark.parametrize(
    ("behind_s", "offset_s"),
    [(0.2, 0.0), (2 * DAY, 0.0), (2 * DAY + 1, 2 * DAY + 1), (-300.0, -300.0), (-301.0, -301.0)],
)
def test_first_heard_within_two_days_behind_is_believed_and_ahead_is_corrected(
    behind_s: float, offset_s: float
) -> None:
    offsets, _clock = clock_offsets(DeviceClock(), [live(T - timedelta(seconds=behind_s), T)])
    assert offsets == [offset_s]


def test_a_1970_backlog_seen_first_is_dated_by_its_freshest_message() -> None:
    boot = datetime(1970, 1, 1, tzinfo=UTC)
    samples = [live(boot + k * MIN, T) for k in range(30)]
    offsets, clock = clock_offsets(DeviceClock(), samples)
    expected = (T - (boot + 29 * MIN)).total_seconds()
    assert offsets == [expected] * 30
    assert [corrected(boot + k * MIN, o, T) for k, o in enumerate(offsets)] == [
        T - (29 - k) * MIN for k in range(30)
    ]
    assert clock.offset_s == expected and clock_is_wrong(clock.offset_s)


def test_a_learned_offset_carries_over_a_backlog() -> None:
    known = DeviceClock(offset_s=0.2, device_ts=T - 31 * MIN, lag_s=0.2)
    samples = [live(T - (30 - k) * MIN, T) for k in range(30)]  # the gateway was away for 30 min
    offsets, clock = clock_offsets(known, samples)
    assert offsets == [0.2] * 30 and clock.offset_s == 0.2


def test_a_clock_falling_back_a_day_keeps_the_readings_as_far_apart_as_heard() -> None:
    known = DeviceClock(offset_s=0.0, device_ts=T, lag_s=0.0)
    samples = [live(T + 5 * MIN, T + 5 * MIN), live(T + 10 * MIN - timedelta(days=1), T + 10 * MIN)]
    samples.append(live(T + 15 * MIN - timedelta(days=1), T + 15 * MIN))
    offsets, clock = clock_offsets(known, samples)
    assert offsets == [0.0, DAY, DAY]
    assert clock.offset_s == DAY


def test_a_clock_falling_back_inside_a_backlog_keeps_its_place() -> None:
    """While the gateway was away the plug rebooted and its clock restarted in 1970."""
    known = DeviceClock(offset_s=0.0, device_ts=T - 20 * MIN, lag_s=1.0)
    boot = datetime(1970, 1, 1, tzinfo=UTC)
    samples = [live(T - (19 - k) * MIN, T) for k in range(10)]  # up to T - 10 min, right clock
    samples += [live(boot + k * MIN, T) for k in range(10)]  # after the reboot, every minute
    offsets, _clock = clock_offsets(known, samples)
    assert offsets[:10] == [0.0] * 10
    placed = [corrected(boot + k * MIN, offsets[10 + k], T) for k in range(10)]
    # right after the last reading before the reboot, one minute apart, never after arrival
    assert placed[0] == T - 10 * MIN and placed[-1] == T - MIN


def test_a_1970_clock_that_syncs_jumps_forward_and_is_right_again() -> None:
    boot = datetime(1970, 1, 1, tzinfo=UTC)
    known = DeviceClock(offset_s=(T - boot).total_seconds(), device_ts=boot, lag_s=(T - boot).total_seconds())
    samples = [live(boot + MIN, T + MIN), live(T + 2 * MIN, T + 2 * MIN)]  # NTP synced in between
    offsets, clock = clock_offsets(known, samples)
    assert offsets == [(T - boot).total_seconds(), 0.0]
    assert clock.offset_s == 0.0 and not clock_is_wrong(clock.offset_s)


def test_redeliveries_are_placed_but_teach_nothing() -> None:
    known = DeviceClock(offset_s=0.0, device_ts=T, lag_s=0.0)
    old = (T - timedelta(days=1), DAY, False)  # a day-old message sent again: not a clock step
    offsets, clock = clock_offsets(known, [old, live(T + MIN, T + MIN)])
    assert offsets == [0.0, 0.0]
    assert (clock.offset_s, clock.device_ts) == (0.0, T + MIN)


def test_tolerance_and_correction_never_after_arrival() -> None:
    assert not clock_is_wrong(None)
    assert not clock_is_wrong(CLOCK_TOLERANCE_S) and not clock_is_wrong(-CLOCK_TOLERANCE_S)
    assert clock_is_wrong(CLOCK_TOLERANCE_S + 1) and clock_is_wrong(-CLOCK_TOLERANCE_S - 1)
    assert corrected(T, DAY, T + timedelta(hours=1)) == T + timedelta(hours=1)
    assert corrected(T, 60.0, T + timedelta(hours=1)) == T + MIN


def test_batch_results_add_up() -> None:
    total = BatchResult(stored=1, rejected=2)
    total.add(BatchResult(stored=3, duplicates=1, edges=2, clock_suspect=1, pending_devices_created=1))
    assert total == BatchResult(
        stored=4, duplicates=1, rejected=2, edges=2, clock_suspect=1, pending_devices_created=1
    )
