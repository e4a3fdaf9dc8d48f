"""Every route of the app × every kind of caller → the expected status, checked by enumeration.

The routes are read from the app itself, so a new route without a rule here fails
``test_every_route_has_a_rule``. For each API route and caller the test also checks that a
refused request changes nothing and writes no audit entry, and that a successful change
changes something and an audited route leaves an entry (one per subject it touched).

Objects belong to team A: "caseworker_own" is in team A, "caseworker_other" in team B.
Not-visible objects answer 404, like missing ones.
"""

from __future__ import annotations

import itertools
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, col, select
from starlette.routing import Mount, Route

from api.status_links import new_token
from core.clock import ManualClock
from core.db import session_scope
from core.enums import DeviceVendor, MonitoringState, SystemIncidentKind
from core.models import (
    AuditEntry,
    Case,
    CaseAssignment,
    CaseEvent,
    CheckinSchedule,
    Contact,
    Device,
    Household,
    MqttCredential,
    Organisation,
    Resident,
    StatusLink,
    SystemIncident,
    Team,
    User,
)
from core.settings import Settings
from gateway.auth import credentials
from notifier import webhook_urls
from tests.factories import make_device, make_household
from tests.integration.api.conftest import WHO, World, open_case

Auth = Callable[[str], dict[str, str]]
Ids = dict[str, Any]
_counter = itertools.count(1)


def _statuses(
    admin: int, own: int, other: int, control: int, family: int, anonymous: int = 401
) -> dict[str, int]:
    return {
        "admin": admin,
        "caseworker_own": own,
        "caseworker_other": other,
        "control_room": control,
        "family": family,
        "anonymous": anonymous,
    }


STAFF_LIST = _statuses(200, 200, 200, 200, 403)
STAFF_READ = _statuses(200, 200, 404, 200, 403)
MANAGE = _statuses(200, 200, 404, 403, 403)
ADMIN_ONLY = _statuses(200, 403, 403, 403, 403)


@dataclass(frozen=True)
class Rule:
    expected: dict[str, int]
    mutating: bool = False
    audited: bool = False
    # A fresh object per caller for mutating routes ("fresh_case", "fresh_household", "paused_household",
    # "fresh_resident").
    fixture: str = "world"
    json: dict[str, Any] | None = None
    params: dict[str, Any] = field(default_factory=dict)
    # Other request arguments (e.g. an upload) built from this run's ids.
    build: Callable[[Ids], dict[str, Any]] | None = None


def _households_csv(ids: Ids) -> dict[str, Any]:
    text = f"code,team_id,resident_name\nIMP-{ids['n']},{ids['team_a']},Test Resident\n"
    return {"files": {"file": ("households.csv", text.encode(), "text/csv")}}


def _contacts_csv(ids: Ids) -> dict[str, Any]:
    text = f"household_code,name,phone\n{ids['household_code']},Family,+821077700001\n"
    return {"files": {"file": ("contacts.csv", text.encode(), "text/csv")}}


def audited_write(expected: dict[str, int], **more: Any) -> Rule:
    """A mutating route whose every call is on the audit record."""
    return Rule(expected, mutating=True, audited=True, **more)


PAUSE_UNTIL = "2026-03-09T00:00:00+00:00"  # a week after the test clock's start

RULES: dict[tuple[str, str], Rule] = {
    ("GET", "/api/v1/auth/me"): Rule(_statuses(200, 200, 200, 200, 200)),
    # Ends the caller's own sessions (their token version): anyone signed in, about themselves only.
    ("POST", "/api/v1/auth/logout"): Rule(_statuses(204, 204, 204, 204, 204), mutating=True),
    ("GET", "/api/v1/teams"): Rule(STAFF_LIST),
    ("GET", "/api/v1/households"): Rule(STAFF_LIST),
    ("GET", "/api/v1/households/{household_id}"): Rule(STAFF_READ, audited=True),
    ("GET", "/api/v1/households/{household_id}/activity"): Rule(
        STAFF_READ, audited=True, params={"days": 30}
    ),
    ("GET", "/api/v1/households/{household_id}/activity/day"): Rule(STAFF_READ, audited=True),
    ("POST", "/api/v1/households/{household_id}/pause"): audited_write(
        MANAGE, fixture="fresh_household", json={"until": PAUSE_UNTIL}
    ),
    ("POST", "/api/v1/households/{household_id}/resume"): audited_write(MANAGE, fixture="paused_household"),
    ("POST", "/api/v1/households/{household_id}/status-links"): audited_write(
        _statuses(201, 201, 404, 403, 403),
        json={"contact_id": "{contact_id}", "days": 3},
    ),
    # When family members last opened their links is about the household: a view, audited.
    ("GET", "/api/v1/households/{household_id}/status-links"): Rule(MANAGE, audited=True),
    ("POST", "/api/v1/status-links/{status_link_id}/revoke"): audited_write(
        MANAGE, fixture="fresh_status_link"
    ),
    ("POST", "/api/v1/households/{household_id}/contacts"): audited_write(
        _statuses(201, 201, 404, 403, 403),
        json={"name": "Neighbour", "phone": "+821055512345"},
    ),
    ("PATCH", "/api/v1/contacts/{contact_id}"): audited_write(
        MANAGE, fixture="fresh_contact", json={"tier": 2}
    ),
    ("DELETE", "/api/v1/contacts/{contact_id}"): audited_write(
        _statuses(204, 204, 404, 403, 403), fixture="fresh_contact"
    ),
    ("GET", "/api/v1/cases"): Rule(STAFF_LIST),
    ("GET", "/api/v1/cases/{case_id}"): Rule(STAFF_READ, audited=True),
    # The 119 hand-off sheet: names, address, phone and words, so audited like the case page.
    ("GET", "/api/v1/cases/{case_id}/handoff"): Rule(STAFF_READ, audited=True),
    ("POST", "/api/v1/cases/{case_id}/acknowledge"): audited_write(STAFF_READ, fixture="fresh_case"),
    ("POST", "/api/v1/cases/{case_id}/resolve"): audited_write(
        MANAGE,
        fixture="fresh_case",
        json={"code": "resident_fine", "note": "spoke to her"},
    ),
    ("POST", "/api/v1/cases/{case_id}/notes"): audited_write(
        _statuses(201, 201, 404, 201, 403),
        fixture="fresh_case",
        json={"text": "n"},
    ),
    ("GET", "/api/v1/audit"): Rule(ADMIN_ONLY, audited=True),
    ("GET", "/api/v1/incidents"): Rule(STAFF_LIST),
    ("POST", "/api/v1/incidents/{incident_id}/acknowledge"): Rule(
        _statuses(200, 200, 200, 200, 403), mutating=True, fixture="fresh_incident"
    ),
    ("GET", "/api/v1/reports"): Rule(STAFF_LIST),
    # A download: one entry per team whose figures it carries.
    ("GET", "/api/v1/reports/export.csv"): Rule(STAFF_LIST, audited=True),
    ("GET", "/api/v1/devices/pending"): Rule(_statuses(200, 200, 200, 403, 403)),
    ("GET", "/api/v1/devices/identities"): Rule(ADMIN_ONLY),
    ("POST", "/api/v1/devices/identities"): audited_write(
        _statuses(201, 403, 403, 403, 403),
        json={"vendor": "native", "external_id": "{username}"},
    ),
    ("POST", "/api/v1/devices/identities/{identity_id}/rotate"): audited_write(
        ADMIN_ONLY, fixture="fresh_identity"
    ),
    ("POST", "/api/v1/devices/identities/{identity_id}/revoke"): audited_write(
        ADMIN_ONLY, fixture="fresh_identity"
    ),
    ("POST", "/api/v1/devices/{device_id}/assign"): audited_write(
        MANAGE,
        fixture="pending_device",
        json={"household_id": "{household_id}", "appliance": "kettle"},
    ),
    # Another team's caseworker gets a row-level 422 (team A is not theirs) and nothing is written.
    ("POST", "/api/v1/import/households"): audited_write(
        _statuses(200, 200, 422, 403, 403), build=_households_csv
    ),
    ("POST", "/api/v1/import/contacts"): audited_write(
        _statuses(200, 200, 422, 403, 403), build=_contacts_csv
    ),
    # Assignment and field visits: the household's team (and admins), not the control room.
    ("POST", "/api/v1/cases/{case_id}/assign"): audited_write(
        MANAGE, fixture="fresh_case", json={"user_id": "{member_id}"}
    ),
    # The assignment picker: id and display name only, so not a personal-data view (no audit entry).
    ("GET", "/api/v1/cases/{case_id}/assignees"): Rule(MANAGE),
    ("GET", "/api/v1/cases/{case_id}/closure-preview"): Rule(MANAGE, params={"code": "hospital"}),
    ("GET", "/api/v1/quiet-after-closing"): Rule(STAFF_LIST),
    # The district overview: counts and household codes, scoped like the queue (not audited).
    ("GET", "/api/v1/overview"): Rule(STAFF_LIST),
    ("GET", "/api/v1/overview/households"): Rule(STAFF_LIST, params={"measure": "watched"}),
    # Live notices of new 긴급 cases: a stream, asked here to close after its first event.
    ("GET", "/api/v1/live/urgent"): Rule(STAFF_LIST, params={"seconds": 0}),
    # The caller's own dashboard preferences (a change to their account: on the record).
    ("PATCH", "/api/v1/auth/me/preferences"): audited_write(
        _statuses(200, 200, 200, 200, 403), json={"urgent_sound": False}
    ),
    ("POST", "/api/v1/cases/{case_id}/field-visits"): audited_write(
        _statuses(201, 201, 404, 403, 403),
        fixture="fresh_case",
        json={"visited_at": "{now}", "note": "she was at the market", "visitor_user_id": "{member_id}"},
    ),
    # Users, teams, organisations and the escalation policy are the admin's.
    ("GET", "/api/v1/users"): Rule(ADMIN_ONLY, audited=True),
    ("POST", "/api/v1/users"): audited_write(
        _statuses(201, 403, 403, 403, 403),
        json={"username": "{username}", "password": "long enough pw", "role": "control_room"},
    ),
    ("PATCH", "/api/v1/users/{user_id}"): audited_write(ADMIN_ONLY, json={"display_name": "{label}"}),
    ("GET", "/api/v1/teams/{team_id}/members"): Rule(STAFF_READ, audited=True),
    ("POST", "/api/v1/teams"): audited_write(
        _statuses(201, 403, 403, 403, 403),
        json={"name": "{label}", "organisation_id": "{organisation_id}"},
    ),
    ("PATCH", "/api/v1/teams/{team_id}"): audited_write(ADMIN_ONLY, json={"name": "{label}"}),
    ("GET", "/api/v1/organisations"): Rule(ADMIN_ONLY),
    ("GET", "/api/v1/organisations/{organisation_id}/escalation-policy"): Rule(ADMIN_ONLY),
    ("PUT", "/api/v1/organisations/{organisation_id}/escalation-policy"): audited_write(
        ADMIN_ONLY,
        json={"policy": {"steps": [{"action": "call_resident", "wait_minutes": 20}]}},
    ),
    # Household management: like contacts (another team's caseworker may not create into team A).
    ("POST", "/api/v1/households"): audited_write(
        _statuses(201, 201, 422, 403, 403),
        json={"code": "{code}", "team_id": "{team_a}"},
    ),
    ("PATCH", "/api/v1/households/{household_id}"): audited_write(MANAGE, json={"address": "{label}"}),
    ("POST", "/api/v1/households/{household_id}/residents"): audited_write(
        _statuses(201, 201, 404, 403, 403), json={"name": "Second Resident"}
    ),
    ("PATCH", "/api/v1/residents/{resident_id}"): audited_write(MANAGE, json={"name": "{label}"}),
    # Erasure cannot be undone: the admin's alone (a fresh household each, its open case forced).
    ("POST", "/api/v1/residents/{resident_id}/erase"): audited_write(
        ADMIN_ONLY, fixture="fresh_resident", json={"force": True}
    ),
    ("GET", "/api/v1/households/{household_id}/checkin-schedule"): Rule(STAFF_READ),
    ("PUT", "/api/v1/households/{household_id}/checkin-schedule"): audited_write(
        MANAGE,
        fixture="fresh_household",
        json={"weekdays": [1, 4], "local_time": "10:30"},
    ),
    ("GET", "/api/v1/households/{household_id}/checkins"): Rule(STAFF_READ, audited=True),
}

# Routes open to anyone, each with the reason (and the test that covers it).
PUBLIC: dict[tuple[str, str], str] = {
    ("GET", "/api/v1/openapi.json"): "the API's description (no data)",
    ("POST", "/api/v1/auth/token"): "the login itself (test_api_auth_login.py)",
    (
        "GET",
        "/",
    ): "the dashboard shell; it holds no data until the API answers (test_api_dashboard_and_health)",
    ("GET", "/healthz"): "liveness for supervisors; says only ok/error and the role",
    (
        "GET",
        "/readyz",
    ): "readiness: ok/error per dependency, tick lags; no personal data (test_health_endpoints)",
    ("GET", "/favicon.ico"): "the site icon, a static file (test_api_dashboard_and_health)",
    ("GET", "/metrics"): "Prometheus scrape, behind ANBU_METRICS_TOKEN outside dev (test_api_metrics)",
    (
        "GET",
        "/status/{token}",
    ): "family status page: the random link is the credential (test_api_family_status_page)",
    (
        "POST",
        "/api/v1/mqtt/authn",
    ): "the MQTT broker's auth hook: gated by X-Anbu-Hook-Secret (test_mqtt_hooks)",
    (
        "POST",
        "/api/v1/mqtt/authz",
    ): "the MQTT broker's auth hook: gated by X-Anbu-Hook-Secret (test_mqtt_hooks)",
}
# Twilio cannot log in: these are gated by X-Twilio-Signature (test_api_twilio_webhooks_*).
SIGNED_PREFIX = webhook_urls.PREFIX + "/"


def _app_routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, full path) of every route the app serves.

    FastAPI >= 0.160 keeps included routers as lazy branches; their public-ish
    ``effective_route_contexts()`` yields each route with its full path. Anything else
    that is not a plain route or the static mount fails loudly, so a FastAPI change
    cannot make this test pass by seeing fewer routes.
    """
    found: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount):
            continue  # /static: files, no data
        if isinstance(route, Route):
            found.update((method, route.path) for method in route.methods or ())
            continue
        contexts = getattr(route, "effective_route_contexts", None)
        assert contexts is not None, f"unknown route object {route!r}: teach this test about it"
        for context in contexts():
            original = context.original_route
            assert isinstance(original, Route), f"unknown route object {original!r}"
            found.update((method, context.path) for method in original.methods or ())
    found.discard(("HEAD", "/api/v1/openapi.json"))
    return found


def test_every_route_has_a_rule(app_client: TestClient) -> None:
    routes = _app_routes(app_client)
    signed = {r for r in routes if r[1].startswith(SIGNED_PREFIX) and r[0] == "POST"}
    assert signed, "expected the Twilio webhook routes"
    without_rule = routes - set(RULES) - set(PUBLIC) - signed
    assert without_rule == set(), "add an authorization rule for each new route"
    assert set(RULES) | set(PUBLIC) <= routes, "rules for routes that no longer exist"


def test_signed_routes_refuse_unsigned_requests(app_client: TestClient, world: World, auth: Auth) -> None:
    signed = sorted(r for r in _app_routes(app_client) if r[1].startswith(SIGNED_PREFIX))
    for method, path in signed:
        # Even an admin's bearer token is no substitute for Twilio's signature.
        response = app_client.request(method, path, params={"code": "x", "id": "1"}, headers=auth("admin"))
        assert response.status_code == 403, (method, path)


def _fresh_household(engine: Engine, world: World, *, paused: bool) -> int:
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        team = session.get(Team, household.team_id)
        fresh = make_household(session, team=team)
        if paused:
            fresh.monitoring = MonitoringState.PAUSED
            fresh.paused_until = household.created_at + timedelta(days=400)
            session.add(fresh)
        assert fresh.id is not None
        return fresh.id


def _ids(rule: Rule, engine: Engine, world: World, clock: ManualClock) -> Ids:
    if rule.fixture == "fresh_case":
        household_id = _fresh_household(engine, world, paused=False)
        with session_scope(engine) as session:
            case = open_case(session, household_id, clock)
            assert case.id is not None
            return {
                "case_id": case.id,
                "household_id": household_id,
                "member_id": world.people["caseworker_own"].id,
                "now": clock.now().isoformat(),
            }
    if rule.fixture == "fresh_incident":
        with session_scope(engine) as session:
            incident = SystemIncident(
                kind=SystemIncidentKind.GATEWAY_DEAF,
                source=f"gw-{next(_counter)}",
                opened_at=clock.now(),
                last_seen_at=clock.now(),
            )
            session.add(incident)
            session.flush()
            return {"incident_id": incident.id}
    if rule.fixture == "fresh_identity":
        with session_scope(engine) as session:
            issued = credentials.add(
                session,
                DeviceVendor.NATIVE,
                f"plug{next(_counter)}",
                settings=Settings(_env_file=None),
                now=clock.now(),
            )
            return {"identity_id": issued.credential_id}
    if rule.fixture == "fresh_resident":
        household_id = _fresh_household(engine, world, paused=False)
        with session_scope(engine) as session:
            open_case(session, household_id, clock)
            resident_id = session.exec(select(Resident.id).where(Resident.household_id == household_id)).one()
            return {"resident_id": resident_id, "household_id": household_id}
    if rule.fixture in ("fresh_household", "paused_household"):
        household_id = _fresh_household(engine, world, paused=rule.fixture == "paused_household")
        return {"case_id": world.case_a, "household_id": household_id}
    if rule.fixture == "fresh_status_link":
        return {"status_link_id": _fresh_status_link(engine, world.household_a, clock)}
    contact_id = (
        _fresh_contact(engine, world) if rule.fixture == "fresh_contact" else _contact_of(engine, world)
    )
    with session_scope(engine) as session:
        household = session.get(Household, world.household_a)
        assert household is not None
        ids: Ids = {
            "case_id": world.case_a,
            "household_id": world.household_a,
            "household_code": household.code,
            "contact_id": contact_id,
            "team_a": household.team_id,
            "team_id": household.team_id,
            "n": next(_counter),
        }
        n = ids["n"]
        team = session.get(Team, household.team_id)
        assert team is not None
        resident_id = session.exec(select(Resident.id).where(Resident.household_id == household.id)).first()
        ids.update(
            organisation_id=team.organisation_id,
            member_id=world.people["caseworker_own"].id,
            user_id=world.people["caseworker_own"].id,
            resident_id=resident_id,
            username=f"newuser{n}",
            code=f"NEW-{n}",
            label=f"Label {n}",
            now=clock.now().isoformat(),
        )
        if rule.fixture == "pending_device":
            device = make_device(session, household=None)
            ids["device_id"] = device.id
        return ids


def _fresh_contact(engine: Engine, world: World) -> int:
    with session_scope(engine) as session:
        contact = Contact(household_id=world.household_a, name="Fresh", phone="+821055500000")
        session.add(contact)
        session.flush()
        assert contact.id is not None
        return contact.id


def _fresh_status_link(engine: Engine, household_id: int, clock: ManualClock) -> int:
    with session_scope(engine) as session:
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == household_id)).first()
        assert contact_id is not None
        link = StatusLink(
            token_hash=new_token()[1],
            household_id=household_id,
            contact_id=contact_id,
            created_by=0,
            created_at=clock.now(),
            expires_at=clock.now() + timedelta(days=3),
        )
        session.add(link)
        session.flush()
        assert link.id is not None
        return link.id


def _contact_of(engine: Engine, world: World) -> int:
    with Session(engine) as session:
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == world.household_a)).first()
        assert contact_id is not None
        return contact_id


def _body(rule: Rule, ids: Ids) -> dict[str, Any] | None:
    """The rule's JSON body with "{name}" placeholders replaced by this run's ids."""
    if rule.json is None:
        return None
    return {k: ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v for k, v in rule.json.items()}


def _state(engine: Engine) -> tuple[Any, ...]:
    """Everything a route could change, and the audit log's length."""
    with Session(engine) as session:
        devices = session.exec(
            select(Device.id, Device.household_id, Device.status).order_by(col(Device.id))
        ).all()
        contacts = session.exec(select(Contact.id, Contact.tier).order_by(col(Contact.id))).all()
        cases = session.exec(select(Case.id, Case.status, Case.version).order_by(col(Case.id))).all()
        households = session.exec(
            select(Household.id, Household.monitoring, Household.paused_until).order_by(col(Household.id))
        ).all()
        households_more = session.exec(
            select(Household.id, Household.address, Household.code).order_by(col(Household.id))
        ).all()
        events = session.exec(select(func.count()).select_from(CaseEvent)).one()
        incidents = session.exec(
            select(SystemIncident.id, SystemIncident.status).order_by(col(SystemIncident.id))
        ).all()
        audits = session.exec(select(func.count()).select_from(AuditEntry)).one()
        links = tuple(
            session.exec(select(StatusLink.id, StatusLink.revoked_at).order_by(col(StatusLink.id))).all()
        )
        identities = tuple(
            session.exec(
                select(MqttCredential.id, MqttCredential.password_hash, MqttCredential.revoked_at).order_by(
                    col(MqttCredential.id)
                )
            ).all()
        )
        people = (
            tuple(
                session.exec(
                    select(User.id, User.display_name, User.is_active, User.token_version).order_by(
                        col(User.id)
                    )
                ).all()
            ),
            tuple(
                session.exec(
                    select(User.id, User.urgent_notice, User.urgent_sound).order_by(col(User.id))
                ).all()
            ),
            tuple(session.exec(select(Team.id, Team.name).order_by(col(Team.id))).all()),
            tuple(str(p) for p in session.exec(select(Organisation.escalation_policy)).all()),
            tuple(session.exec(select(Resident.id, Resident.name).order_by(col(Resident.id))).all()),
            tuple(session.exec(select(CaseAssignment.case_id, CaseAssignment.user_id)).all()),
            tuple(session.exec(select(CheckinSchedule.household_id, CheckinSchedule.local_time)).all()),
        )
        data = (
            tuple(cases),
            tuple(households),
            tuple(households_more),
            events,
            tuple(devices),
            tuple(contacts),
            tuple(incidents),
            identities,
            links,
        )
        return (data, people), audits


def _request(client: TestClient, route: tuple[str, str], ids: Ids, headers: dict[str, str]) -> Any:
    """The route's request with this run's ids in its path, JSON body and upload."""
    method, template = route
    rule = RULES[route]
    extra = rule.build(ids) if rule.build else {}
    return client.request(
        method, template.format(**ids), json=_body(rule, ids), params=rule.params, headers=headers, **extra
    )


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_route_by_role(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    clock: ManualClock,
    route: tuple[str, str],
) -> None:
    rule = RULES[route]
    actual: dict[str, int] = {}
    wrong_change: list[str] = []
    wrong_audit: list[str] = []
    ids = _ids(rule, engine, world, clock)
    for who in WHO:
        if rule.mutating:
            ids = _ids(rule, engine, world, clock)  # each caller acts on an untouched object
        (data_before, audits_before) = _state(engine)
        response = _request(app_client, route, ids, auth(who))
        actual[who] = response.status_code
        (data_after, audits_after) = _state(engine)
        succeeded = response.status_code < 300
        if (data_after != data_before) != (rule.mutating and succeeded):
            wrong_change.append(who)
        written = audits_after - audits_before
        if not (written >= 1 if rule.audited and succeeded else written == 0):
            wrong_audit.append(who)
    assert actual == rule.expected
    assert wrong_change == [], "refused/read-only requests must change nothing; successful actions must"
    assert wrong_audit == [], "a successful audited request writes an entry per subject; refused ones none"


# ------------------------------------------------------------------ another team's ids (OWASP API1)


def _foreign_ids(engine: Engine, world: World, clock: ManualClock) -> Ids:
    """Team B's objects, each under the placeholder a route names it by."""
    status_link_id = _fresh_status_link(engine, world.household_b, clock)
    with session_scope(engine) as session:
        household = session.get(Household, world.household_b)
        assert household is not None
        contact_id = session.exec(select(Contact.id).where(Contact.household_id == household.id)).first()
        resident_id = session.exec(select(Resident.id).where(Resident.household_id == household.id)).first()
        device = make_device(session, household=household)  # a plug at work in team B
        return {
            "status_link_id": status_link_id,
            "household_id": household.id,
            "household_code": household.code,
            "case_id": world.case_b,
            "contact_id": contact_id,
            "resident_id": resident_id,
            "device_id": device.id,
            "team_id": household.team_id,
            "team_a": household.team_id,
            "member_id": world.people["caseworker_other"].id,
            "user_id": world.people["caseworker_other"].id,
        }


def _placeholders(template: str, rule: Rule, ids: Ids) -> list[str]:
    """The ids a route takes from its path, its JSON body or its upload."""
    names = {field for _, field, _, _ in string.Formatter().parse(template) if field}
    names |= {v[1:-1] for v in (rule.json or {}).values() if isinstance(v, str) and v.startswith("{")}
    if rule.build is not None:
        names |= {key for key in ids if rule.build(ids) != rule.build({**ids, key: "0"})}
    return sorted(name for name in names if name.endswith("_id") or name in ("team_a", "household_code"))


SCOPED_ROUTES = sorted(r for r, rule in RULES.items() if rule.expected["caseworker_own"] != 403)


@pytest.mark.parametrize("route", SCOPED_ROUTES, ids=lambda r: f"{r[0]} {r[1]}")
def test_another_teams_id_anywhere_is_refused(
    app_client: TestClient,
    world: World,
    auth: Auth,
    engine: Engine,
    clock: ManualClock,
    route: tuple[str, str],
) -> None:
    """A team-A caseworker names one of team B's objects, in the path or the body, with every
    other id their own: 404 or 422, nothing changes, nothing is audited. (A team-2 caseworker
    once moved a team-1 plug into their own household with ``POST /devices/{id}/assign`` → 200.)"""
    template = route[1]
    rule = RULES[route]
    foreign = _foreign_ids(engine, world, clock)
    own = _ids(rule, engine, world, clock)
    # Objects that belong to no team (system incidents) have no "another team's" version.
    names = [name for name in _placeholders(template, rule, own) if name in foreign]
    if not names:
        pytest.skip("this route names no team's object")
    refused: dict[str, int] = {}
    for name in names:
        ids = {**_ids(rule, engine, world, clock), name: foreign[name]}
        before = _state(engine)
        response = _request(app_client, route, ids, auth("caseworker_own"))
        refused[name] = response.status_code
        assert _state(engine) == before, f"{name}: a refused request changed something or was audited"
    assert all(code in (404, 422) for code in refused.values()), refused
