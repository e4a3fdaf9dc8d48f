"""The one place that knows our Twilio webhook paths (used to place calls and to route them)."""

from __future__ import annotations

from urllib.parse import urlencode

PREFIX = "/api/v1/twilio"
VOICE_ANSWER = f"{PREFIX}/voice/answer"  # TwiML for a call we placed; ?code=<CallAttempt.code>
VOICE_GATHER = f"{PREFIX}/voice/gather"  # <Gather> action; ?code=<CallAttempt.code>
VOICE_STATUS = f"{PREFIX}/voice/status"  # call status callback; ?code=<CallAttempt.code>
VOICE_CONTACT_GATHER = f"{PREFIX}/voice/contact-gather"  # family member keyed 1?; ?code=<CallAttempt.code>
# A resident at risk put through to the suicide-prevention line: the <Dial>'s action, and the
# "press 1 to be connected" after it; ?code=<CallAttempt.code>&n=<dial attempt>&lang=<ko|en>.
# A neutral name on purpose: paths reach access logs, and this one must not say "crisis".
VOICE_CONNECT = f"{PREFIX}/voice/connect"
SMS_STATUS = f"{PREFIX}/sms/status"  # message status callback; ?id=<Notification.id>
SMS_INBOUND = f"{PREFIX}/sms/inbound"  # replies and texts to our number
VOICE_INBOUND = f"{PREFIX}/voice/inbound"  # calls to our number


def url(base_url: str, path: str, **query: str | int) -> str:
    q = f"?{urlencode(query)}" if query else ""
    return f"{base_url.rstrip('/')}{path}{q}"
