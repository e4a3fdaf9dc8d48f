"""GET /api/v1/households, /cases, /cases/{id}: filters, pagination, ordering, detail, 422s."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallOutcome, CallStatus, CaseKind, CaseStatus, ResolutionCode, Severity
from core.models import Case, Household, Resident
from notifier import lifecycle
from tests.factories import EPOCH, make_watch
from tests.integration.api.conftest import World, add_call, add_notification, open_case

Auth = Callable[[str], dict[str, str]]


def _get(client: TestClient, path: str, headers: dict[str, str]) -> dict:  # type: ignore[type-arg]
    response = client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.fixture
def varied(engine: Engine, world: World, clock: ManualClock) -> dict[str, int]:
    """More cases in team A: one per kind/severity/status combination we filter on."""
    with session_scope(engine) as session:
        clock.advance(timedelta(minutes=1))
        critical = open_case(
            session, world.household_a, clock, kind=CaseKind.HELP_REQUESTED, severity=Severity.CRITICAL
        )
        clock.advance(timedelta(minutes=1))
        offline = open_case(
            session, world.household_a2, clock, kind=CaseKind.DEVICE_OFFLINE, severity=Severity.WATCH
        )
        clock.advance(timedelta(minutes=1))
        resolved = open_case(
            session, world.household_a2, clock, kind=CaseKind.INACTIVITY, severity=Severity.ALERT
        )
        lifecycle.resolve(
            session, resolved, actor="user:x", code=ResolutionCode.RESIDENT_FINE, note=None, now=clock.now()
        )
        return {"critical": _id(critical), "offline": _id(offline), "resolved": _id(resolved)}


def _id(case: Case) -> int:
    assert case.id is not None
    return case.id


def test_cases_are_ordered_most_severe_then_longest_waiting(
    app_client: TestClient, world: World, varied: dict[str, int], auth: Auth
) -> None:
    body = _get(app_client, "/api/v1/cases", auth("admin"))
    ids = [item["id"] for item in body["items"]]
    # critical first; the two ALERT cases (a, b opened first, then resolved) by opened_at; WATCH last.
    assert ids == [varied["critical"], world.case_a, world.case_b, varied["resolved"], varied["offline"]]
    assert body["total"] == 5


FILTERS: dict[str, set[str]] = {
    "status=open": {"case_a", "critical", "offline"},
    "status=resolved": {"resolved"},
    "status=open&status=resolved": {"case_a", "critical", "offline", "resolved"},
    "kind=device_offline": {"offline"},
    "severity=critical": {"critical"},
    "severity=alert": {"case_a", "resolved"},
    "kind=inactivity&status=open": {"case_a"},
    "": {"case_a", "critical", "offline", "resolved"},
}


def test_case_filters(app_client: TestClient, world: World, varied: dict[str, int], auth: Auth) -> None:
    ids_to_name = {v: k for k, v in {**varied, "case_a": world.case_a}.items()}
    actual: dict[str, set[str]] = {}
    for query in FILTERS:
        body = _get(app_client, f"/api/v1/cases?{query}", auth("caseworker_own"))
        actual[query] = {ids_to_name[item["id"]] for item in body["items"]}
        assert body["total"] == len(body["items"]), query
    assert actual == FILTERS


def test_household_filter(app_client: TestClient, world: World, varied: dict[str, int], auth: Auth) -> None:
    body = _get(app_client, f"/api/v1/cases?household_id={world.household_a2}", auth("admin"))
    assert {item["id"] for item in body["items"]} == {varied["offline"], varied["resolved"]}
    # Another team's household filtered by a caseworker: nothing, not an error.
    body = _get(app_client, f"/api/v1/cases?household_id={world.household_b}", auth("caseworker_own"))
    assert body == {"items": [], "total": 0, "limit": 50, "offset": 0}


def test_pagination_is_stable_and_total_is_the_full_count(
    app_client: TestClient, world: World, varied: dict[str, int], auth: Auth
) -> None:
    everything = [i["id"] for i in _get(app_client, "/api/v1/cases?limit=200", auth("admin"))["items"]]
    pages: list[int] = []
    for offset in range(0, 6, 2):
        body = _get(app_client, f"/api/v1/cases?limit=2&offset={offset}", auth("admin"))
        assert body["total"] == 5
        assert body["limit"] == 2
        assert body["offset"] == offset
        pages.extend(i["id"] for i in body["items"])
    assert pages == everything
    beyond = _get(app_client, "/api/v1/cases?offset=50", auth("admin"))
    assert beyond["items"] == []
    assert beyond["total"] == 5


def test_household_pagination(app_client: TestClient, world: World, auth: Auth) -> None:
    first = _get(app_client, "/api/v1/households?limit=2", auth("admin"))
    second = _get(app_client, "/api/v1/households?limit=2&offset=2", auth("admin"))
    assert first["total"] == second["total"] == 3
    ids = [i["id"] for i in first["items"]] + [i["id"] for i in second["items"]]
    assert sorted(ids) == sorted({world.household_a, world.household_a2, world.household_b})


def test_household_items_carry_watch_and_open_case_count(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        make_watch(
            session,
            household,
            last_activity_at=clock.now() - timedelta(hours=3),
            alert_after=clock.now() + timedelta(hours=9),
        )
    items = {i["id"]: i for i in _get(app_client, "/api/v1/households", auth("admin"))["items"]}
    a = items[world.household_a]
    assert a["watch_status"] == "new"
    assert a["last_activity_at"] == "2026-03-01T21:00:00Z"
    assert a["alert_after"] == "2026-03-02T09:00:00Z"
    assert a["open_cases"] == 1
    assert a["timezone"] == "Asia/Seoul"
    assert a["monitoring"] == "active"
    assert items[world.household_a2]["watch_status"] is None
    assert items[world.household_a2]["open_cases"] == 0


def test_case_list_items_summarise_what_was_done(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        add_call(session, case, clock, status=CallStatus.NO_ANSWER, outcome=CallOutcome.NO_ANSWER)
        add_notification(session, case, clock)
    [item] = _get(app_client, f"/api/v1/cases?household_id={world.household_a}", auth("admin"))["items"]
    assert item["household_code"]
    assert item["household_timezone"] == "Asia/Seoul"
    assert item["explanation"] == "no kettle since 07:10"
    assert [(c["status"], c["outcome"]) for c in item["calls"]] == [("no-answer", "no_answer")]
    assert [(n["channel"], n["status"], n["recipient_kind"]) for n in item["notifications"]] == [
        ("sms", "sent", "contact")
    ]
    # The queue never carries message bodies or phone numbers.
    assert "secret body text" not in str(item)
    assert "+8210" not in str(item)


def test_case_detail_has_events_calls_and_masked_notifications(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        add_call(session, case, clock, transcript="네 괜찮아요", outcome=CallOutcome.OK, confidence=0.91)
        add_notification(session, case, clock, to_address="+821077700101")
    clock.advance(timedelta(minutes=5))
    assert (
        app_client.post(
            f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("caseworker_own")
        ).status_code
        == 200
    )
    clock.advance(timedelta(minutes=1))
    note = app_client.post(
        f"/api/v1/cases/{world.case_a}/notes", json={"text": "visited"}, headers=auth("admin")
    )
    assert note.status_code == 201

    detail = _get(app_client, f"/api/v1/cases/{world.case_a}", auth("caseworker_own"))
    assert detail["status"] == "acknowledged"
    assert detail["acknowledged_by"] == "user:caseworker-own"
    assert [e["type"] for e in detail["events"]] == ["opened", "acknowledged", "note"]
    assert detail["events"][2]["data"] == {"text": "visited"}
    [call] = detail["calls"]
    assert (call["outcome"], call["transcript"], call["confidence"]) == ("ok", "네 괜찮아요", 0.91)
    assert call["to"] == "+8210****5678"
    [notification] = detail["notifications"]
    assert notification["to"] == "+8210****0101"
    assert notification["template"] == "family_alert"
    assert "body" not in notification


def test_case_detail_names_whom_it_is_about_with_her_number_and_address(
    app_client: TestClient, world: World, engine: Engine, auth: Auth
) -> None:
    """Issue 17: the case header leads with the person (name, birth year, a number to ring,
    the address); an erased resident is left out."""
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        household.address = "서울 강남구 역삼로 12"
        resident = session.exec(select(Resident).where(Resident.household_id == world.household_a)).one()
        resident.name, resident.birth_year = "김순자", 1942
        session.add(Resident(household_id=world.household_a, name="", phone=None, erased_at=EPOCH))
    detail = _get(app_client, f"/api/v1/cases/{world.case_a}", auth("caseworker_own"))
    assert detail["residents"] == [{"name": "김순자", "phone": "+821012345678", "birth_year": 1942}]
    assert detail["household_address"] == "서울 강남구 역삼로 12"


def test_cases_of_other_households_are_not_mixed_in(
    app_client: TestClient, world: World, engine: Engine, clock: ManualClock, auth: Auth
) -> None:
    with session_scope(engine) as session:
        case_b = session.get(Case, world.case_b)
        assert case_b is not None
        add_call(session, case_b, clock)
    detail = _get(app_client, f"/api/v1/cases/{world.case_a}", auth("admin"))
    assert detail["calls"] == []
    assert detail["notifications"] == []


def test_acknowledged_and_open_statuses_for_the_dashboard_queue(
    app_client: TestClient, world: World, varied: dict[str, int], auth: Auth
) -> None:
    app_client.post(f"/api/v1/cases/{world.case_a}/acknowledge", headers=auth("admin"))
    body = _get(app_client, "/api/v1/cases?status=open&status=acknowledged", auth("caseworker_own"))
    statuses = {item["id"]: item["status"] for item in body["items"]}
    assert statuses == {
        world.case_a: CaseStatus.ACKNOWLEDGED.value,
        varied["critical"]: "open",
        varied["offline"]: "open",
    }
