"""Pure rules of connectivity: how long is too silent, learning a plug's usual interval, and when a
household's ``device_offline`` case opens or clears."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from core.enums import CaseKind, CaseStatus, MonitoringState
from core.models import Case, Device, Household
from core.settings import Settings
from gateway.connectivity import MAX_FIRST_GAP_S, Clear, Open, decide, learn_interval, silence_limit

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


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def plug(online: bool | None, heard_minutes_ago: int | None = None) -> Device:
    seen = None if heard_minutes_ago is None else NOW - timedelta(minutes=heard_minutes_ago)
    return Device(external_id="plug", online=online, last_seen_at=seen)


def home(
    monitoring: MonitoringState = MonitoringState.ACTIVE, paused_until: datetime | None = None
) -> Household:
    return Household(team_id=1, code="H1", monitoring=monitoring, paused_until=paused_until)


def offline_case(status: CaseStatus = CaseStatus.OPEN) -> Case:
    return Case(household_id=1, escalation_token="t", kind=CaseKind.DEVICE_OFFLINE, status=status)


def test_every_plug_offline_opens_a_case_offline_since_the_last_one_heard() -> None:
    plugs = [plug(False, 90), plug(False, 30), plug(False)]
    assert decide(home(), plugs, None, NOW) == Open(since=NOW - timedelta(minutes=30))


def test_plugs_never_heard_count_as_offline_since_now() -> None:
    assert decide(home(), [plug(False), plug(False)], None, NOW) == Open(since=NOW)


def test_one_plug_not_offline_opens_nothing() -> None:
    for other in (plug(True, 1), plug(None)):  # online, or not known yet
        assert decide(home(), [plug(False, 90), other], None, NOW) is None


def test_a_household_without_plugs_opens_nothing() -> None:
    assert decide(home(), [], None, NOW) is None


def test_an_active_case_is_not_opened_again() -> None:
    assert decide(home(), [plug(False, 90)], offline_case(), NOW) is None


def test_away_households_open_nothing_until_the_away_period_ends() -> None:
    plugs = [plug(False, 90)]
    assert decide(home(MonitoringState.PAUSED), plugs, None, NOW) is None  # paused without an end
    assert decide(home(MonitoringState.PAUSED, NOW + timedelta(hours=1)), plugs, None, NOW) is None
    ended = home(MonitoringState.PAUSED, NOW)  # paused_until has come: no longer away
    assert decide(ended, plugs, None, NOW) == Open(since=NOW - timedelta(minutes=90))


def test_a_plug_back_clears_an_open_or_acknowledged_case() -> None:
    for status in (CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED):
        case = offline_case(status)
        assert decide(home(), [plug(False, 90), plug(True, 1)], case, NOW) == Clear(case=case)
        # Away or not: a plug back is back.
        assert decide(home(MonitoringState.PAUSED), [plug(True, 1)], case, NOW) == Clear(case=case)


def test_an_acknowledged_case_has_the_plug_s_return_noted_once() -> None:
    # It stays with the person who took it: once noted (cleared_at), later ticks leave it alone.
    noted = offline_case(CaseStatus.ACKNOWLEDGED)
    noted.cleared_at = NOW - timedelta(seconds=30)
    assert decide(home(), [plug(True, 1)], noted, NOW) is None
    still_open = offline_case(CaseStatus.OPEN)
    still_open.cleared_at = NOW - timedelta(seconds=30)  # an open case is cleared whatever it says
    assert decide(home(), [plug(True, 1)], still_open, NOW) == Clear(case=still_open)


def test_a_case_in_another_status_is_not_cleared() -> None:
    for status in set(CaseStatus) - {CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED}:
        assert decide(home(), [plug(True, 1)], offline_case(status), NOW) is None


def test_no_plugs_clears_an_open_case() -> None:
    # No assigned plug is not "every plug offline": the case clears (the set query never picks such
    # a household, so this is the rule, not what a tick does).
    case = offline_case()
    assert decide(home(), [], case, NOW) == Clear(case=case)


def test_while_every_plug_is_still_offline_the_case_stays() -> None:
    assert decide(home(), [plug(False, 90), plug(False, 10)], offline_case(), NOW) is None
