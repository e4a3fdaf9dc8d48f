"""Telling a staff member that a case was assigned to them (issue 17.6: "an assignee is shown by
login name and is not told"): one text through the outbox, written like the other caseworker
texts — the household code and the kind of alert, nothing of what the resident said, no name.

Not sent when someone assigns a case to themself, or when the assignee has no phone on file.
Once per assignment (the key names when it was made), and an acknowledgement of the case does
not cancel it (the news stays true); a case closed before it goes out cancels it.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session

from core.enums import Channel, RecipientKind
from core.models import Case, Household, User
from notifier.queueing import queue_for
from notifier.recipients import Recipient
from notifier.templates import Purpose

log = logging.getLogger(__name__)


def tell_assignee(
    session: Session, case: Case, household: Household, assignee: User, *, by: User, now: datetime
) -> int:
    """Queue the "assigned to you" text; returns how many rows were queued (0 or 1)."""
    if assignee.id == by.id or not assignee.phone or assignee.id is None:
        return 0
    rec = Recipient(RecipientKind.USER, assignee.id, assignee.phone, assignee.language, Channel.SMS)
    queued = queue_for(
        session,
        case,
        household,
        [rec],
        label="assigned",
        repeat=0,
        purpose=Purpose.ASSIGNED,
        limits=None,
        now=now,
        key_for=lambda r: (
            f"case:{case.id}:assigned:{now.isoformat()}:{r.kind.value}:{r.id}:{r.channel.value}"
        ),
    )
    log.info("case %s: assignee %s told (%s queued)", case.id, assignee.id, queued)
    return queued
