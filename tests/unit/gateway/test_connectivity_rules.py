"""Pure rules of connectivity: how long is too silent, and learning a plug's usual interval."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.settings import Settings
from gateway.connectivity import MAX_FIRST_GAP_S, learn_interval, silence_limit

SETTINGS = Settings(
    _env_file=None, offline_silence_factor=3.0, offline_min_silence_s=600, offline_default_interval_s=300
)


def test_silence_limit_is_a_multiple_of_the_interval_with_a_floor() -> None:
    assert silence_limit(None, SETTINGS) == timedelta(seconds=900)  # 3 x the assumed 300 s
    assert silence_limit(60.0, SETTINGS) == timedelta(seconds=600)  # never sooner than the floor
    assert silence_limit(3600.0, SETTINGS) == timedelta(seconds=10800)


def test_first_gap_is_learned_unless_it_is_an_outage() -> None:
    assert learn_interval(None, 60.0, SETTINGS) == 60.0
    assert learn_interval(None, MAX_FIRST_GAP_S + 1, SETTINGS) is None


def test_bursts_do_not_teach_the_interval() -> None:
    assert learn_interval(None, 0.2, SETTINGS) is None
    assert learn_interval(300.0, 0.5, SETTINGS) == 300.0


def test_gaps_longer_than_the_silence_limit_are_outages_not_rhythm() -> None:
    assert learn_interval(60.0, 601.0, SETTINGS) == 60.0


def test_estimate_follows_longer_gaps_quickly_and_shorter_ones_slowly() -> None:
    interval: float | None = 60.0
    for _ in range(20):
        interval = learn_interval(interval, 300.0, SETTINGS)
    assert interval is not None and 290 < interval <= 300
    # A kettle boiling (PowerDelta reports every 5 s) barely moves a 300 s TelePeriod estimate.
    for _ in range(10):
        interval = learn_interval(interval, 5.0, SETTINGS)
    assert interval is not None and interval > 150


@given(st.lists(st.floats(min_value=1.0, max_value=3600.0), min_size=1, max_size=50))
def test_estimate_stays_within_the_gaps_it_learned_from(gaps: list[float]) -> None:
    interval: float | None = None
    learned: list[float] = []
    for gap in gaps:
        before = interval
        interval = learn_interval(interval, gap, SETTINGS)
        if interval != before or before is None:
            learned.append(gap)
    if interval is not None:
        assert min(learned) - 1e-6 <= interval <= max(learned) + 1e-6
