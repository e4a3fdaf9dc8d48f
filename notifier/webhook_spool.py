"""Twilio webhooks a locked database cannot lose: handled within a bounded wait, or spooled.

Twilio retries none of these webhooks. Before, each ran in one transaction with the database's
usual patience (a 10 s busy timeout on SQLite, no limit on a PostgreSQL row lock), then failed
with a 500, and what it carried was gone (issue 14):

==================  ====================================  =======================================
hook                lost before                           answered at once, when spooled, with
==================  ====================================  =======================================
``sms_inbound``     "도와주세요" texted: nobody told         an empty ``<Response/>`` (no auto-reply)
``sms_status``      a failed delivery: never re-sent,     204
                    staff never see it
``call_status``     the call's end and outcome: the row   204
                    stays "ringing"; a self-harm case's
                    control-room call waits its full
                    delay; a check-in's answers unsummed
``contact_gather``  a family member's "1": the alert      "we have your answer, we record it
                    goes on as if unanswered              shortly" (or, no key: "not recorded")
``voice_inbound``   the caller heard Twilio's error;      "we cannot take your call now; in an
                    the call was recorded nowhere         emergency call 119; call again soon"
``voice_answer``    a call we placed, just answered:      the polite hang-up ("we cannot continue
                    the person heard Twilio's error;      this call"); the ladder calls again on
                    who answered (machine or person)      its next step, and who answered is kept
``voice_connect``   on PostgreSQL a resident at risk      what the crisis line's callback says
                    waited in silence for the record of   anyway (decided without the database,
                    their crisis-line dial: no ``<Dial>``  :mod:`notifier.calls.crisis_line`)
==================  ====================================  =======================================

A webhook (:func:`receive`, after the signature check) runs its handler in one transaction that
waits at most :data:`WAIT_S` for a lock; when it cannot, the request (hook, signed parameters,
validated query) is written to ``<data_dir>/spool/webhooks`` (core/spool.py: fsynced, on disk
before Twilio is answered) and Twilio gets the hook's safe answer, which needs no database. The
worker's ``webhooks`` tick (:func:`tick`) hands spooled requests, oldest first, to the same
handlers as soon as the database takes writes. Each counts once, because each handler is
idempotent in the transaction that applies it: ``MessageSid`` recorded (inbound texts), status
ranks and ``SequenceNumber`` (status callbacks), the key press's question attempt ``n``
(``CallAttempt.gather_count``), ``inbound:<CallSid>`` (calls to our number). A file handled but
not yet deleted when a worker dies is a no-op the second time.

A resident's reply on a call has its own store-first path (notifier/stored_replies.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlmodel import Session
from twilio.twiml.messaging_response import MessagingResponse

from core import spool
from core.clock import Clock, ensure_utc
from core.db import bounded_session
from core.settings import Settings
from notifier import calls, sms
from notifier.calls import crisis_line, inbound
from notifier.script import contact_answer_pending_twiml, hangup_twiml, unavailable_twiml

log = logging.getLogger(__name__)

WAIT_S = 5.0  # for a lock; well inside Twilio's 15 s, and each handler is a few row writes
# A call just answered: its safe answer is only a hang-up, so it waits as long as Twilio's 15 s
# allow (SQLite: one wait, for BEGIN IMMEDIATE; PostgreSQL: lock_timeout per statement).
ANSWER_WAIT_S = 8.0
SPOOL_SUBDIR = Path("spool") / "webhooks"
_SMS_SUBDIR = Path("spool") / "sms"  # inbound texts spooled before the other webhooks were
# The database cannot be reached or locked us out: wait. Any other error is this request's own.
_UNAVAILABLE = (OperationalError, InterfaceError)


class Hook(StrEnum):
    SMS_INBOUND = "sms_inbound"
    SMS_STATUS = "sms_status"
    CALL_STATUS = "call_status"
    CONTACT_GATHER = "contact_gather"
    VOICE_INBOUND = "voice_inbound"
    VOICE_CONNECT = "voice_connect"
    VOICE_ANSWER = "voice_answer"


@dataclass(frozen=True)
class Request:
    """One signed webhook request: its hook, Twilio's parameters and our validated query
    (``code``, ``n``, ``id``: the route checked them before anything was stored)."""

    hook: Hook
    params: dict[str, str]
    query: dict[str, str]
    received_at: datetime

    @classmethod
    def of(cls, hook: Hook, params: Mapping[str, str], now: datetime, **query: str | int | None) -> Request:
        kept = {k: str(v) for k, v in query.items() if v is not None}
        return cls(hook, {str(k): str(v) for k, v in params.items()}, kept, now)

    def code(self) -> str:
        return self.query["code"]

    def number(self, name: str) -> int | None:
        value = self.query.get(name)
        return int(value) if value is not None else None


Handler = Callable[[Session, Request, str, datetime], str]


def _sms_inbound(session: Session, req: Request, _base_url: str, now: datetime) -> str:
    return sms.inbound_sms(session, params=req.params, now=now)


def _sms_status(session: Session, req: Request, _base_url: str, now: datetime) -> str:
    notification_id = req.number("id")
    assert notification_id is not None
    sms.sms_status(session, notification_id=notification_id, params=req.params, now=now)
    return ""


def _call_status(session: Session, req: Request, _base_url: str, now: datetime) -> str:
    calls.call_status(session, code=req.code(), params=req.params, now=now)
    return ""


def _contact_gather(session: Session, req: Request, base_url: str, now: datetime) -> str:
    return calls.contact_gather(
        session, code=req.code(), params=req.params, base_url=base_url, now=now, gather_no=req.number("n")
    )


def _voice_inbound(session: Session, req: Request, base_url: str, now: datetime) -> str:
    return calls.inbound_call(session, params=req.params, base_url=base_url, now=now)


def _voice_inbound_later(session: Session, req: Request, base_url: str, now: datetime) -> str:
    inbound.unanswered_call(session, params=req.params, received_at=req.received_at, now=now)
    return ""


def _voice_answer(session: Session, req: Request, base_url: str, now: datetime) -> str:
    return calls.answer(session, code=req.code(), params=req.params, base_url=base_url, now=now)


def _voice_connect(session: Session, req: Request, _base_url: str, now: datetime) -> str:
    attempt = req.number("n")
    assert attempt is not None
    crisis_line.record(session, code=req.code(), params=req.params, attempt=attempt, now=now)
    return ""  # what the resident hears needs no database: the route has it already


@dataclass(frozen=True)
class _Spec:
    handle: Handler  # in the webhook, within the bounded wait: returns Twilio's answer
    later: Handler  # in the worker, for a spooled request (its answer went nowhere)
    safe: Callable[[Request], str]  # Twilio's answer when the request was spooled: no database


_HOOKS: dict[Hook, _Spec] = {
    Hook.SMS_INBOUND: _Spec(_sms_inbound, _sms_inbound, lambda _req: str(MessagingResponse())),
    Hook.SMS_STATUS: _Spec(_sms_status, _sms_status, lambda _req: ""),
    Hook.CALL_STATUS: _Spec(_call_status, _call_status, lambda _req: ""),
    Hook.CONTACT_GATHER: _Spec(
        _contact_gather,
        _contact_gather,
        lambda req: contact_answer_pending_twiml(keyed=bool((req.params.get("Digits") or "").strip())),
    ),
    # The caller was told to call again: the worker records the call, it does not answer it.
    Hook.VOICE_INBOUND: _Spec(_voice_inbound, _voice_inbound_later, lambda _req: unavailable_twiml()),
    Hook.VOICE_CONNECT: _Spec(_voice_connect, _voice_connect, lambda _req: ""),
    # Without the database the call's kind and language are unknown: nothing safe can be asked.
    Hook.VOICE_ANSWER: _Spec(_voice_answer, _voice_answer, lambda _req: hangup_twiml()),
}


def spool_dir(settings: Settings) -> Path:
    return settings.data_dir / SPOOL_SUBDIR


def receive(engine: Engine, req: Request, *, base_url: str, directory: Path) -> str:
    """A webhook after the signature check: its answer, or the safe answer once the request is
    on disk. Never raises for a database problem."""
    spec = _HOOKS[req.hook]
    try:
        wait_s = ANSWER_WAIT_S if req.hook == Hook.VOICE_ANSWER else WAIT_S
        with bounded_session(engine, wait_s) as session:
            return spec.handle(session, req, base_url, req.received_at)
    except SQLAlchemyError as exc:
        log.warning("%s webhook could not be handled (%s); spooling it to disk", req.hook, type(exc).__name__)
    try:
        spool.write(
            directory,
            {
                "hook": req.hook.value,
                "params": req.params,
                "query": req.query,
                "received_at": req.received_at.isoformat(),
            },
            req.received_at,
        )
    except OSError:
        log.exception(
            "%s webhook could not be spooled either: it is lost (database and disk failed)", req.hook
        )
    return spec.safe(req)


def _read(path: Path) -> Request:
    data = spool.read(path)
    return Request(
        Hook(str(data.get("hook", Hook.SMS_INBOUND))),  # files of spool/sms name no hook
        {str(k): str(v) for k, v in dict(data["params"]).items()},
        {str(k): str(v) for k, v in dict(data.get("query", {})).items()},
        ensure_utc(datetime.fromisoformat(str(data["received_at"]))),
    )


def tick(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Handle spooled requests, oldest first; returns how many. A database error stops the run
    (the rest wait for the next tick); a file that cannot be handled otherwise is set aside as
    ``.bad`` for an operator, never dropped."""
    handled = 0
    paths = spool.pending(settings.data_dir / _SMS_SUBDIR) + spool.pending(spool_dir(settings))
    for path, req in spool.readable(sorted(paths, key=lambda p: p.name), _read, what="webhook", log=log):
        log.info("handling a %s webhook received at %s, spooled", req.hook, req.received_at.isoformat())
        try:
            # Acted on now (cases and texts are made now); a lock is waited for briefly, as in
            # the webhook: a tick must not hang behind a locked table.
            with bounded_session(engine, WAIT_S) as session:
                _HOOKS[req.hook].later(session, req, settings.effective_public_base_url, clock.now())
        except _UNAVAILABLE as exc:
            log.warning("spooled webhooks wait for the database (%s)", type(exc).__name__)
            break
        except Exception:
            log.exception("spooled webhook %s could not be handled; kept as .bad for an operator", path.name)
            spool.set_aside(path)
            continue
        path.unlink()
        handled += 1
    if handled:
        log.info("handled %d spooled webhooks", handled)
    return handled
