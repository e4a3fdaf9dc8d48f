"""What outbox messages say: why a message is sent (:class:`Purpose`), which catalogue template
an (audience, purpose) pair gets, and which templates the outbox treats specially (closures are
never stale; some news survives an acknowledgement). Pure; the texts are in ``messages/``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Literal

from core.enums import Language
from core.i18n import Catalogue
from core.models import Case
from notifier.crisis import crisis_line

MESSAGES = Catalogue(Path(__file__).with_name("messages"))


class Purpose(StrEnum):
    """Why a message is sent; with the audience it picks the SMS template."""

    LADDER = "ladder"
    EXHAUSTED = "exhausted"
    UNWELL = "unwell"
    EMERGENCY = "emergency"
    ACK_REMINDER = "ack_reminder"  # acknowledged, still not resolved (notifier.followup)
    ALL_CLEAR = "all_clear"  # the case cleared, or was resolved as fine/false alarm (notifier.followup)
    CLOSED = "closed"  # resolved with another outcome: no "all clear", the caseworker explains
    HOSPITAL = "hospital"  # resolved as in hospital: say so, and whom to call
    PRE_CALL = "pre_call"  # "we are about to call you" text to the resident (policy pre_call_sms)
    SELF_HARM = "self_harm"  # the emergency actions of a self_harm_risk case: their own careful texts
    HANDOFF_119 = "handoff_119"  # the control room is handed what a 119 call needs (policy step)
    ASSIGNED = "assigned"  # a staff member was assigned the case (notifier.assignment)


Audience = Literal["family", "caseworker", "resident"]

# "The case is over" messages: sent after the case left the active states, so the fencing token
# says nothing about them; the outbox never cancels them as stale.
CLOSURE_TEMPLATES = frozenset(
    f"sms.{audience}.{purpose.value}"
    for audience in ("family", "caseworker")
    for purpose in (Purpose.ALL_CLEAR, Purpose.CLOSED, Purpose.HOSPITAL)
)
# Templates that exist for an (audience, purpose) pair; anything else uses the ladder text.
SMS_TEMPLATES = CLOSURE_TEMPLATES | {
    "sms.family.ladder",
    "sms.family.emergency",
    "sms.caseworker.ladder",
    "sms.caseworker.exhausted",
    "sms.caseworker.unwell",
    "sms.caseworker.emergency",
    "sms.caseworker.self_harm",
    "sms.family.self_harm",
    "sms.caseworker.ack_reminder",
    "sms.caseworker.assigned",
}
# The hand-off sheet for a 119 call, to the control room: the only text that names the resident
# and their address (notifier/handoff.py says why, docs/security.md).
# Rendered by notifier.handoff, not sms_body (it names the resident, their age and address).
HANDOFF_TEMPLATE = "handoff.sms_119"
# To the resident themself: names no household code (they do not know it) and no case detail.
PRE_CALL_TEMPLATE = "sms.resident.pre_call"

# Messages whose news stays true after someone acknowledges the case: the resident asked for
# help or said they are unwell. The outbox still sends these when only an acknowledgement
# (not a clear or resolve) replaced the token. Everything else is cancelled when stale.
SURVIVES_ACKNOWLEDGEMENT = frozenset(
    {
        "sms.caseworker.unwell",
        "sms.caseworker.emergency",
        "sms.family.emergency",
        "sms.caseworker.self_harm",
        "sms.family.self_harm",
        "call.self_harm.staff",
        "sms.caseworker.assigned",  # being assigned stays news after an acknowledgement
    }
)
# What the outbox calls a staff call of a self-harm case when it asks whether it is stale: a
# family member's "seen it" must not stop the caseworker's or control room's call.
SELF_HARM_STAFF_CALL = "call.self_harm.staff"


# Family texts that ask for an acknowledgement: each carries the recipient's code for the case
# ({ack_code}, notifier.ack_codes), without which a reply is only recorded.
ACK_CODE_TEMPLATES = frozenset({"sms.family.ladder", "sms.family.emergency", "sms.family.self_harm"})


def template_for(audience: Audience, purpose: Purpose) -> str:
    if purpose == Purpose.HANDOFF_119:
        return HANDOFF_TEMPLATE
    key = f"sms.{audience}.{purpose.value}"
    if key in SMS_TEMPLATES:
        return key
    return PRE_CALL_TEMPLATE if audience == "resident" else f"sms.{audience}.ladder"


def sms_body(
    template: str,
    language: Language,
    *,
    household_code: str,
    case: Case,
    call: str | None = None,
    ack_code: str | None = None,
    name: str = "",
    status_link: str | None = None,
) -> str:
    """The SMS text: household code and what kind of alert it is, never the resident's name
    (and the crisis line, for the texts of a self-harm case).

    ``call``: the caseworker's (or centre's) number, for the texts that say whom to ring
    ("담당 복지사(…)"); without one they name the caseworker without a number. ``name``: how the
    family member calls the resident ("어머니", ``Contact.address_as``), else the catalogue's
    neutral "어르신". ``ack_code`` is required for :data:`ACK_CODE_TEMPLATES` (a missing one raises).
    ``status_link``: the household's status page for this family member (the alert texts end
    with it; :mod:`notifier.family_link`)."""
    if template in ACK_CODE_TEMPLATES and ack_code is None:
        raise ValueError(f"{template} needs the recipient's acknowledgement code")
    who = (
        MESSAGES.text("notify.call_number", language, phone=call)
        if call
        else MESSAGES.text("notify.call_plain", language)
    )
    return MESSAGES.text(
        template,
        language,
        code=household_code,
        kind=MESSAGES.text(f"notify.kind.{case.kind.value}", language),
        severity=MESSAGES.text(f"notify.severity.{case.severity.value}", language),
        call=who,
        ack_code=ack_code,
        name=name.strip() or MESSAGES.text("notify.resident", language),
        line=crisis_line(language),
        status=MESSAGES.text("notify.status_link", language, link=status_link) if status_link else "",
    )
