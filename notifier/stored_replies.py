"""A resident's reply on a call is stored first, then acted on: never lost with a request.

Twilio waits 15 s for the ``<Gather>`` callback and never retries it. When that one request
failed (the database locked or away), what the resident said was gone (issue 14.4). Now the
``voice/gather`` webhook (:func:`receive`):

1. **stores** the raw reply (keys, words, STT confidence) in its own short transaction
   (``call_reply``, waiting at most :data:`STORE_WAIT_S` for the database); if even that cannot
   be written, it **spools** it to a file under ``<data_dir>/spool/replies`` (fsynced, renamed
   into place: on disk before Twilio is answered);
2. **acts** on it in a second transaction (at most :data:`ACT_WAIT_S` of waiting): the handler of
   the call's kind (``notifier.calls.gather``) runs and the row is marked done in the same
   transaction, so the reply counts exactly once, whoever gets there first;
3. answers Twilio with that handler's TwiML, or — when the database could not act — with a
   **safe answer** decided from the words alone (the classifier needs no database): the closing
   of what was heard ("help is being called" for an emergency), or the re-ask.

The worker's ``replies`` tick (:func:`tick`) imports spooled files once the database takes
writes again and acts on every reply not done, in the order they were said, retrying with
backoff until it is. Worst case in the webhook: 2 s + 5 s of waiting, well inside Twilio's 15 s.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, delete
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, col, select

from core import spool
from core.clock import Clock, ensure_utc
from core.db import bounded_session, insert_or_find, session_scope
from core.enums import CallOutcome, Intent, Language, Risk
from core.models import CallReply
from core.settings import Settings
from notifier import calls
from notifier.calls.common import MAX_GATHERS, Reply, gather_url_for, locked_attempt
from notifier.script import closing_twiml, reask_twiml, self_harm_twiml

log = logging.getLogger(__name__)

STORE_WAIT_S = 2.0  # storing the raw reply: a few row writes, so anything longer is an outage
ACT_WAIT_S = 5.0  # acting on it; with STORE_WAIT_S well inside Twilio's 15 s (core.db)
WEBHOOK_GRACE = timedelta(seconds=20)  # past Twilio's 15 s: the webhook has acted or given up
RETRY_FIRST = timedelta(seconds=5)
RETRY_MAX = timedelta(minutes=5)
GAP_WAIT = timedelta(minutes=2)  # for a reply's missing predecessor (see act())
KEEP_DONE = timedelta(days=7)  # then the row goes; the call's transcript and case keep the words
SPOOL_SUBDIR = Path("spool") / "replies"

# What the handlers read from a <Gather> callback; nothing else is stored or spooled.
_KEPT_PARAMS = ("Digits", "SpeechResult", "Confidence", "CallSid")
_HANGUL = re.compile("[\uac00-\ud7a3\u3131-\u318e]")


@dataclass(frozen=True)
class RawReply:
    """One ``<Gather>`` callback as it came, before anything is decided from it."""

    key: str
    code: str
    gather_no: int | None
    params: dict[str, str]
    received_at: datetime

    @classmethod
    def of(cls, code: str, gather_no: int | None, params: Mapping[str, str], now: datetime) -> RawReply:
        # n makes a second delivery of the same callback find the first; an action URL without n
        # (handed out before n existed) cannot be told apart, so each delivery is its own row.
        which = str(gather_no) if gather_no is not None else f"legacy:{uuid.uuid4().hex}"
        kept = {k: str(params[k])[:600] for k in _KEPT_PARAMS if params.get(k)}
        return cls(f"{code}:{which}", code, gather_no, kept, now)


def spool_dir(settings: Settings) -> Path:
    return settings.data_dir / SPOOL_SUBDIR


def receive(
    engine: Engine,
    *,
    code: str,
    gather_no: int | None,
    params: Mapping[str, str],
    base_url: str,
    now: datetime,
    spool: Path,
) -> str:
    """The ``voice/gather`` webhook after the signature check: store, act, answer (module doc).
    Never raises for a database problem: Twilio always gets TwiML."""
    raw = RawReply.of(code, gather_no, params, now)
    try:
        reply_id = _store(engine, raw)
    except SQLAlchemyError as exc:
        log.warning("call reply could not be stored (%s); spooling it to disk", type(exc).__name__)
        try:
            write_spool(spool, raw)
        except OSError:
            log.exception("call reply could not be spooled either: it is lost (database and disk failed)")
        return safe_answer(raw, base_url)
    try:
        # Replies spooled here during an outage go in first, so this one is acted on after them.
        import_spool(engine, spool, wait_s=STORE_WAIT_S)
        with bounded_session(engine, ACT_WAIT_S) as session:
            return act(session, reply_id, base_url=base_url, now=now)
    except Exception as exc:  # the reply is stored: the worker acts on it
        log.warning(
            "call reply %s stored, not yet acted on (%s); the worker will", reply_id, type(exc).__name__
        )
        return safe_answer(raw, base_url)


def _store(engine: Engine, raw: RawReply, wait_s: float | None = None) -> int:
    """Insert the reply (its own short transaction); a second delivery returns the first's id."""
    with bounded_session(engine, STORE_WAIT_S if wait_s is None else wait_s) as session:
        found = _id_by_key(session, raw.key)
        if found is not None:
            return found
        row = CallReply(
            key=raw.key,
            code=raw.code,
            gather_no=raw.gather_no,
            params=raw.params,
            received_at=raw.received_at,
        )
        # Delivered twice at once: the other insert won.
        row, _inserted = insert_or_find(
            session, row, lambda: session.exec(select(CallReply).where(CallReply.key == raw.key)).first()
        )
        assert row.id is not None
        return row.id


def _id_by_key(session: Session, key: str) -> int | None:
    return session.exec(select(CallReply.id).where(CallReply.key == key)).first()


def act(session: Session, reply_id: int, *, base_url: str, now: datetime) -> str:
    """Act on a stored reply in the caller's transaction, once: a reply already done gives the
    TwiML it gave then. Earlier replies of the same call still waiting are acted on first, so a
    re-ask's answer never overtakes the reply it followed."""
    row = session.get(CallReply, reply_id, with_for_update=True, populate_existing=True)
    if row is None:
        raise LookupError(f"call reply {reply_id} is gone")
    if row.done_at is not None:
        return row.answer or ""
    gather_no = row.gather_no
    if gather_no is not None:
        earlier = session.exec(
            select(CallReply)
            .where(
                CallReply.code == row.code,
                col(CallReply.done_at).is_(None),
                col(CallReply.gather_no) < row.gather_no,
            )
            .order_by(col(CallReply.gather_no))
            .with_for_update()
        ).all()
        for each in earlier:
            _act_on(session, each, base_url, now, each.gather_no)
        attempt = locked_attempt(session, row.code)
        if attempt is not None and gather_no > attempt.gather_count + 1:
            # The answer to a re-ask whose question's reply is not here: spooled on another host,
            # or lost with both database and disk. Wait for it a while, then take this one as
            # the next answer rather than drop it.
            if now - row.received_at < GAP_WAIT:
                raise EarlierReplyMissing(row.code)
            gather_no = None
    return _act_on(session, row, base_url, now, gather_no)


class EarlierReplyMissing(Exception):
    """A reply that must wait for the reply before it (see :func:`act`)."""


def _act_on(session: Session, row: CallReply, base_url: str, now: datetime, gather_no: int | None) -> str:
    twiml = calls.gather(
        session, code=row.code, params=row.params, base_url=base_url, now=now, gather_no=gather_no
    )
    row.done_at, row.answer, row.error, row.next_attempt_at = now, twiml, None, None
    session.add(row)
    return twiml


def safe_answer(raw: RawReply, base_url: str) -> str:
    """TwiML from the words alone, when the database cannot say what kind of call this is.

    The classifier is pure, so what was heard is known: its closing is said (an emergency hears
    that help is being called — true, the worker acts on it when the database returns), and an
    unclear first reply is asked once more (the answer is stored and acted on in order). The
    language is guessed from the words (Hangul or not; keys and silence: Korean, the default).
    """
    reply = Reply.from_params(raw.params)
    result = reply.classify()
    language = Language.EN if reply.kind == "speech" and not _HANGUL.search(reply.text) else Language.KO
    if result.risk == Risk.SELF_HARM:
        return self_harm_twiml(language, code=raw.code, base_url=base_url)
    if result.intent == Intent.UNCLEAR and raw.gather_no is not None and raw.gather_no < MAX_GATHERS:
        return reask_twiml(
            language=language, gather_url=gather_url_for(base_url, raw.code, raw.gather_no + 1)
        )
    return closing_twiml(CallOutcome(result.intent.value), language)


# ---------------------------------------------------------------- the spool


def write_spool(directory: Path, raw: RawReply) -> Path:
    """Durably write one reply (core/spool.py): when this returns it survives a crash or power cut."""
    return spool.write(directory, asdict(raw) | {"received_at": raw.received_at.isoformat()}, raw.received_at)


def import_spool(engine: Engine, directory: Path, *, wait_s: float = STORE_WAIT_S) -> int:
    """Move spooled replies into ``call_reply`` (oldest first); returns how many files were taken.

    A file is deleted only after its row is committed, and the row's unique key makes a second
    import of the same file (a crash between the two) a no-op. A file that cannot be read is
    renamed ``*.bad`` and logged, never silently dropped.
    """
    taken = 0
    for path, raw in spool.readable(spool.pending(directory), _read_spooled, what="call reply", log=log):
        _store(engine, raw, wait_s)  # a database error stops the import; the file stays for later
        path.unlink()
        taken += 1
    if taken:
        log.info("imported %s spooled call replies", taken)
    return taken


def _read_spooled(path: Path) -> RawReply:
    data = spool.read(path)
    gather_no = data["gather_no"]
    return RawReply(
        key=str(data["key"]),
        code=str(data["code"]),
        gather_no=int(gather_no) if gather_no is not None else None,
        params={str(k): str(v) for k, v in dict(data["params"]).items()},
        received_at=ensure_utc(datetime.fromisoformat(data["received_at"])),
    )


# ---------------------------------------------------------------- the worker


def tick(engine: Engine, clock: Clock, settings: Settings, *, limit: int = 50) -> int:
    """Import the spool, then act on every stored reply not done (oldest first); returns how
    many were acted on. A reply that fails waits (5 s doubling to 5 min) and is tried again."""
    import_spool(engine, spool_dir(settings))
    now = clock.now()
    with session_scope(engine) as session:
        due = session.exec(
            select(CallReply.id)
            .where(
                col(CallReply.done_at).is_(None),
                col(CallReply.received_at) <= now - WEBHOOK_GRACE,
                (col(CallReply.next_attempt_at).is_(None)) | (col(CallReply.next_attempt_at) <= now),
            )
            .order_by(col(CallReply.received_at), col(CallReply.id))
            .limit(limit)
        ).all()
    acted = 0
    for reply_id in due:
        assert reply_id is not None
        try:
            with session_scope(engine) as session:
                act(session, reply_id, base_url=settings.effective_public_base_url, now=now)
            acted += 1
        except EarlierReplyMissing:
            log.info("call reply %s waits for the reply before it", reply_id)
            _record_failure(engine, reply_id, "EarlierReplyMissing", now)
        except Exception as exc:
            log.exception("call reply %s could not be acted on; will retry", reply_id)
            _record_failure(engine, reply_id, type(exc).__name__, now)
    _forget_old(engine, now)
    return acted


def _record_failure(engine: Engine, reply_id: int, error: str, now: datetime) -> None:
    try:
        with session_scope(engine) as session:
            row = session.get(CallReply, reply_id)
            if row is None or row.done_at is not None:
                return
            row.attempts += 1
            row.error = error[:120]
            row.next_attempt_at = now + min(RETRY_MAX, RETRY_FIRST * 2 ** min(row.attempts - 1, 10))
    except SQLAlchemyError:
        log.warning("call reply %s: failure not recorded (database error); retried next tick", reply_id)


def _forget_old(engine: Engine, now: datetime) -> None:
    with session_scope(engine) as session:
        session.execute(
            delete(CallReply).where(
                col(CallReply.done_at).is_not(None), col(CallReply.done_at) < now - KEEP_DONE
            )
        )
