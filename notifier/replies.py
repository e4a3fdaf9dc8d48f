"""What a reply does: the one home for reading a text or key press from a resident or family
member and acting on it, shared by :mod:`notifier.calls` and :mod:`notifier.sms`.

Words a family member may text (the resident's free text goes through the classifier):

* an acknowledgement, "1" / "확인" / "OK": a person takes responsibility and escalation stops;
* a status request, "STATUS" / "상태": the household's state (:func:`notifier.family.status_lines`).

Trailing marks that do not change what a person means are ignored: spaces and ``. ! 。`` for
both. A question mark is deliberately different: "status?" asks the same as "status", but
"ok?" or "확인?" is a question, not a promise to look after the resident, and an
acknowledgement stops everyone else from being alerted, so it has to be a plain statement. Such
a text gets the contact help reply, which says what to send.
"""

from __future__ import annotations

ACK_WORDS = frozenset({"1", "확인", "ok"})
STATUS_WORDS = frozenset({"status", "상태", "상태확인", "상태 확인"})

_STATEMENT_END = ".!。 "
_QUESTION_END = "?"


def _bare(body: str, trailing: str) -> str:
    return body.strip().strip(trailing).casefold()


def is_ack(body: str) -> bool:
    """Pure: a contact's text acknowledges (never a question, see the module docstring)."""
    return _bare(body, _STATEMENT_END) in ACK_WORDS


def is_status_request(body: str) -> bool:
    """Pure: a contact's text asks how the household is (a question mark is fine)."""
    return _bare(body, _STATEMENT_END + _QUESTION_END) in STATUS_WORDS
