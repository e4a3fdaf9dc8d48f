"""Issue 17, item 10: the district overview — per team and 동, households in each state, and the
list behind every number (the same rows, so a number and its list agree), scoped by team."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, CaseStatus, MonitoringState, Severity, WatchStatus
from core.models import Household, Team
from notifier import lifecycle
from tests.factories import make_device, make_household, make_watch
from tests.integration.api.conftest import World, open_case

Auth = Callable[[str], dict[str, str]]
YEOKSAM = "서울특별시 강남구 테헤란로 152 (역삼동)"
DOGOK = "서울특별시 강남구 도곡동 411"


def _household(session: Session, team_id: int, address: str, **watch: Any) -> Household:
    team = session.get(Team, team_id)
    household = make_household(session, team=team)
    household.address = address
    session.add(household)
    session.flush()
    if watch:
        make_watch(session, household, **watch)
    return household


def _district(engine: Engine, world: World, clock: ManualClock) -> dict[str, str]:
    """Team A (world.household_a: alert case; household_a2: nothing) plus, by name → code:"""
    with session_scope(engine) as session:
        team_a = session.get(Household, world.household_a)
        assert team_a is not None
        tid = team_a.team_id
        quiet = _household(session, tid, YEOKSAM, status=WatchStatus.OVERDUE)  # quiet, no case
        urgent = _household(session, tid, YEOKSAM, status=WatchStatus.OVERDUE)
        assert urgent.id is not None and quiet.id is not None
        case = open_case(session, urgent.id, clock, severity=Severity.ALERT)
        lifecycle.raise_severity(session, case, severity=Severity.CRITICAL, reason="help", now=clock.now())
        open_case(session, urgent.id, clock, severity=Severity.WARNING, kind=CaseKind.DEVICE_OFFLINE)
        offline = _household(session, tid, DOGOK, status=WatchStatus.UP)
        for _ in range(2):
            make_device(session, household=offline).online = False
        half = _household(session, tid, DOGOK, status=WatchStatus.UP)
        make_device(session, household=half).online = False
        make_device(session, household=half).online = True
        paused = _household(session, tid, DOGOK, status=WatchStatus.OVERDUE)
        paused.monitoring = MonitoringState.PAUSED
        erased = _household(session, tid, DOGOK, status=WatchStatus.OVERDUE)
        erased.erased_at = clock.now()
        closed = _household(session, tid, YEOKSAM, status=WatchStatus.UP)
        assert closed.id is not None
        old = open_case(session, closed.id, clock, severity=Severity.CRITICAL)
        old.status = CaseStatus.RESOLVED
        session.add_all([paused, erased, old])
        return {
            name: h.code
            for name, h in [
                ("quiet", quiet),
                ("urgent", urgent),
                ("offline", offline),
                ("half", half),
                ("paused", paused),
                ("closed", closed),
            ]
        }


def _codes(client: TestClient, headers: dict[str, str], **params: Any) -> list[str]:
    response = client.get("/api/v1/overview/households", params={"limit": 200, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["total"] == len(body["items"])
    return [item["household_code"] for item in body["items"]]


def test_counts_per_team_and_dong_and_the_lists_behind_them(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    codes = _district(engine, world, clock)
    headers = auth("admin")
    body = app_client.get("/api/v1/overview", headers=headers).json()
    (team_a,) = [t for t in body["teams"] if t["team_name"] == "Team A"]
    by_dong = {d["dong"]: d["counts"] for d in team_a["dongs"]}
    assert [d["dong"] for d in team_a["dongs"]] == ["도곡동", "역삼동", ""]  # none named: last
    assert by_dong["역삼동"] == {
        "households": 3,
        "watched": 3,
        "paused": 0,
        "quiet": 2,
        "stage_watch": 0,
        "stage_warning": 0,
        "stage_alert": 0,
        "stage_critical": 1,  # its most severe case only: the warning beside it is not counted
        "offline": 0,
        "quiet_after_closing": 1,  # quiet has no case; urgent has one; closed is not quiet
    }
    assert by_dong["도곡동"] == {
        "households": 3,  # the erased one is not counted anywhere
        "watched": 2,
        "paused": 1,
        "quiet": 0,  # the paused one is overdue but meant to be quiet
        "stage_watch": 0,
        "stage_warning": 0,
        "stage_alert": 0,
        "stage_critical": 0,
        "offline": 1,  # every plug offline; one of two offline is not
        "quiet_after_closing": 0,
    }
    assert by_dong[""]["households"] == 2 and by_dong[""]["stage_alert"] == 1  # the world's two
    assert team_a["counts"]["households"] == 8 and body["counts"]["households"] == 9  # + team B

    tid = team_a["team_id"]
    assert _codes(app_client, headers, measure="quiet_after_closing", team_id=tid, dong="역삼동") == [
        codes["quiet"]
    ]
    assert _codes(app_client, headers, measure="stage_critical", team_id=tid) == [codes["urgent"]]
    assert _codes(app_client, headers, measure="offline", team_id=tid, dong="도곡동") == [codes["offline"]]
    assert _codes(app_client, headers, measure="paused") == [codes["paused"]]
    # Every number of every group equals the length of its list.
    for dong, counts in by_dong.items():
        for measure, n in counts.items():
            assert len(_codes(app_client, headers, measure=measure, team_id=tid, dong=dong)) == n, (
                dong,
                measure,
            )


def test_a_caseworker_sees_only_their_team(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _district(engine, world, clock)
    body = app_client.get("/api/v1/overview", headers=auth("caseworker_other")).json()
    assert [t["team_name"] for t in body["teams"]] == ["Team B"]
    assert body["counts"]["households"] == 1
    with Session(engine) as session:
        household_a = session.get(Household, world.household_a)
        assert household_a is not None
        team_a = household_a.team_id
    asked = app_client.get(f"/api/v1/overview?team_id={team_a}", headers=auth("caseworker_other")).json()
    assert asked["teams"] == [] and asked["counts"]["households"] == 0
    assert _codes(app_client, auth("caseworker_other"), measure="households", team_id=team_a) == []
    assert len(_codes(app_client, auth("control_room"), measure="households")) == 9


def test_the_neighbourhood_follows_the_address(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    url = f"/api/v1/households/{world.household_a2}"
    response = app_client.patch(url, json={"address": DOGOK}, headers=auth("caseworker_own"))
    assert response.status_code == 200, response.text
    with Session(engine) as session:
        household = session.get(Household, world.household_a2)
        assert household is not None and household.dong == "도곡동"
    app_client.patch(url, json={"address": "no neighbourhood named"}, headers=auth("caseworker_own"))
    with Session(engine) as session:
        household = session.get(Household, world.household_a2)
        assert household is not None and household.dong == ""


def test_an_unknown_measure_is_a_precise_422(app_client: TestClient, world: World, auth: Auth) -> None:
    response = app_client.get("/api/v1/overview/households?measure=everyone", headers=auth("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "measure"]
