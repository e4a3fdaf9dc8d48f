"""The dashboard page (both languages), static files, security headers, OpenAPI ids, healthz."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine

from api.app import create_app
from core.clock import ManualClock
from core.settings import NOBODY_CALLED, Settings

STATIC = Path(__file__).resolve().parents[3] / "api" / "static"


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.scripts: list[dict[str, str | None]] = []
        self.links: list[dict[str, str | None]] = []
        self.inline_handlers: list[str] = []
        self.options_by_select: dict[str, list[str]] = {}
        self._select = ""
        self._json: list[str] = []
        self._in_json = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        self.inline_handlers += [k for k in a if k.startswith("on")]
        if tag == "script":
            self.scripts.append(a)
            self._in_json = a.get("type") == "application/json"
        if tag == "link":
            self.links.append(a)
        if tag in ("select", "datalist"):  # options belong to the list they are in
            self._select = str(a.get("id") or "")
        if tag == "option" and a.get("value"):
            self.options_by_select.setdefault(self._select, []).append(str(a["value"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_json = False
        if tag in ("select", "datalist"):
            self._select = ""

    def handle_data(self, data: str) -> None:
        if self._in_json:
            self._json.append(data)

    @property
    def messages(self) -> dict[str, str]:
        return json.loads("".join(self._json))  # type: ignore[no-any-return]


def _page(client: TestClient, query: str = "") -> tuple[str, _Collector]:
    response = client.get(f"/{query}")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    parser = _Collector()
    parser.feed(response.text)
    return response.text, parser


def test_dashboard_is_korean_by_default(app_client: TestClient) -> None:
    html, page = _page(app_client)
    assert '<html lang="ko">' in html
    assert "<title>안부 — 사례 대기열</title>" in html
    assert "로그인" in html
    assert page.messages["severity.critical"] == "긴급"
    assert 'href="?lang=en"' in html


def test_dashboard_switches_to_english(app_client: TestClient) -> None:
    html, page = _page(app_client, "?lang=en")
    assert '<html lang="en">' in html
    assert "<title>Anbu — case queue</title>" in html
    assert "Sign in" in html
    assert "로그인" not in html.split('id="messages"')[0]  # no Korean UI text outside the switch link
    assert page.messages["severity.critical"] == "Critical"
    assert 'href="?lang=ko"' in html


def test_unknown_language_falls_back_to_korean(app_client: TestClient) -> None:
    html, _ = _page(app_client, "?lang=xx")
    assert '<html lang="ko">' in html


def test_page_offers_every_resolution_code(app_client: TestClient) -> None:
    from core.enums import ResolutionCode

    _, page = _page(app_client)
    assert page.options_by_select["resolve-code"] == [code.value for code in ResolutionCode]


def test_the_outcome_has_no_default(app_client: TestClient) -> None:
    # Issue 17: "어르신 안전 확인" was preselected and a first resolve texted the family she was fine.
    html, _ = _page(app_client)
    block = html[
        html.index('<select id="resolve-code"') : html.index("</select>", html.index('id="resolve-code"'))
    ]
    options = re.findall(r"<option[^>]*>", block)
    assert options[0] == '<option value="" selected disabled>'
    assert not any("selected" in option for option in options[1:])


def test_page_suggests_the_known_appliance_names_for_devices(app_client: TestClient) -> None:
    from anomaly.deadlines import known_appliances

    _, page = _page(app_client)
    assert page.options_by_select["appliance-options"] == list(known_appliances())
    assert "aggregate" in page.options_by_select["appliance-options"]


def test_queue_filters_offer_every_severity_and_kind(app_client: TestClient) -> None:
    from core.enums import AuditAction, CaseKind, Severity

    _, page = _page(app_client)
    assert page.options_by_select["filter-severity"] == [s.value for s in Severity]
    assert page.options_by_select["filter-kind"] == [k.value for k in CaseKind]
    assert page.options_by_select["audit-filter-action"] == [a.value for a in AuditAction]


def test_page_has_no_inline_code_and_only_local_assets(app_client: TestClient) -> None:
    _, page = _page(app_client)
    assert page.inline_handlers == []
    srcs = [s.get("src") for s in page.scripts if s.get("src")]
    # common.js first (catalogue, DOM helpers, API client for all), errors.js (the others translate
    # errors with it), the screens' shared form kit, the screens, and dashboard.js, which routes to them
    assert srcs == [
        "/static/common.js",
        "/static/errors.js",
        "/static/manage-forms.js",
        "/static/households-list.js",
        "/static/manage.js",
        "/static/device-identities.js",
        "/static/manage-policy.js",
        "/static/report-charts.js",
        "/static/manage-reports.js",
        "/static/overview.js",
        "/static/case-extras.js",
        "/static/case-closing.js",
        "/static/household-extras.js",
        "/static/status-links.js",
        "/static/handover.js",
        "/static/live.js",
        "/static/handoff.js",
        "/static/dashboard.js",
    ]
    # Every non-JSON script is external (CSP forbids inline scripts).
    assert all(s.get("src") or s.get("type") == "application/json" for s in page.scripts)
    hrefs = [link.get("href") for link in page.links]
    assert hrefs == ["/static/favicon.svg", "/static/dashboard.css"]


def test_every_element_the_script_uses_exists_in_the_page(app_client: TestClient) -> None:
    script = "".join(path.read_text(encoding="utf-8") for path in sorted(STATIC.glob("*.js")))
    wanted = set(re.findall(r'\$\("([a-z-]+)"\)', script))
    assert wanted, "the script should look elements up by id"
    _, page = _page(app_client)
    assert wanted <= page.ids, wanted - page.ids


def test_every_message_key_the_script_uses_exists(app_client: TestClient) -> None:
    script = "".join(path.read_text(encoding="utf-8") for path in sorted(STATIC.glob("*.js")))
    literal_keys = set(re.findall(r'\bt\("([a-z_.]+)"\)', script))
    for lang in ("", "?lang=en"):
        _, page = _page(app_client, lang)
        assert literal_keys <= set(page.messages), literal_keys - set(page.messages)


def test_static_assets_are_served(app_client: TestClient) -> None:
    js = app_client.get("/static/dashboard.js")
    css = app_client.get("/static/dashboard.css")
    assert js.status_code == css.status_code == 200
    assert "javascript" in js.headers["content-type"]
    assert css.headers["content-type"].startswith("text/css")


def test_the_favicon_is_served_at_both_paths(app_client: TestClient) -> None:
    icon = (STATIC / "favicon.svg").read_bytes()
    for path in ("/favicon.ico", "/static/favicon.svg"):
        response = app_client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("image/svg+xml"), path
        assert response.content == icon
    assert b"<svg" in icon


@pytest.mark.parametrize("path", ["/", "/healthz", "/api/v1/cases", "/static/dashboard.js"])
def test_security_headers_on_every_response(app_client: TestClient, path: str) -> None:
    response = app_client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp


def test_api_responses_are_not_cacheable(app_client: TestClient) -> None:
    assert app_client.get("/api/v1/cases").headers["cache-control"] == "no-store"
    assert app_client.get("/static/dashboard.css").headers.get("cache-control") != "no-store"


def test_openapi_operation_ids_are_stable(app_client: TestClient) -> None:
    spec = app_client.get("/api/v1/openapi.json").json()
    ids = {op["operationId"] for item in spec["paths"].values() for op in item.values()}
    assert {
        "auth-login",
        "auth-me",
        "households-households",
        "cases-cases",
        "cases-case",
        "cases-acknowledge",
        "cases-resolve",
        "cases-add_note",
        "health-healthz",
        "health-readyz",
    } <= ids
    # Webhooks and the page are not part of the public API description.
    assert not any(p.startswith("/api/v1/twilio") for p in spec["paths"])
    assert "/" not in spec["paths"]


def test_healthz_ok(app_client: TestClient) -> None:
    response = app_client.get("/healthz")
    assert response.status_code == 200
    # The test settings have no Twilio account: nobody can be called, and healthz says so.
    assert response.json() == {
        "status": "ok",
        "role": "api",
        "phone": "console",
        "can_call": False,
        "warnings": [NOBODY_CALLED],
    }


def test_readyz_ok_with_the_database(app_client: TestClient) -> None:
    response = app_client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and body["role"] == "api"
    assert body["checks"]["database"]["ok"] is True


def test_readyz_503_when_the_database_is_unreachable_while_healthz_stays_live(
    settings: Settings, clock: ManualClock, tmp_path: Path
) -> None:
    # A SQLite file "inside" a regular file cannot be opened.
    (tmp_path / "blocker").write_text("a file where a directory should be")
    broken = create_engine(f"sqlite:///{tmp_path / 'blocker' / 'anbu.db'}")
    with TestClient(create_app(settings, broken, clock)) as client:
        ready = client.get("/readyz")
        live = client.get("/healthz")
    assert ready.status_code == 503
    assert ready.json() == {
        "status": "error",
        "role": "api",
        "phone": "console",
        "can_call": False,
        "warnings": [NOBODY_CALLED],
        "checks": {"database": {"ok": False, "error": "OperationalError"}},
    }
    # Liveness does not depend on the database: restarting the API would not bring it back.
    assert live.status_code == 200


def test_app_factory_keeps_state_per_app(settings: Settings, engine: Engine, clock: ManualClock) -> None:
    first = create_app(settings, engine, clock)
    second = create_app(settings, engine, clock)
    assert first.state.engine is engine
    assert first.state.login_limiter is not second.state.login_limiter


def test_the_reply_classifier_is_trained_before_the_api_serves(
    settings: Settings, engine: Engine, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training takes seconds of CPU; on the first gather webhook it could outlast Twilio's 15 s
    wait (which is never retried) and lose what the resident said. Start-up trains it instead."""
    from notifier import classifier

    monkeypatch.setattr(classifier, "_model", None)
    with TestClient(create_app(settings, engine, clock)):
        assert classifier._model is not None


def test_production_hides_the_openapi_document_and_sends_hsts(
    settings: Settings, engine: Engine, clock: ManualClock
) -> None:
    """Issue 13.7: the OpenAPI document was public in prod, and no response carried HSTS."""
    prod = settings.model_copy(update={"env": "prod"})
    with TestClient(create_app(prod, engine, clock)) as client:
        assert client.get("/api/v1/openapi.json").status_code == 404
        for path in ("/", "/healthz", "/api/v1/cases"):
            hsts = client.get(path).headers.get("strict-transport-security")
            assert hsts == "max-age=31536000; includeSubDomains", path
    asked = prod.model_copy(update={"openapi": True})
    with TestClient(create_app(asked, engine, clock)) as client:
        assert client.get("/api/v1/openapi.json").status_code == 200


def test_no_hsts_for_a_plain_http_development_address(engine: Engine, clock: ManualClock) -> None:
    with TestClient(create_app(Settings(_env_file=None), engine, clock)) as client:
        assert "strict-transport-security" not in client.get("/healthz").headers
