"""The household page's API: detail, activity against the routine, away mode, team filters."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, EdgeKind, MonitoringState
from core.models import ActivityEdge, Case, Household, Watch
from tests.factories import make_device
from tests.integration.api.conftest import World, open_case

Auth = Callable[[str], dict[str, str]]
H = timedelta(hours=1)


def _add_edges(
    engine: Engine, household_id: int, stamps: list[datetime], kind: EdgeKind = EdgeKind.ON
) -> None:
    with session_scope(engine) as session:
        household = session.get(Household, household_id)
        device = make_device(session, household=household, appliance="kettle")
        assert device.id is not None
        device.online = True
        device.last_power_w = 1800.0
        device.last_reading_at = stamps[-1]
        session.add(device)
        for ts in stamps:
            session.add(
                ActivityEdge(household_id=household_id, device_id=device.id, ts=ts, kind=kind, power_w=1800)
            )


def test_detail_shows_people_devices_and_case_history(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _add_edges(engine, world.household_a, [clock.now() - timedelta(hours=2)])
    with session_scope(engine) as session:
        open_case(session, world.household_a, clock, kind=CaseKind.DEVICE_OFFLINE)
    body = app_client.get(f"/api/v1/households/{world.household_a}", headers=auth("caseworker_own")).json()
    assert body["id"] == world.household_a
    assert [r["phone"] for r in body["residents"]] == ["+821012345678"]
    assert len(body["contacts"]) == 1 and body["contacts"][0]["relation"] == "daughter"
    assert [(d["appliance"], d["online"], d["last_power_w"]) for d in body["devices"]] == [
        ("kettle", True, 1800.0)
    ]
    assert {c["kind"] for c in body["cases"]} == {"inactivity", "device_offline"}
    assert body["open_cases"] == 2


def test_a_plug_whose_clock_is_wrong_is_shown_to_staff(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    """Issue 14.2: the gateway learns each plug's clock offset; beyond 5 minutes it is a device
    problem staff see on the household page (the dashboard says "시계 오류: 1일 늦음")."""
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        wrong = make_device(session, household=household, external_id="fell-back", appliance="kettle")
        wrong.clock_offset_s = 86400.0
        right = make_device(session, household=household, external_id="right", appliance="tv")
        right.clock_offset_s = 0.4
        session.add_all([wrong, right])
    body = app_client.get(f"/api/v1/households/{world.household_a}", headers=auth("caseworker_own")).json()
    clocks = {d["external_id"]: (d["clock_offset_s"], d["clock_wrong"]) for d in body["devices"]}
    assert clocks == {"fell-back": (86400.0, True), "right": (0.4, False)}


def test_activity_counts_recent_switch_ons_against_the_routine_week(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    now = clock.now()  # Monday 2026-03-02 00:00 UTC = Monday 09:00 in Seoul
    assert now == datetime(2026, 3, 2, tzinfo=UTC)
    # Every day of the 4 routine weeks: kettle at 07:xx Seoul time (22:xx UTC the day before).
    routine = [now - timedelta(days=7 + d, hours=1, minutes=30) for d in range(28)]
    recent = [now - timedelta(days=1, hours=1, minutes=30)]  # Sunday 07:30 Seoul, once this week
    _add_edges(engine, world.household_a, routine + recent)
    _add_edges(engine, world.household_a, [now - timedelta(hours=3)], kind=EdgeKind.OFF)  # offs don't count

    body = app_client.get(
        f"/api/v1/households/{world.household_a}/activity", params={"days": 7}, headers=auth("admin")
    ).json()
    assert body["timezone"] == "Asia/Seoul" and body["days"] == 7 and body["routine_weeks"] == 4
    recent_grid, routine_grid = body["recent"], body["routine"]
    assert sum(map(sum, recent_grid)) == 1 and recent_grid[6][7] == 1  # Sunday, 07:00 local
    assert all(routine_grid[day][7] == 1.0 for day in range(7))  # once a day, every day, on average
    assert sum(map(sum, routine_grid)) == 7.0


def test_the_usual_week_says_when_it_lacks_the_history_to_be_drawn(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    """The 30-day view's usual week averages days 30-58 ago; with less history it was blank with
    no word why. The API says from when the history starts and from when it will be complete."""
    now = clock.now()
    url = f"/api/v1/households/{world.household_a}/activity"

    def view(days: int) -> dict[str, object]:
        body: dict[str, object] = app_client.get(url, params={"days": days}, headers=auth("admin")).json()
        return body

    nothing = view(30)
    assert nothing["routine_complete"] is False
    assert nothing["history_since"] is None and nothing["routine_full_from"] is None

    first = now - timedelta(days=40)
    _add_edges(engine, world.household_a, [first + timedelta(days=d) for d in range(40)])
    month, week = view(30), view(7)
    assert datetime.fromisoformat(str(month["routine_since"])) == now - timedelta(days=58)
    assert datetime.fromisoformat(str(month["history_since"])) == first
    assert month["routine_complete"] is False
    assert datetime.fromisoformat(str(month["routine_full_from"])) == first + timedelta(days=58)
    assert week["routine_complete"] is True  # 7 days + 4 weeks = 35 days <= 40 days of history


def test_pause_sets_away_mode_until_a_date_and_resume_ends_it(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    until = clock.now() + timedelta(days=5)
    response = app_client.post(
        f"/api/v1/households/{world.household_a}/pause",
        json={"until": until.isoformat()},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 200
    assert response.json()["monitoring"] == "paused"
    with Session(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        assert household.monitoring == MonitoringState.PAUSED and household.paused_until == until
    response = app_client.post(
        f"/api/v1/households/{world.household_a}/resume", headers=auth("caseworker_own")
    )
    assert response.json()["monitoring"] == "active" and response.json()["paused_until"] is None


def test_pause_refuses_past_naive_or_too_distant_dates_and_changes_nothing(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    path = f"/api/v1/households/{world.household_a}/pause"
    cases = {
        (clock.now() - timedelta(minutes=1)).isoformat(): "future",
        (clock.now() + timedelta(days=181)).isoformat(): "180 days",
        "2026-03-05T09:00:00": "timezone",
        "next tuesday": "datetime",
    }
    for until, words in cases.items():
        response = app_client.post(path, json={"until": until}, headers=auth("admin"))
        assert response.status_code == 422, until
        assert words in str(response.json()["detail"]), (until, response.json())
    with Session(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None and household.monitoring == MonitoringState.ACTIVE


def test_team_filters_narrow_lists_but_never_widen_them(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    with Session(engine) as session:
        team_a = session.get(Household, world.household_a)
        team_b = session.get(Household, world.household_b)
        assert team_a is not None and team_b is not None
        a, b = team_a.team_id, team_b.team_id

    def ids(path: str, who: str, team: int) -> set[int]:
        response = app_client.get(path, params={"team_id": team}, headers=auth(who))
        assert response.status_code == 200
        return {item["id"] for item in response.json()["items"]}

    assert ids("/api/v1/cases", "admin", b) == {world.case_b}
    assert ids("/api/v1/households", "control_room", a) == {world.household_a, world.household_a2}
    assert ids("/api/v1/cases", "caseworker_own", b) == set()  # another team: filter cannot widen
    assert ids("/api/v1/households", "caseworker_own", b) == set()


def _seoul(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    """A Seoul wall-clock time in 2026 as aware UTC (Seoul is UTC+9, no DST)."""
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=9)


def test_day_view_counts_one_local_day_against_the_same_weekday(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    assert clock.now() == _seoul(2, 9)  # Monday 2 March 2026, 09:00 in Seoul
    today = [_seoul(2, 7, 30), _seoul(2, 8, 45)]
    yesterday = [_seoul(1, 7, 0)]  # Sunday: neither today nor a Monday
    mondays = [_seoul(23, 7, 10, month=2), _seoul(16, 7, 5, month=2), _seoul(9, 7, 0, month=2)]
    mondays += [_seoul(2, 7, 20, month=2), _seoul(23, 19, 0, month=2)]
    too_old = [_seoul(26, 7, 0, month=1)]  # five Mondays back: not in the usual
    _add_edges(engine, world.household_a, too_old + mondays + yesterday + today)
    url = f"/api/v1/households/{world.household_a}/activity/day"

    body = app_client.get(url, headers=auth("caseworker_own")).json()
    assert body["date"] == "2026-03-02" and body["timezone"] == "Asia/Seoul" and body["usual_weeks"] == 4
    assert [(h, n) for h, n in enumerate(body["hours"]) if n] == [(7, 1), (8, 1)]
    assert [(h, u) for h, u in enumerate(body["usual"]) if u] == [(7, 1.0), (19, 0.25)]
    assert [(s["appliance"], s["at"]) for s in body["switch_ons"]] == [
        ("kettle", "2026-03-01T22:30:00Z"),
        ("kettle", "2026-03-01T23:45:00Z"),
    ]
    sunday = app_client.get(url, params={"date": "2026-03-01"}, headers=auth("admin")).json()
    assert [(h, n) for h, n in enumerate(sunday["hours"]) if n] == [(7, 1)]

    future = app_client.get(url, params={"date": "2026-03-03"}, headers=auth("admin"))
    assert future.status_code == 422 and future.json()["detail"][0]["type"] == "date_in_future"
    ancient = app_client.get(url, params={"date": "0001-01-01"}, headers=auth("admin"))
    assert ancient.status_code == 422 and ancient.json()["detail"][0]["type"] == "date_out_of_range"
    other_team = app_client.get(url, headers=auth("caseworker_other"))
    assert other_team.status_code == 404 and other_team.json()["code"] == "household_not_found"


def test_detail_says_what_the_detector_has_learned(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    from anomaly.routine import HOURS_PER_WEEK, FitParams, Routine
    from core.models import RoutineModel

    url = f"/api/v1/households/{world.household_a}"
    learning = app_client.get(url, headers=auth("caseworker_own")).json()["routine"]
    assert learning == {
        "learned": False,
        "days_needed": FitParams().min_days,
        "days_used": 0,
        "fitted_at": None,
        "latest_usual_start": None,
        "confirmed_false_alarms": 0,
    }
    fitted = clock.now() - timedelta(hours=9)
    routine = Routine(
        timezone="Asia/Seoul",
        fitted_at=int(fitted.timestamp()),
        days_used=23,
        days_excluded=["2026-02-14"],
        p_active=[0.5] * HOURS_PER_WEEK,
        quiet_gap_h=[6.0] * HOURS_PER_WEEK,
        first_activity_latest_min=7 * 60 + 35,
        confirmed_false_alarms=2,
    )
    with session_scope(engine) as session:
        session.add(
            RoutineModel(
                household_id=world.household_a, fitted_at=fitted, days_used=23, model=routine.to_json()
            )
        )
    learned = app_client.get(url, headers=auth("caseworker_own")).json()["routine"]
    assert learned["learned"] is True
    assert (learned["days_used"], learned["latest_usual_start"], learned["confirmed_false_alarms"]) == (
        23,
        "07:35",
        2,
    )
    assert datetime.fromisoformat(learned["fitted_at"]) == fitted


def test_detail_shows_the_ladder_stage_now(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    """Watch and warning (staff only) come from the learned routine; none without one or while away."""
    from anomaly.routine import HOURS_PER_WEEK, Routine
    from core.enums import WatchStatus
    from core.models import RoutineModel
    from tests.factories import make_watch

    url = f"/api/v1/households/{world.household_a}"
    now = clock.now()
    last = now - timedelta(hours=7)
    with session_scope(engine) as session:
        household = session.get_one(Household, world.household_a)
        make_watch(session, household, status=WatchStatus.UP, last_activity_at=last, alert_after=now + 5 * H)

    def stage() -> tuple[str | None, datetime | None]:
        body = app_client.get(url, headers=auth("caseworker_own")).json()
        since = body["stage_since"]
        return body["stage"], datetime.fromisoformat(since) if since else None

    assert stage() == (None, None)  # no routine: the fixed rule has no early stages
    routine = Routine(
        timezone="Asia/Seoul",
        fitted_at=int(now.timestamp()),
        days_used=20,
        days_excluded=[],
        p_active=[0.5] * HOURS_PER_WEEK,  # half an hour of missed activity per quiet hour
        quiet_gap_h=[6.0] * HOURS_PER_WEEK,
    )
    with session_scope(engine) as session:
        session.add(
            RoutineModel(household_id=world.household_a, fitted_at=now, days_used=20, model=routine.to_json())
        )
    # Past the usual 6 h gap with 3 h of missed activity: warning, reached at the 6 h mark.
    assert stage() == ("warning", last + 6 * H)
    with session_scope(engine) as session:
        watch = session.get_one(Watch, world.household_a)
        watch.last_activity_at = now - timedelta(hours=2)  # within the usual gap
        session.add(watch)
    assert stage() == (None, None)
    with session_scope(engine) as session:
        household = session.get_one(Household, world.household_a)
        household.monitoring, household.paused_until = MonitoringState.PAUSED, now + 24 * H
        session.add(household)
        watch = session.get_one(Watch, world.household_a)
        watch.last_activity_at = last
        session.add(watch)
    assert stage() == (None, None)  # away: no stage at all


def test_the_household_page_names_the_severity_the_queue_names(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    """An overdue household's inactivity case raised to critical: the page said 경보 (alert, the
    ladder's stage when it went overdue) where the queue said 긴급 (the case's severity)."""
    from core.enums import Severity, WatchStatus
    from notifier import lifecycle
    from tests.factories import make_watch

    now = clock.now()
    with session_scope(engine) as session:
        household = session.get_one(Household, world.household_a)
        make_watch(
            session,
            household,
            status=WatchStatus.OVERDUE,
            last_activity_at=now - 20 * H,
            alert_after=now - 2 * H,
        )
    headers = auth("caseworker_own")
    url = f"/api/v1/households/{world.household_a}"
    assert app_client.get(url, headers=headers).json()["stage"] == "alert"

    clock.advance(H)
    with session_scope(engine) as session:
        case = session.get_one(Case, world.case_a)
        lifecycle.raise_severity(session, case, severity=Severity.CRITICAL, reason="test", now=clock.now())
    headers = auth("caseworker_own")  # a fresh token: the first is an hour old
    queue = app_client.get("/api/v1/cases", headers=headers).json()["items"]
    page = app_client.get(url, headers=headers).json()
    assert [i["severity"] for i in queue if i["id"] == world.case_a] == ["critical"]
    assert page["stage"] == "critical"
    assert datetime.fromisoformat(page["stage_since"]) == clock.now()
