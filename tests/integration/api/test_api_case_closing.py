"""Issue 17, item 2: closing a case cannot tell the family she is safe by accident.

No default outcome (a resolve without one is a precise 422), the family's text for each outcome
can be read before it is sent, and a household still silent after its case closed stays in view.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session, select

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseStatus, MonitoringState, WatchStatus
from core.models import Case, Contact, Household, Watch
from tests.integration.api.conftest import World, add_notification

Auth = Callable[[str], dict[str, str]]


@pytest.mark.parametrize("body", [{}, {"note": "she is fine"}, {"code": "", "note": ""}, {"code": None}])
def test_resolve_without_an_outcome_is_refused_and_changes_nothing(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, body: dict[str, object]
) -> None:
    response = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve", json=body, headers=auth("caseworker_own")
    )
    assert response.status_code == 422
    (problem,) = response.json()["detail"]
    assert problem["loc"] == ["body", "code"] and problem["type"] == "outcome_required"
    with Session(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None and case.status == CaseStatus.OPEN and case.resolution_code is None


def _tell_family(engine: Engine, world: World, clock: ManualClock) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        contact = session.exec(select(Contact).where(Contact.household_id == world.household_a)).one()
        assert case is not None
        add_notification(session, case, clock, recipient_id=contact.id, to_address=contact.phone)


@pytest.mark.parametrize(
    ("code", "says"),
    [
        ("resident_fine", "어르신께서 괜찮으신 것으로 확인되었습니다"),
        ("hospital", "병원에 계신 것으로 확인되어"),
        ("found_in_need", "종결되었습니다. 자세한 내용은 담당 복지사"),
    ],
)
def test_each_outcome_shows_what_the_family_will_be_told(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock, code: str, says: str
) -> None:
    url = f"/api/v1/cases/{world.case_a}/closure-preview"
    nobody = app_client.get(url, params={"code": code}, headers=auth("caseworker_own")).json()
    assert nobody == {"code": code, "family_told": 0, "language": None, "message": None}
    _tell_family(engine, world, clock)
    preview = app_client.get(url, params={"code": code}, headers=auth("caseworker_own")).json()
    assert preview["family_told"] == 1 and preview["language"] == "ko"
    assert says in preview["message"]
    with Session(engine) as session:  # a preview sends and changes nothing
        case = session.get(Case, world.case_a)
        assert case is not None and case.status == CaseStatus.OPEN


def test_households_still_quiet_after_their_case_closed_stay_in_view(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        for household_id in (world.household_a, world.household_a2):
            session.add(
                Watch(
                    household_id=household_id,
                    status=WatchStatus.OVERDUE,
                    last_activity_at=clock.now() - timedelta(hours=12),
                    alert_after=clock.now() - timedelta(hours=2),
                    updated_at=clock.now(),
                )
            )
        paused = session.get(Household, world.household_a2)
        assert paused is not None
        paused.monitoring = MonitoringState.PAUSED  # meant to be quiet: not listed
    quiet = "/api/v1/quiet-after-closing"
    assert app_client.get(quiet, headers=auth("caseworker_own")).json() == {"items": []}  # case_a is open

    resolved = app_client.post(
        f"/api/v1/cases/{world.case_a}/resolve",
        json={"code": "resident_fine", "note": ""},
        headers=auth("caseworker_own"),
    )
    assert resolved.status_code == 200
    (item,) = app_client.get(quiet, headers=auth("caseworker_own")).json()["items"]
    assert item["household_id"] == world.household_a and item["case_id"] == world.case_a
    assert item["resolution_code"] == "resident_fine" and item["last_sign_at"] is not None
    assert app_client.get(quiet, headers=auth("caseworker_other")).json() == {"items": []}  # other team

    with session_scope(engine) as session:  # a sign of life: the watch is up again
        watch = session.get(Watch, world.household_a)
        assert watch is not None
        watch.status, watch.last_activity_at = WatchStatus.UP, clock.now()
    assert app_client.get(quiet, headers=auth("caseworker_own")).json() == {"items": []}
