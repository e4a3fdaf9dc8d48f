"""Twilio webhooks with recording fake handlers: signature gate, routing, one commit, 400/403.

The real notifier handlers are exercised in test_api_twilio_webhooks_real_handlers.py.
"""

from __future__ import annotations

import types
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select
from twilio.request_validator import RequestValidator

from core.clock import ManualClock
from core.enums import CaseEventType
from core.models import Case, CaseEvent
from notifier import lifecycle, stored_replies, webhook_spool
from notifier import webhook_urls as paths
from tests.integration.api.conftest import PUBLIC_BASE_URL, TWILIO_TOKEN, World

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Say>안녕하세요</Say></Response>'
CALL_PARAMS = {
    "AccountSid": "AC00000000000000000000000000000001",
    "CallSid": "CA00000000000000000000000000000002",
    "CallStatus": "in-progress",
    "SpeechResult": "네 괜찮아요.",
    "Confidence": "0.91",
    "From": "+15005550006",
    "To": "+821012345678",
}


@pytest.fixture
def engine(sqlite_engine: Engine) -> Engine:
    return sqlite_engine


@dataclass
class Recorder:
    """Stands in for notifier.calls and notifier.sms; each call also writes one CaseEvent."""

    engine_case_id: int
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail: bool = False

    def _record(self, name: str, session: Session, kwargs: dict[str, Any]) -> None:
        self.calls.append((name, kwargs))
        case = session.get(Case, self.engine_case_id)
        assert case is not None
        lifecycle.record_event(session, case, CaseEventType.CALL_STATUS, kwargs["now"], via=name)
        session.flush()
        if self.fail:
            raise RuntimeError("handler blew up after writing")

    def answer(self, session: Session, **kwargs: Any) -> str:
        self._record("answer", session, kwargs)
        return TWIML

    def gather(self, session: Session, **kwargs: Any) -> str:
        self._record("gather", session, kwargs)
        return TWIML

    def call_status(self, session: Session, **kwargs: Any) -> None:
        self._record("call_status", session, kwargs)

    def sms_status(self, session: Session, **kwargs: Any) -> None:
        self._record("sms_status", session, kwargs)

    def inbound_sms(self, session: Session, **kwargs: Any) -> str:
        self._record("inbound_sms", session, kwargs)
        return TWIML


@pytest.fixture
def recorder(world: World, monkeypatch: pytest.MonkeyPatch) -> Iterator[Recorder]:
    rec = Recorder(engine_case_id=world.case_a)
    calls = types.ModuleType("notifier.calls")
    sms = types.ModuleType("notifier.sms")
    for name in ("answer", "gather", "call_status"):
        setattr(calls, name, getattr(rec, name))
    for name in ("sms_status", "inbound_sms"):
        setattr(sms, name, getattr(rec, name))
    monkeypatch.setattr(stored_replies, "calls", calls)  # the gather route acts through it
    monkeypatch.setattr(webhook_spool, "calls", calls)  # the answer and status routes
    monkeypatch.setattr(webhook_spool, "sms", sms)  # and the text routes
    yield rec


def signed_post(
    client: TestClient,
    path: str,
    params: dict[str, str],
    *,
    query: dict[str, str | int] | None = None,
    token: str = TWILIO_TOKEN,
    base_url: str = PUBLIC_BASE_URL,
    signature: str | None = None,
    send_signature: bool = True,
) -> Any:
    q = f"?{urlencode(query)}" if query else ""
    if signature is None:
        signature = RequestValidator(token).compute_signature(base_url + path + q, params)
    headers = {"X-Twilio-Signature": signature} if send_signature else {}
    return client.post(path + q, data=params, headers=headers)


def _event_count(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(CaseEvent)).one())


# (path, query, handler name, expected status, returns TwiML)
ROUTES = [
    (paths.VOICE_ANSWER, {"code": "c0de"}, "answer", 200, True),
    (paths.VOICE_GATHER, {"code": "c0de"}, "gather", 200, True),
    (paths.VOICE_STATUS, {"code": "c0de"}, "call_status", 204, False),
    (paths.SMS_STATUS, {"id": 42}, "sms_status", 204, False),
    (paths.SMS_INBOUND, {}, "inbound_sms", 200, True),
]
IDS = [r[2] for r in ROUTES]


@pytest.mark.parametrize(("path", "query", "handler", "status", "twiml"), ROUTES, ids=IDS)
def test_valid_signature_calls_the_handler_and_commits(
    app_client: TestClient,
    recorder: Recorder,
    engine: Engine,
    clock: ManualClock,
    path: str,
    query: dict[str, str | int],
    handler: str,
    status: int,
    twiml: bool,
) -> None:
    before = _event_count(engine)
    response = signed_post(app_client, path, CALL_PARAMS, query=query)
    assert response.status_code == status, response.text
    if twiml:
        assert response.headers["content-type"].startswith("application/xml")
        assert response.text == TWIML
    else:
        assert response.content == b""
    [(name, kwargs)] = recorder.calls
    assert name == handler
    if handler == "gather":  # stored first: only the fields a reply handler reads
        assert kwargs["params"] == {k: CALL_PARAMS[k] for k in ("CallSid", "SpeechResult", "Confidence")}
    else:
        assert kwargs["params"] == CALL_PARAMS
    assert kwargs["now"] == clock.now()
    if handler in {"answer", "gather"}:
        assert kwargs["code"] == "c0de"
        assert kwargs["base_url"] == PUBLIC_BASE_URL
    if handler == "call_status":
        assert kwargs["code"] == "c0de"
        assert "base_url" not in kwargs
    if handler == "sms_status":
        assert kwargs["notification_id"] == 42
    assert _event_count(engine) == before + 1  # the handler's write was committed


BAD_SIGNATURES = {
    "missing": {"send_signature": False},
    "empty": {"signature": ""},
    "wrong token": {"token": "not-the-token"},
    "garbage": {"signature": "bm90IGEgc2lnbmF0dXJl"},
    # Signed for the URL the request reached (Host header), not our public URL: refused.
    "host-derived url": {"base_url": "http://testserver"},
}


@pytest.mark.parametrize(("path", "query"), [route[:2] for route in ROUTES], ids=IDS)
def test_bad_or_missing_signature_is_403_and_nothing_changes(
    app_client: TestClient, recorder: Recorder, engine: Engine, path: str, query: dict[str, str | int]
) -> None:
    before = _event_count(engine)
    for label, kwargs in BAD_SIGNATURES.items():
        response = signed_post(app_client, path, CALL_PARAMS, query=query, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 403, label
    assert recorder.calls == []
    assert _event_count(engine) == before


def test_tampered_params_or_query_fail_the_signature(app_client: TestClient, recorder: Recorder) -> None:
    path = paths.VOICE_GATHER
    good = RequestValidator(TWILIO_TOKEN).compute_signature(f"{PUBLIC_BASE_URL}{path}?code=c0de", CALL_PARAMS)
    tampered = {**CALL_PARAMS, "SpeechResult": "살려주세요"}
    assert signed_post(app_client, path, tampered, query={"code": "c0de"}, signature=good).status_code == 403
    # Same params, different call code in the URL.
    assert (
        signed_post(app_client, path, CALL_PARAMS, query={"code": "other"}, signature=good).status_code == 403
    )
    assert recorder.calls == []
    assert (
        signed_post(app_client, path, CALL_PARAMS, query={"code": "c0de"}, signature=good).status_code == 200
    )


def test_repeated_form_values_are_signed_like_twilio_does(app_client: TestClient, recorder: Recorder) -> None:
    path = paths.SMS_INBOUND
    body = [("Body", "1"), ("MediaUrl", "b"), ("MediaUrl", "a"), ("From", "+821077700101")]
    validator = RequestValidator(TWILIO_TOKEN)
    # RequestValidator's dict form cannot express repeats; sign the sorted, de-duplicated values by hand.
    signature = validator.compute_signature(
        PUBLIC_BASE_URL + path,
        _MultiDict({"Body": ["1"], "MediaUrl": ["b", "a"], "From": ["+821077700101"]}),
    )
    response = app_client.post(
        path,
        content=urlencode(body),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    [(_, kwargs)] = recorder.calls
    assert kwargs["params"]["MediaUrl"] == "b"  # handlers get the first value of each name


class _MultiDict(dict[str, list[str]]):
    def getall(self, key: str) -> list[str]:
        return self[key]


MISSING_IDS: list[tuple[str, dict[str, str | int], str]] = [
    (paths.VOICE_ANSWER, {}, "missing query parameter 'code'"),
    (paths.VOICE_GATHER, {"code": ""}, "missing query parameter 'code'"),
    (paths.VOICE_STATUS, {}, "missing query parameter 'code'"),
    (paths.SMS_STATUS, {}, "missing query parameter 'id'"),
    (paths.SMS_STATUS, {"id": "abc"}, "query parameter 'id' must be an id"),
]


def test_missing_or_bad_ids_are_400_after_a_valid_signature(
    app_client: TestClient, recorder: Recorder, engine: Engine
) -> None:
    before = _event_count(engine)
    for path, query, detail in MISSING_IDS:
        response = signed_post(app_client, path, CALL_PARAMS, query=query)
        assert (response.status_code, response.json()) == (400, {"detail": detail, "code": "http_400"}), (
            path,
            query,
        )
    assert recorder.calls == []
    assert _event_count(engine) == before


def test_handler_failure_rolls_back_its_writes(
    settings: Any, engine: Engine, clock: ManualClock, recorder: Recorder
) -> None:
    from api.app import create_app

    recorder.fail = True
    before = _event_count(engine)
    with TestClient(create_app(settings, engine, clock), raise_server_exceptions=False) as client:
        response = signed_post(client, paths.VOICE_STATUS, CALL_PARAMS, query={"code": "c0de"})
    assert response.status_code == 500
    assert len(recorder.calls) == 1
    assert _event_count(engine) == before


def test_oversized_body_is_refused_before_any_work(app_client: TestClient, recorder: Recorder) -> None:
    params = {"Body": "x" * (70 * 1024)}
    response = signed_post(app_client, paths.SMS_INBOUND, params)
    assert response.status_code == 413
    assert recorder.calls == []


def test_oversized_body_without_content_length_is_refused_too(
    app_client: TestClient, recorder: Recorder
) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(70):
            yield b"Body=" + b"x" * 1024 + b"&"

    response = app_client.post(
        paths.SMS_INBOUND, content=chunks(), headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 413
    assert recorder.calls == []


def test_body_that_is_not_utf8_is_400(app_client: TestClient, recorder: Recorder) -> None:
    response = app_client.post(
        paths.SMS_INBOUND,
        content=b"Body=\xff\xfe",
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "x"},
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "form body is not UTF-8", "code": "http_400"}
    assert recorder.calls == []
