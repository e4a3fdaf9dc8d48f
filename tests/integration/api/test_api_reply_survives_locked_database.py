"""Issue 14.4: what a resident says on a call is never lost, even with the database locked.

Before: the gather webhook handled the reply in one write transaction; with SQLite locked for
30 s it failed (500 after the 10 s busy timeout), the reply was stored nowhere, and Twilio does
not retry that webhook. Now the reply is stored first (or spooled to disk), Twilio gets TwiML at
once, and the worker acts on it when the database returns.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from anbu.runtime import tick_list
from core.clock import ManualClock
from core.db import TWILIO_WEBHOOK_BUDGET_S, is_sqlite, session_scope
from core.enums import CallOutcome, CaseEventType, RecipientKind, Severity
from core.models import CallAttempt, CallReply, Case, Notification
from core.settings import Settings
from notifier import calls as notifier_calls
from notifier import stored_replies
from notifier import webhook_urls as paths
from notifier.script import CATALOGUE
from tests.factories import case_events
from tests.integration.api.conftest import PUBLIC_BASE_URL, World
from tests.integration.api.test_api_twilio_webhooks_real_handlers import CALL_SID, signed_post
from tests.integration.api.test_api_twilio_webhooks_real_handlers import call_code as call_code  # fixture

LOCKED_FOR = timedelta(seconds=30)


@pytest.fixture
def settings(settings: Settings, tmp_path: Path) -> Settings:
    return settings.model_copy(update={"data_dir": tmp_path / "data"})


@pytest.fixture(autouse=True)
def _short_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    # The real waits are 2 s + 5 s; the behaviour is the same with shorter ones, and faster.
    monkeypatch.setattr(stored_replies, "STORE_WAIT_S", 0.3, raising=False)
    monkeypatch.setattr(stored_replies, "ACT_WAIT_S", 0.3, raising=False)


@contextmanager
def database_locked(engine: Engine) -> Iterator[None]:
    """Another writer holds the database: SQLite's write lock (BEGIN IMMEDIATE on the file), or
    on PostgreSQL exclusive locks on the tables a reply, a status callback or a call touches."""
    if is_sqlite(engine):
        assert engine.url.database
        holder = sqlite3.connect(engine.url.database, timeout=0, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        return
    with engine.connect() as conn:
        conn.execute(text("BEGIN"))
        names = [str(m.__tablename__) for m in (CallAttempt, Case, Notification)] + (
            ["call_reply"] if _has_call_reply(conn) else []
        )
        conn.execute(text(f"LOCK TABLE {', '.join(names)} IN ACCESS EXCLUSIVE MODE"))
        try:
            yield
        finally:
            conn.execute(text("ROLLBACK"))


def _has_call_reply(conn: object) -> bool:
    return bool(
        conn.execute(text("SELECT to_regclass('call_reply') IS NOT NULL")).scalar()  # type: ignore[attr-defined]
    )


def _run_worker(settings: Settings, engine: Engine, clock: ManualClock, names: tuple[str, ...]) -> None:
    ticks: dict[str, Callable[[], object]] = {t.name: t.run for t in tick_list(settings, engine, clock)}
    for name in names:
        ticks[name]()  # a tick renamed or gone fails here, not silently


def _post_help(
    client: TestClient, code: str, *, n: int = 1, words: str = "도와주세요"
) -> tuple[int, str, float]:
    started = time.monotonic()
    response = signed_post(
        client,
        paths.VOICE_GATHER,
        {"CallSid": CALL_SID, "SpeechResult": words, "Confidence": "0.91"},
        {"code": code, "n": n},
    )
    return response.status_code, response.text, time.monotonic() - started


def test_help_said_while_the_database_is_locked_30s_is_acted_on_when_it_returns(
    app_client: TestClient,
    engine: Engine,
    world: World,
    clock: ManualClock,
    settings: Settings,
    call_code: str,
) -> None:
    said_at = clock.now()
    with database_locked(engine):
        status, twiml, took = _post_help(app_client, call_code)
        # Twilio got a safe answer in time: the emergency closing, not a 500.
        assert status == 200, twiml
        assert took < TWILIO_WEBHOOK_BUDGET_S / 2
        assert CATALOGUE.text("call.closing.emergency", "ko") in twiml
        assert "<Hangup" in twiml
        spooled = list(stored_replies.spool_dir(settings).glob("*.json"))
        assert len(spooled) == 1  # on disk before Twilio was answered
        assert "도와주세요" in spooled[0].read_text(encoding="utf-8")
        # The worker keeps trying while the database is still locked: nothing lost, nothing done.
        clock.advance(LOCKED_FOR / 2)
        with pytest.raises(Exception):  # noqa: B017 - any database error; the file must stay
            _run_worker(settings, engine, clock, ("replies",))
        assert len(list(stored_replies.spool_dir(settings).glob("*.json"))) == 1
        clock.advance(LOCKED_FOR / 2)
    returned_at = clock.now()

    clock.advance(timedelta(seconds=2))  # the next worker tick (escalation_interval_s)
    _run_worker(settings, engine, clock, ("replies",))

    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == call_code)).one()
        assert call.outcome == CallOutcome.EMERGENCY
        assert "도와주세요" in call.transcript
        case = session.get(Case, world.case_a)
        assert case is not None and case.severity == Severity.CRITICAL
        told = session.exec(
            select(Notification).where(Notification.case_id == world.case_a).order_by(col(Notification.id))
        ).all()
        by_kind = {n.recipient_kind: n for n in told}
        assert set(by_kind) == {RecipientKind.USER, RecipientKind.CONTACT}  # caseworker and family
        assert by_kind[RecipientKind.USER].template == "sms.caseworker.emergency"
        assert by_kind[RecipientKind.CONTACT].template == "sms.family.emergency"
        for row in told:
            assert returned_at <= row.created_at <= returned_at + timedelta(minutes=1)
        reply = session.exec(select(CallReply)).one()
        assert reply.received_at == said_at and reply.done_at is not None
    assert len(case_events(engine, world.case_a, CaseEventType.CALL_OUTCOME)) == 1
    assert list(stored_replies.spool_dir(settings).glob("*")) == []

    # Acted on exactly once: more ticks, and Twilio delivering the callback again, add nothing.
    _run_worker(settings, engine, clock, ("replies",))
    status, again, _ = _post_help(app_client, call_code)
    assert status == 200 and CATALOGUE.text("call.closing.emergency", "ko") in again
    with Session(engine) as session:
        assert len(session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()) == 2
        assert len(session.exec(select(CallReply)).all()) == 1


def test_a_reply_stored_but_not_acted_on_in_the_webhook_is_acted_on_by_the_worker_once(
    app_client: TestClient,
    engine: Engine,
    world: World,
    clock: ManualClock,
    settings: Settings,
    call_code: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real_gather = notifier_calls.gather

    def broken(*args: object, **kwargs: object) -> str:
        raise RuntimeError("handler failed")

    monkeypatch.setattr(notifier_calls, "gather", broken)
    status, twiml, _ = _post_help(app_client, call_code)
    assert status == 200 and CATALOGUE.text("call.closing.emergency", "ko") in twiml
    with Session(engine) as session:
        reply = session.exec(select(CallReply)).one()
        assert reply.done_at is None and reply.params["SpeechResult"] == "도와주세요"
    assert not stored_replies.spool_dir(settings).exists()

    clock.advance(timedelta(seconds=5))
    _run_worker(settings, engine, clock, ("replies",))  # too soon: the webhook may still act
    with Session(engine) as session:
        assert session.exec(select(CallReply)).one().done_at is None

    clock.advance(stored_replies.WEBHOOK_GRACE)
    _run_worker(settings, engine, clock, ("replies",))  # still broken: retried later, not dropped
    with Session(engine) as session:
        reply = session.exec(select(CallReply)).one()
        assert (reply.done_at, reply.attempts, reply.error) == (None, 1, "RuntimeError")

    monkeypatch.setattr(notifier_calls, "gather", real_gather)
    _run_worker(settings, engine, clock, ("replies",))  # backing off
    clock.advance(stored_replies.RETRY_FIRST)
    _run_worker(settings, engine, clock, ("replies",))
    _run_worker(settings, engine, clock, ("replies",))
    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == call_code)).one()
        assert call.outcome == CallOutcome.EMERGENCY
        kinds = sorted(
            n.recipient_kind.value
            for n in session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()
        )
        assert kinds == ["contact", "user"]


def test_webhook_and_worker_racing_act_on_a_reply_once(
    engine: Engine, world: World, clock: ManualClock, call_code: str
) -> None:
    raw = stored_replies.RawReply.of(call_code, 1, {"CallSid": CALL_SID, "Digits": "2"}, clock.now())
    reply_id = stored_replies._store(engine, raw)
    assert stored_replies._store(engine, raw) == reply_id  # a second delivery finds the first
    answers: list[str] = []
    errors: list[BaseException] = []

    def act() -> None:
        try:
            with session_scope(engine) as session:
                answers.append(
                    stored_replies.act(session, reply_id, base_url=PUBLIC_BASE_URL, now=clock.now())
                )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=act) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(answers) == 2 and answers[0] == answers[1]
    assert len(case_events(engine, world.case_a, CaseEventType.CALL_OUTCOME)) == 1
    with Session(engine) as session:
        assert len(session.exec(select(Notification).where(Notification.case_id == world.case_a)).all()) == 2


def test_a_reask_answer_never_overtakes_the_spooled_reply_it_followed(
    app_client: TestClient, engine: Engine, clock: ManualClock, settings: Settings, call_code: str
) -> None:
    with database_locked(engine):
        status, twiml, _ = _post_help(app_client, call_code, n=1, words="여보세요?")
    assert status == 200 and "&amp;n=2" in twiml  # unclear: asked once more, even without the database
    clock.advance(timedelta(seconds=10))
    status, twiml, _ = _post_help(app_client, call_code, n=2, words="넘어졌어요 못 일어나겠어요")
    # The database is back: the spooled first reply goes in and is acted on first, then this one
    # (acting on "help" alone would take it for an answer to a question not yet asked).
    assert status == 200 and CATALOGUE.text("call.closing.emergency", "ko") in twiml
    assert list(stored_replies.spool_dir(settings).glob("*")) == []
    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == call_code)).one()
        assert (call.gather_count, call.outcome) == (2, CallOutcome.EMERGENCY)
        assert call.transcript.index("여보세요") < call.transcript.index("넘어졌어요")


def test_a_reask_answer_waits_for_the_reply_before_it_then_is_not_dropped(
    engine: Engine, clock: ManualClock, settings: Settings, call_code: str
) -> None:
    # The first reply was spooled on another API host, not yet imported: the answer to the
    # re-ask waits for it, and after GAP_WAIT is taken as the next answer rather than dropped.
    raw = stored_replies.RawReply.of(call_code, 2, {"CallSid": CALL_SID, "Digits": "2"}, clock.now())
    reply_id = stored_replies._store(engine, raw)
    with pytest.raises(stored_replies.EarlierReplyMissing), session_scope(engine) as session:
        stored_replies.act(session, reply_id, base_url=PUBLIC_BASE_URL, now=clock.now())
    clock.advance(stored_replies.WEBHOOK_GRACE)
    _run_worker(settings, engine, clock, ("replies",))
    with Session(engine) as session:
        assert session.exec(select(CallReply)).one().done_at is None
    clock.advance(stored_replies.GAP_WAIT)
    _run_worker(settings, engine, clock, ("replies",))
    with Session(engine) as session:
        call = session.exec(select(CallAttempt).where(CallAttempt.code == call_code)).one()
        assert (call.gather_count, call.outcome) == (1, CallOutcome.EMERGENCY)
