"""Issue 17, item 1: the family status page never says "as usual" when it is not true.

Reproduces the report: a case resolved as 입원 (hospital), or as "all fine", with the last sign
of life 12 h old and the household's usual quiet long over — the page said "평소처럼 생활하고
계십니다". Now the outcome speaks, with the caseworker's number where a person must explain.
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
from core.enums import WatchStatus
from core.models import Contact, Watch
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]
USUAL = "평소처럼 생활하고 계십니다"
CASEWORKER_PHONE = "+821055500001"  # tests.factories.make_user's default


def _watch(
    engine: Engine, household_id: int, clock: ManualClock, *, hours_quiet: float, overdue: bool
) -> None:
    with session_scope(engine) as session:
        last = clock.now() - timedelta(hours=hours_quiet)
        session.merge(
            Watch(
                household_id=household_id,
                status=WatchStatus.OVERDUE if overdue else WatchStatus.UP,
                last_activity_at=last,
                alert_after=clock.now() - timedelta(hours=1) if overdue else clock.now() + timedelta(hours=6),
                updated_at=clock.now(),
            )
        )


def _status_path(client: TestClient, auth: Auth, engine: Engine, household_id: int) -> str:
    with Session(engine) as session:
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == household_id)).first()
    response = client.post(
        f"/api/v1/households/{household_id}/status-links",
        json={"contact_id": contact_id},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url.removeprefix("https://care.example.org")


def _resolve(client: TestClient, auth: Auth, case_id: int, code: str) -> None:
    response = client.post(
        f"/api/v1/cases/{case_id}/resolve", json={"code": code, "note": ""}, headers=auth("caseworker_own")
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("hospital", "병원에 계십니다"),
        ("resident_fine", "안부를 확인했습니다. 그 뒤로는 아직 생활 신호가 없습니다"),
        ("false_alarm_device", "안부를 확인했습니다. 그 뒤로는 아직 생활 신호가 없습니다"),
        ("found_in_need", "자세한 내용은 담당 복지사가 안내해 드립니다"),
    ],
)
def test_after_each_outcome_a_12h_silence_is_not_as_usual(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    clock: ManualClock,
    code: str,
    expected: str,
) -> None:
    _watch(engine, world.household_a, clock, hours_quiet=12, overdue=True)
    path = _status_path(app_client, auth, engine, world.household_a)
    _resolve(app_client, auth, world.case_a, code)

    page = app_client.get(path).text
    assert USUAL not in page
    assert expected in page
    assert "3월 1일 21시경" in page  # the 12 h old sign of life (Seoul) is still shown
    assert "기준 시각" in page and "3월 2일 09:00" in page  # "updated at", to the minute
    if code != "resident_fine" and code != "false_alarm_device":
        assert f'href="tel:{CASEWORKER_PHONE}"' in page  # whom to call, tap to call

    # She is back: a sign of life after the closure, within the usual rhythm again.
    clock.advance(timedelta(hours=1))
    _watch(engine, world.household_a, clock, hours_quiet=0.5, overdue=False)
    assert USUAL in app_client.get(path).text


def test_hospital_in_english(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    _watch(engine, world.household_a, clock, hours_quiet=12, overdue=True)
    path = _status_path(app_client, auth, engine, world.household_a)
    _resolve(app_client, auth, world.case_a, "hospital")
    page = app_client.get(path + "?lang=en").text
    assert "In hospital" in page and "as usual" not in page


def test_no_case_but_longer_than_the_usual_quiet_is_not_as_usual(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    path = _status_path(app_client, auth, engine, world.household_a2)
    assert "아직 생활 신호가 확인되지 않았습니다" in app_client.get(path).text  # no sign ever: not "usual"
    _watch(engine, world.household_a2, clock, hours_quiet=12, overdue=True)
    page = app_client.get(path).text
    assert USUAL not in page and "평소보다 오래 생활 신호가 없습니다" in page
    _watch(engine, world.household_a2, clock, hours_quiet=2, overdue=False)
    assert USUAL in app_client.get(path).text
