"""gateway/hearing.py: when a gateway that hears nothing is deaf (pure parts)."""

from __future__ import annotations

import pytest

from gateway.hearing import Hearing, deaf_limit, device_bound


def test_device_bound_is_the_quickest_live_plug_times_the_factor_and_the_share_group() -> None:
    assert device_bound([300.0, 30.0, 60.0], 3.0) == 90.0
    assert device_bound([300.0], 3.0, gateways=2) == 1800.0  # two gateways split the traffic
    assert device_bound([], 3.0) is None


@pytest.mark.parametrize(
    ("device", "traffic", "floor", "limit"),
    [
        (None, 10.0, 60.0, None),  # no assigned plug live: nothing expected, never deaf
        (900.0, None, 60.0, 900.0),  # no traffic history yet: the plugs' own rhythm
        (900.0, 45.0, 60.0, 60.0),  # dense traffic, but never sooner than the floor
        (900.0, 300.0, 60.0, 300.0),
        (90.0, 300.0, 60.0, 90.0),  # the quickest plug must have spoken within 90 s
    ],
)
def test_deaf_limit(device: float | None, traffic: float | None, floor: float, limit: float | None) -> None:
    assert deaf_limit(device, traffic, floor) == limit


def _feed(hearing: Hearing, arrivals: list[float], limit: float | None = 900.0) -> None:
    for t in arrivals:
        hearing.observe(t, t, limit)


def test_traffic_bound_waits_for_half_an_hour_of_history_then_learns_the_longest_gap() -> None:
    hearing = Hearing(3.0)
    _feed(hearing, [float(t) for t in range(0, 1800, 10)])
    assert hearing.traffic_bound(1790.0) is None
    _feed(hearing, [1800.0, 1825.0, 1830.0])
    assert hearing.traffic_bound(1830.0) == 75.0  # 3 x the 25 s gap


def test_outages_teach_nothing_and_old_gaps_age_out() -> None:
    hearing = Hearing(3.0, window_s=3600, bucket_s=300, min_history_s=0)
    _feed(hearing, [0.0, 10.0, 20.0])
    _feed(hearing, [2000.0], limit=900.0)  # a 1,980 s gap: longer than the limit, an outage
    assert hearing.traffic_bound(2000.0) == 30.0
    _feed(hearing, [2040.0])  # a 40 s gap
    assert hearing.traffic_bound(2040.0) == 120.0
    _feed(hearing, [float(t) for t in range(2045, 5800, 5)])  # an hour of 5 s gaps
    assert hearing.traffic_bound(5800.0) == 15.0  # the 40 s gap has left the window


def test_sampling_without_new_arrivals_changes_nothing() -> None:
    hearing = Hearing(3.0, min_history_s=0)
    hearing.observe(0.0, 0.0, None)
    hearing.observe(5.0, 5.0, None)
    for now in (6.0, 50.0, 100.0):
        hearing.observe(now, 5.0, None)  # the processing thread samples; nothing new arrived
    assert hearing.traffic_bound(100.0) == 15.0
