"""A text to our number is never lost with a locked database: handled in time, or spooled.

Twilio does not retry an inbound-text webhook. Before, the handler waited the database's usual
busy timeout (10 s on SQLite), then failed with a 500, and "도와주세요" sent while the database
was locked or away reached nobody. Now the ``sms/inbound`` webhook (:func:`receive`) handles the
text in one transaction that waits at most :data:`WAIT_S` for a lock; when it cannot, the signed
parameters are written to ``<data_dir>/spool/sms`` (core/spool.py: on disk before Twilio is
answered) and Twilio gets an empty ``<Response/>`` at once. The worker's ``sms_spool`` tick
(:func:`tick`) handles spooled texts, oldest first, as soon as the database takes writes. Each text still counts once: ``MessageSid`` is recorded in the same
transaction (notifier/sms.py), so a file handled but not yet deleted when a worker dies is a
no-op the second time. What a spooled text loses is only the automatic reply text.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.messaging_response import MessagingResponse

from core import spool
from core.clock import Clock, ensure_utc
from core.db import bounded_session
from core.settings import Settings
from notifier import sms

log = logging.getLogger(__name__)

WAIT_S = 5.0  # for a lock; well inside Twilio's 15 s, and a text's handling is a few row writes
SPOOL_SUBDIR = Path("spool") / "sms"


def spool_dir(settings: Settings) -> Path:
    return settings.data_dir / SPOOL_SUBDIR


def receive(engine: Engine, *, params: Mapping[str, str], now: datetime, directory: Path) -> str:
    """The ``sms/inbound`` webhook after the signature check. Never raises for a database problem."""
    try:
        with bounded_session(engine, WAIT_S) as session:
            return sms.inbound_sms(session, params=params, now=now)
    except SQLAlchemyError as exc:
        log.warning("inbound text could not be handled (%s); spooling it to disk", type(exc).__name__)
    try:
        spool.write(directory, {"params": dict(params), "received_at": now.isoformat()}, now)
    except OSError:
        log.exception("inbound text could not be spooled either: it is lost (database and disk failed)")
    return str(MessagingResponse())


def tick(engine: Engine, clock: Clock, settings: Settings) -> int:
    """Handle spooled texts, oldest first; returns how many. A database error stops the run (the
    rest wait for the next tick); a file that cannot be handled otherwise is set aside as ``.bad``."""
    handled = 0
    for path in spool.pending(spool_dir(settings)):
        try:
            data = spool.read(path)
            params = {str(k): str(v) for k, v in dict(data["params"]).items()}
            received_at = ensure_utc(datetime.fromisoformat(str(data["received_at"])))
            log.info("handling a text received at %s, spooled", received_at.isoformat())
        except (OSError, ValueError, KeyError, TypeError):
            log.error("spooled text %s cannot be read; kept as .bad for an operator", path.name)
            spool.set_aside(path)
            continue
        try:
            # Acted on now (cases and texts are made now); a lock is waited for briefly, as in
            # the webhook: a tick must not hang behind a locked table.
            with bounded_session(engine, WAIT_S) as session:
                sms.inbound_sms(session, params=params, now=clock.now())
        except SQLAlchemyError as exc:
            log.warning("spooled texts wait for the database (%s)", type(exc).__name__)
            break
        except Exception:
            log.exception("spooled text %s could not be handled; kept as .bad for an operator", path.name)
            spool.set_aside(path)
            continue
        path.unlink()
        handled += 1
    if handled:
        log.info("handled %d spooled inbound texts", handled)
    return handled
