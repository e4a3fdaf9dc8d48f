"""Plays one call the way Twilio would, against our webhooks (an inbound one: see ``_play_inbound``).

Sequence: status callbacks (initiated, ringing, answered → in-progress) for the events the
caller asked for; on answer, fetch the call's ``Url`` and execute the TwiML — hear every
``<Say>``, answer each ``<Gather>`` with the resident's next scripted reply (POSTed to the
Gather action), follow ``<Redirect>``, stop at ``<Hangup/>`` or when a document ends; then the
final status callback (completed / no-answer / busy / failed) with the call's duration.
A failing webhook is recorded, and the call ends like Twilio's "application error" would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Literal
from urllib.parse import urljoin

from simulator.phone_scenarios import Behaviour, Reply
from simulator.sim_timeline import Timeline
from simulator.twilio_records import CallRecord, Journal, WebhookExchange
from simulator.twilio_resources import API_VERSION, mask_phone, rfc2822
from simulator.twiml import (
    Dial,
    Gather,
    Hangup,
    Pause,
    Play,
    Redirect,
    Reject,
    Say,
    TwimlError,
    Unsupported,
    Verb,
    parse_twiml,
)
from simulator.webhook_client import WebhookResponse

log = logging.getLogger(__name__)

Send = Callable[[str, str, Sequence[tuple[str, str]]], WebhookResponse]
BehaviourOf = Callable[[str], Behaviour]
# How a dialled number's behaviour ends a <Dial>, as Twilio's DialCallStatus says it.
_DIAL_STATUS = {
    "answer": "completed",
    "voicemail": "completed",
    "hangup": "completed",
    "busy": "busy",
    "no_answer": "no-answer",
    "fail": "failed",
}
DIALLED_TALK_S = 30.0  # how long a dialled party that answers stays on the line

FINAL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
_EVENT_OF_STATUS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}
_TWIML_TYPES = frozenset({"text/xml", "application/xml"})
DEFAULT_RING_S = 4.0
MAX_TURNS = 12  # webhook round trips per call: a server that re-asks forever must not loop forever


@dataclass(frozen=True)
class _NextRequest:
    purpose: str
    method: str
    url: str
    params: list[tuple[str, str]]


class _Flow(Enum):
    CONTINUE = "continue"  # a Gather heard nothing: go on with the next verb


GatherOutcome = _NextRequest | None | Literal[_Flow.CONTINUE]


def captured_input(reply: Reply, gather: Gather) -> list[tuple[str, str]] | None:
    """The Gather action parameters for what the resident did, or None if Twilio heard nothing.

    Speech only counts when the Gather listens for speech, key presses only when it listens
    for DTMF; digits stop at ``#`` (finishOnKey) and are cut to ``numDigits``.
    """
    if reply.speech is not None and "speech" in gather.input:
        params = [("SpeechResult", reply.speech)]
        if reply.confidence is not None:
            params.append(("Confidence", str(reply.confidence)))
        return params
    if reply.digits is not None and "dtmf" in gather.input:
        digits = reply.digits.split("#", 1)[0]
        if gather.num_digits is not None:
            digits = digits[: gather.num_digits]
        return [("Digits", digits)] if digits else None
    return None


class CallPlayer:
    def __init__(
        self,
        call: CallRecord,
        behaviour: Behaviour,
        *,
        account_sid: str,
        journal: Journal,
        send: Send,
        timeline: Timeline,
        behaviour_of: BehaviourOf | None = None,
    ) -> None:
        self._call = call  # the journal's own record: mutate only inside journal.change()
        self._behaviour = behaviour
        self._account_sid = account_sid
        self._journal = journal
        self._send = send
        self._timeline = timeline
        self._behaviour_of = behaviour_of  # what a number this call <Dial>s does
        self._sequence = 0
        self._answered_at: float | None = None
        self._abandoned = False
        self._replies: list[Reply] = list(behaviour.replies) if behaviour.kind == "answer" else []

    def run(self) -> None:
        """Worker-thread entry point: never raises."""
        try:
            self._play()
        except Exception as exc:  # one broken call must not take the emulator down
            log.exception("call %s: emulator error", self._call.sid)
            self._note(f"emulator error: {type(exc).__name__}: {exc}")
        finally:
            with self._journal.change():
                self._call.finished = True
            self._journal.end_work()

    # -- the call ---------------------------------------------------------------------------

    def _play(self) -> None:
        kind = self._behaviour.kind
        if self._call.direction == "inbound":
            self._play_inbound()
            return
        self._status_callback("initiated")
        if kind in ("fail", "busy"):
            if self._advance(1 if kind == "fail" else 2):
                self._finish("failed" if kind == "fail" else "busy")
            return
        if not self._advance(1):
            return
        self._set_status("ringing")
        self._status_callback("ringing")
        timeout = float(self._call.timeout_s)
        ring = self._behaviour.ring_seconds
        if kind == "no_answer" or (ring is not None and ring >= timeout):
            if self._advance(timeout if ring is None else min(ring, timeout)):
                self._finish("no-answer")
            return
        if not self._advance(DEFAULT_RING_S if ring is None else ring):
            return
        self._answer()
        self._converse()
        if not self._timeline.stopping:
            self._finish("completed")

    def _play_inbound(self) -> None:
        """Someone called our number: Twilio fetches the voice URL at once (no ringing on our
        side, no machine detection); the caller then behaves as scripted."""
        self._answered_at = self._timeline.elapsed_s
        self._set_status("in-progress")
        self._converse()
        if not self._timeline.stopping:
            self._finish("completed")

    def _answer(self) -> None:
        detection = self._call.machine_detection
        answered_by = None
        if detection in ("Enable", "DetectMessageEnd"):
            if self._behaviour.kind == "voicemail":
                answered_by = "machine_end_beep" if detection == "DetectMessageEnd" else "machine_start"
            else:
                answered_by = "human"
        self._answered_at = self._timeline.elapsed_s
        with self._journal.change():
            self._call.answered_by = answered_by
            self._call.status = "in-progress"
        self._status_callback("in-progress")

    def _finish(self, status: str) -> None:
        duration = 0
        if self._answered_at is not None:
            duration = max(1, round(self._timeline.elapsed_s - self._answered_at))
        with self._journal.change():
            self._call.status = status
            self._call.duration_s = duration
        extra = [("CallDuration", str(duration)), ("Duration", str(-(-duration // 60)))]
        self._status_callback(status, extra)
        log.info("call %s to %s ended: %s", self._call.sid, mask_phone(self._call.to), status)

    # -- the conversation -------------------------------------------------------------------

    def _converse(self) -> None:
        if self._call.twiml is not None:
            document, document_url = self._call.twiml, None
        else:
            assert self._call.url is not None  # the emulator refuses calls with neither
            extra = [("AnsweredBy", self._call.answered_by)] if self._call.answered_by else []
            response = self._fetch(_NextRequest("answer", self._call.method, self._call.url, extra))
            if response is None:
                return
            document, document_url = response.body, self._call.url
        for _turn in range(MAX_TURNS):
            try:
                verbs = parse_twiml(document)
            except TwimlError as exc:
                self._note(f"12100 TwiML parse failure from {document_url or 'inline TwiML'}: {exc}")
                return
            following = self._execute(verbs, document_url)
            if following is None:
                return
            response = self._fetch(following)
            if response is None:
                return
            document, document_url = response.body, following.url
        self._note(f"more than {MAX_TURNS} webhook round trips in one call; hanging up")

    def _execute(self, verbs: Sequence[Verb], document_url: str | None) -> _NextRequest | None:
        """Runs one TwiML document; returns the request it leads to, or None when the call ends."""
        for verb in verbs:
            if self._timeline.stopping:
                return None
            match verb:
                case Say() | Play() | Pause():
                    self._hear(verb)
                case Gather():
                    outcome = self._gather(verb, document_url)
                    if outcome is not _Flow.CONTINUE:
                        return outcome
                case Dial():
                    following = self._dial(verb, document_url)
                    if following is not _Flow.CONTINUE:
                        return following
                case Redirect(url=url, method=method):
                    target = self._resolve(document_url, url)
                    return _NextRequest("redirect", method, target, []) if target else None
                case Hangup() | Reject():
                    return None
                case Unsupported(verb=name):
                    self._note(f"unsupported verb <{name}> skipped")
        return None

    def _gather(self, gather: Gather, document_url: str | None) -> GatherOutcome:
        for prompt in gather.prompts:
            self._hear(prompt)
        if self._hangs_up_now():
            self._record_reply({"hung_up": True, "heard": False})
            return None
        captured = None
        if self._behaviour.kind == "answer":  # a voicemail machine never answers a question
            reply = self._replies.pop(0) if self._replies else Reply.silence()
            captured = captured_input(reply, gather)
            described = reply.to_json() if not reply.is_silence else {"silence": True}
            self._record_reply({**described, "heard": captured is not None})
        if captured is not None:
            if not self._advance(2.0):
                return None
            target = self._resolve(document_url, gather.action)
            return _NextRequest("gather", gather.method, target, captured) if target else None
        if not self._advance(gather.timeout_s):
            return None
        if gather.action_on_empty_result:
            target = self._resolve(document_url, gather.action)
            return _NextRequest("gather", gather.method, target, []) if target else None
        return _Flow.CONTINUE

    def _dial(self, dial: Dial, document_url: str | None) -> GatherOutcome:
        """Put the caller through to a number: it does what its behaviour says (answers and talks
        for a while, rings out, is busy, fails); then the action URL hears how it went, or the
        document goes on."""
        kind = self._behaviour_of(dial.number).kind if self._behaviour_of is not None else "answer"
        status = _DIAL_STATUS.get(kind, "failed")
        talked = DIALLED_TALK_S if status == "completed" else 0.0
        waited = dial.timeout_s if status == "no-answer" else DEFAULT_RING_S
        with self._journal.change():
            self._call.dialled.append({"number": dial.number, "status": status, "duration_s": int(talked)})
        if not self._advance(waited + talked):
            return None
        if dial.action is None:
            return _Flow.CONTINUE
        target = self._resolve(document_url, dial.action)
        params = [("DialCallStatus", status), ("DialCallDuration", str(int(talked)))]
        return _NextRequest("dial", dial.method, target, params) if target else None

    def _hangs_up_now(self) -> bool:
        if self._behaviour.kind == "hangup":
            return True
        limit = self._behaviour.hangup_after
        answered = (
            len(self._behaviour.replies) - len(self._replies) if self._behaviour.kind == "answer" else 0
        )
        return limit is not None and answered >= limit

    def _record_reply(self, reply: dict[str, Any]) -> None:
        with self._journal.change():
            self._call.replies.append(reply)

    def _hear(self, prompt: Say | Play | Pause) -> None:
        match prompt:
            case Say(text=text):
                with self._journal.change():
                    self._call.said.append(text)
                self._advance(max(1.0, 0.12 * len(text)))  # roughly the time to speak it
            case Play():
                self._advance(3.0)
            case Pause(seconds=seconds):
                self._advance(seconds)

    # -- plumbing ---------------------------------------------------------------------------

    def _resolve(self, document_url: str | None, target: str | None) -> str | None:
        if target and target.startswith(("http://", "https://")):
            return target
        if document_url is None:
            self._note(f"relative URL {target!r} in inline TwiML cannot be resolved; hanging up")
            return None
        return urljoin(document_url, target or "")

    def _voice_params(self, status: str) -> list[tuple[str, str]]:
        call = self._call
        return [
            ("AccountSid", self._account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", call.sid),
            ("CallStatus", status),
            ("Called", call.to),
            ("Caller", call.from_),
            ("Direction", call.direction),
            ("From", call.from_),
            ("To", call.to),
        ]

    def _fetch(self, request: _NextRequest) -> WebhookResponse | None:
        params = [*self._voice_params("in-progress"), *request.params]
        response = self._exchange(request.purpose, request.method, request.url, params)
        if not response.ok:
            self._note(
                f"11200 HTTP retrieval failure: {request.purpose} -> {response.status or response.error}"
            )
            return None
        if response.content_type not in _TWIML_TYPES:
            self._note(f"12300 invalid Content-Type {response.content_type!r} for TwiML ({request.purpose})")
            return None
        return response

    def _status_callback(self, status: str, extra: Sequence[tuple[str, str]] = ()) -> None:
        call = self._call
        event = _EVENT_OF_STATUS.get(status, "completed")
        if not call.status_callback or event not in call.status_callback_events:
            return
        params = [
            *self._voice_params(status),
            ("CallbackSource", "call-progress-events"),
            ("SequenceNumber", str(self._sequence)),
            ("Timestamp", rfc2822(self._timeline.now())),
        ]
        if call.answered_by and status not in ("initiated", "ringing"):
            params.append(("AnsweredBy", call.answered_by))
        params.extend(extra)
        self._sequence += 1
        self._exchange("status", call.status_callback_method, call.status_callback, params)

    def _exchange(
        self, purpose: str, method: str, url: str, params: Sequence[tuple[str, str]]
    ) -> WebhookResponse:
        response = self._send(method, url, params)
        with self._journal.change():
            self._call.webhooks.append(
                WebhookExchange(
                    purpose=purpose,
                    method=method,
                    url=url,
                    params=dict(params),
                    status=response.status,
                    error=response.error,
                )
            )
        if not response.ok:
            log.warning(
                "call %s: %s webhook answered %s", self._call.sid, purpose, response.status or response.error
            )
        return response

    def _set_status(self, status: str) -> None:
        with self._journal.change():
            self._call.status = status

    def _note(self, message: str) -> None:
        with self._journal.change():
            self._call.errors.append(message)

    def _advance(self, seconds: float) -> bool:
        if self._timeline.advance(seconds):
            return True
        if not self._abandoned:
            self._abandoned = True
            self._note("emulator stopped during the call")
        return False
