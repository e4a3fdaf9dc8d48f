"""Reports through the API: the caller's teams only, the period, and the CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import ManualClock
from core.db import session_scope
from core.models import Case
from notifier import lifecycle
from tests.integration.api.conftest import World

Auth = Callable[[str], dict[str, str]]


def test_reports_cover_the_callers_teams_and_period(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        lifecycle.clear(session, case, reason="resident_ok", now=clock.now())
    clock.advance(timedelta(hours=1))

    admin = app_client.get("/api/v1/reports", headers=auth("admin")).json()
    by_team = {t["team_name"]: t for t in admin["teams"]}
    assert by_team["Team A"]["cases_opened"] == 1 and by_team["Team A"]["cleared_by_resident"] == 1
    assert by_team["Team A"]["share_closed_without_staff"] == 1.0
    assert by_team["Team B"]["cases_opened"] == 1 and by_team["Team B"]["closed"] == 0

    own = app_client.get("/api/v1/reports", headers=auth("caseworker_own")).json()
    assert [t["team_name"] for t in own["teams"]] == ["Team A"]  # never another team's figures

    later = (clock.now() - timedelta(minutes=30)).isoformat()
    empty = app_client.get("/api/v1/reports", params={"since": later}, headers=auth("admin")).json()
    assert all(t["cases_opened"] == 0 for t in empty["teams"])


def test_report_period_is_checked(
    app_client: TestClient, world: World, auth: Auth, clock: ManualClock
) -> None:
    admin = auth("admin")
    now = clock.now()
    backwards = {"since": now.isoformat(), "until": (now - timedelta(days=1)).isoformat()}
    assert app_client.get("/api/v1/reports", params=backwards, headers=admin).status_code == 422
    too_long = {"since": (now - timedelta(days=400)).isoformat()}
    assert app_client.get("/api/v1/reports", params=too_long, headers=admin).status_code == 422
    naive = {"since": "2026-01-01T00:00:00"}
    assert app_client.get("/api/v1/reports", params=naive, headers=admin).status_code == 422


def test_csv_export_opens_in_excel(app_client: TestClient, world: World, auth: Auth) -> None:
    response = app_client.get("/api/v1/reports/export.csv", headers=auth("control_room"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    assert sorted(r["team_name"] for r in rows) == ["Team A", "Team B"]
    assert {r["cases_opened"] for r in rows} == {"1"}


def test_the_chart_figures_cover_the_same_cases_as_the_teams_shown(
    app_client: TestClient, world: World, auth: Auth, engine: Engine, clock: ManualClock
) -> None:
    with session_scope(engine) as session:
        case = session.get(Case, world.case_a)
        assert case is not None
        lifecycle.acknowledge(
            session, case, actor="user:caseworker-own", now=clock.now() + timedelta(minutes=3)
        )
    clock.advance(timedelta(hours=1))
    admin = app_client.get("/api/v1/reports", headers=auth("admin")).json()
    assert len(admin["weeks"]) == 5  # 30 days: four 7-day slices and two days
    assert sum(w["cases_opened"] for w in admin["weeks"]) == 2
    assert admin["weeks"][-1]["by_kind"] == {"inactivity": 2}
    acks = {b["key"]: b["cases"] for b in admin["time_to_acknowledge"]}
    assert acks["within_5"] == 1 and acks["never"] == 1
    other = app_client.get("/api/v1/reports", headers=auth("caseworker_other")).json()
    assert sum(w["cases_opened"] for w in other["weeks"]) == 1  # never another team's cases
    assert {b["key"]: b["cases"] for b in other["time_to_acknowledge"]}["within_5"] == 0
