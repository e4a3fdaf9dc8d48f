"""A local stand-in for Twilio's REST API and phone network, for tests and the demo.

Point the real ``twilio`` library at :attr:`TwilioEmulator.base_url` (an ``http_client`` that
rewrites ``https://api.twilio.com`` to it). Creating a call answers 201 with a realistic Call
resource, then a worker thread plays the call against our webhooks (see
:mod:`simulator.call_player`); creating a message answers 201 and posts its status callbacks
(see :mod:`simulator.sms_player`). ``GET .../Calls.json`` and ``Messages.json`` list what was
created, newest first, filtered by ``To`` / ``From`` (one page). Every webhook request is signed with the emulator's own
implementation of ``X-Twilio-Signature``.

What each destination does is set per number with :class:`Behaviour` — in Python or over the
unauthenticated control API under ``/_emulator/`` (loopback only: it is a test double):

- ``POST /_emulator/behaviours``  JSON ``{number: behaviour}`` (``"*"`` sets the default)
- ``POST /_emulator/invalid``     JSON ``{"numbers": [...]}`` (REST create answers 21211)
- ``POST /_emulator/inbound_sms`` JSON ``{"from", "to", "body", "url"}`` → ``{"status": int}``
- ``POST /_emulator/inbound_call`` JSON ``{"from", "to", "url", "behaviour"?}`` → ``{"sid"}``: the
  caller rings our number; the call plays like an outbound one (without ringing or machine detection)
- ``POST /_emulator/faults``      JSON ``{"after_create": n, "status"?: 500}``: the next ``n`` creates
  (calls or messages) are made as usual, then answered with that 5xx instead of the resource
  (Twilio took the request, the response says it failed: an uncertain send)
- ``POST /_emulator/reset``       forget recorded calls and messages

A person may answer a delivered text (``Behaviour.sms_reply``, e.g. ``"1 {code}"``): the reply
goes to the sending number's incoming-message webhook, set in Python with :meth:`set_sms_url`.
- ``GET  /_emulator/calls``, ``/_emulator/messages``, ``/_emulator/inbound``, ``/_emulator/behaviours``

Error codes follow Twilio where known (20003 auth, 21211 invalid To, 21201/21604 missing To,
21213/21603 missing From, 21602 missing Body, 21617 body too long); 20001 (invalid parameter)
and 21205 (missing/invalid Url) are used for other bad requests and are approximations.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NoReturn
from urllib.parse import parse_qsl, urlsplit

from simulator.call_player import CallPlayer
from simulator.phone_scenarios import Behaviour, Reply, ScenarioError
from simulator.sim_timeline import Timeline
from simulator.sms_player import SmsPlayer
from simulator.twilio_records import CallRecord, Journal, MessageRecord, WebhookExchange
from simulator.twilio_resources import (
    API_VERSION,
    call_resource,
    error_body,
    is_e164,
    mask_phone,
    message_resource,
    new_sid,
    sms_segments,
)
from simulator.webhook_client import WebhookResponse, send_webhook

__all__ = ["Behaviour", "CallRecord", "MessageRecord", "Reply", "TwilioEmulator", "WebhookExchange"]

log = logging.getLogger(__name__)

_API_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/(?P<resource>Calls|Messages)(?:/(?P<sid>[^/]+))?\.json$"
)
_CALL_EVENTS = frozenset({"initiated", "ringing", "answered", "completed"})
_MACHINE_DETECTION = frozenset({"Enable", "DetectMessageEnd"})
_MAX_BODY_CHARS = 1600
_MAX_REQUEST_BYTES = 1_000_000
MESSAGING_SERVICE_SENDER = "+15005550006"  # the number a Messaging Service "picks" when From is absent


@dataclass
class HttpReply:
    status: int
    body: Any  # JSON-serialisable
    headers: dict[str, str] = field(default_factory=dict)


class _FormError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.reply = HttpReply(status, error_body(status, code, message))


class TwilioEmulator:
    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pace: float = 0.0,
        webhook_timeout_s: float = 10.0,
        time_source: Callable[[], datetime] | None = None,
    ) -> None:
        """``pace``: real seconds waited per simulated second of a call (0 = play instantly, 1 =
        real time). ``time_source`` gives the start time of each call/message (aware UTC)."""
        self.account_sid = account_sid
        self._auth_token = auth_token
        self._host = host
        self._port = port
        self._pace = pace
        self._webhook_timeout_s = webhook_timeout_s
        self._now = time_source or (lambda: datetime.now(UTC))
        self._journal = Journal()
        self._lock = threading.Lock()
        self._behaviours: dict[str, Behaviour] = {}
        self._default = Behaviour(kind="answer", replies=(Reply.say("네, 괜찮아요."),))
        self._invalid: set[str] = set()
        self._sms_urls: dict[str, str] = {}  # our number -> its incoming-message webhook
        self._faults_after_create: list[int] = []  # statuses for the next creates, in order
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._server: ThreadingHTTPServer | None = None
        self._serve_thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler)
        server.emulator = self
        self._server = server
        self._serve_thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="twilio-emulator", daemon=True
        )
        self._serve_thread.start()
        log.info("Twilio emulator listening on %s", self.base_url)

    def stop(self) -> None:
        """Stops serving and abandons calls in progress (they record that they were stopped)."""
        self._stopping.set()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._serve_thread is not None:
            self._serve_thread.join(timeout=5)
            self._serve_thread = None
        with self._lock:
            workers, self._workers = self._workers, []
        for worker in workers:
            worker.join(timeout=self._webhook_timeout_s + 2)

    def __enter__(self) -> TwilioEmulator:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scenarios --------------------------------------------------------------------------

    def set_behaviour(self, number: str, behaviour: Behaviour) -> None:
        with self._lock:
            self._behaviours[number] = behaviour

    def set_behaviours(self, behaviours: Mapping[str, Behaviour]) -> None:
        with self._lock:
            self._behaviours.update(behaviours)

    def set_sms_url(self, number: str, url: str) -> None:
        """The incoming-message webhook of one of our numbers (Twilio's number configuration):
        where a simulated person's reply (:attr:`Behaviour.sms_reply`) to its texts goes."""
        _require_http_url(url, "SmsUrl")
        with self._lock:
            self._sms_urls[number] = url

    def set_default_behaviour(self, behaviour: Behaviour) -> None:
        with self._lock:
            self._default = behaviour

    def mark_invalid(self, number: str) -> None:
        """REST creates to this number fail with 400 / 21211, like a number Twilio rejects."""
        with self._lock:
            self._invalid.add(number)

    def fail_after_create(self, count: int = 1, *, status: int = 500) -> None:
        """The next ``count`` creates are made (the call plays, the message goes) but answered
        ``status`` (a 5xx), as when Twilio acts on a request and then fails to say so."""
        if not 500 <= status < 600 or count < 0:
            raise ValueError("fail_after_create takes a 5xx status and a count >= 0")
        with self._lock:
            self._faults_after_create.extend([status] * count)

    def _fault_after_create(self) -> int | None:
        with self._lock:
            return self._faults_after_create.pop(0) if self._faults_after_create else None

    def behaviour_for(self, number: str) -> Behaviour:
        with self._lock:
            return self._behaviours.get(number, self._default)

    # -- what happened ----------------------------------------------------------------------

    def calls(self) -> list[CallRecord]:
        """Snapshots of every call so far, oldest first."""
        return self._journal.calls()

    def messages(self) -> list[MessageRecord]:
        return self._journal.messages()

    def call(self, sid: str) -> CallRecord | None:
        return self._journal.call(sid)

    def message(self, sid: str) -> MessageRecord | None:
        return self._journal.message(sid)

    def inbound(self) -> list[WebhookExchange]:
        """Inbound SMS webhooks sent with :meth:`send_inbound_sms`."""
        return self._journal.inbound()

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Waits until ``predicate()`` is true (re-checked on every recorded change); False on timeout."""
        return self._journal.wait_for(predicate, timeout)

    def wait_until_idle(self, timeout: float = 10.0) -> bool:
        """Waits until every call and message has finished playing."""
        return self._journal.wait_until_idle(timeout)

    def reset(self) -> None:
        self._journal.clear()

    # -- inbound SMS ------------------------------------------------------------------------

    def send_inbound_sms(
        self, *, from_: str, to: str, body: str, url: str, message_sid: str | None = None
    ) -> int:
        """POSTs Twilio's incoming-message webhook to ``url`` (signed); returns the HTTP status.

        ``message_sid``: deliver an earlier message again (Twilio's retried webhook) instead of
        a new one. Raises ConnectionError when no HTTP response arrives at all.
        """
        sid = message_sid or new_sid("SM")
        params = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("Body", body),
            ("From", from_),
            ("MessageSid", sid),
            ("NumMedia", "0"),
            ("NumSegments", str(sms_segments(body))),
            ("SmsMessageSid", sid),
            ("SmsSid", sid),
            ("SmsStatus", "received"),
            ("To", to),
        ]
        response = self._send("POST", url, params)
        self._journal.add_inbound(
            WebhookExchange(
                purpose="inbound-sms",
                method="POST",
                url=url,
                params=dict(params),
                status=response.status,
                error=response.error,
                response_body=response.body,
            )
        )
        if response.status is None:
            raise ConnectionError(f"inbound SMS webhook got no response: {response.error}")
        return response.status

    def _reply_to(self, message: MessageRecord, behaviour: Behaviour, timeline: Timeline) -> None:
        """The recipient reads a delivered text and answers it, if their behaviour says so."""
        body = behaviour.sms_reply_to(message.body)
        with self._lock:
            url = self._sms_urls.get(message.from_ or "")
        if body is None or url is None:
            return
        if not timeline.advance(behaviour.sms_reply_after_s):
            return
        status = self.send_inbound_sms(from_=message.to, to=message.from_ or "", body=body, url=url)
        log.info("message %s: %s replied (webhook %s)", message.sid, mask_phone(message.to), status)

    # -- inbound calls ----------------------------------------------------------------------

    def place_inbound_call(
        self,
        *,
        from_: str,
        to: str,
        url: str,
        behaviour: Behaviour | None = None,
        status_callback: str | None = None,
    ) -> str:
        """Someone (``from_``) calls our number ``to``: the emulator fetches the number's voice URL
        (``url``, POST, signed) and plays the conversation as ``behaviour`` (default: the caller's
        own behaviour, see :meth:`set_behaviour`). Returns the call sid at once; the call plays on
        a worker thread (:meth:`wait_until_idle`)."""
        if not is_e164(from_) or not is_e164(to):
            raise ScenarioError("inbound call numbers must be E.164")
        if not url.startswith(("http://", "https://")):
            raise ScenarioError("inbound call url must be an http(s) URL")
        chosen = behaviour or self.behaviour_for(from_)
        created = self._now()
        call = CallRecord(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            url=url,
            twiml=None,
            method="POST",
            status_callback=status_callback,
            status_callback_method="POST",
            status_callback_events=["completed"],
            machine_detection=None,
            timeout_s=30,
            behaviour_kind=chosen.kind,
            created_at=created.isoformat(),
            direction="inbound",
        )
        self._journal.add_call(call)
        player = CallPlayer(
            call,
            chosen,
            account_sid=self.account_sid,
            journal=self._journal,
            send=self._send,
            timeline=Timeline(created, pace=self._pace, stopping=self._stopping),
            behaviour_of=self.behaviour_for,
        )
        self._spawn(player.run, f"inbound-call-{call.sid}")
        log.info("inbound call %s from %s (%s)", call.sid, mask_phone(from_), chosen.kind)
        return call.sid

    # -- HTTP routing (transport-free, so it is testable without sockets) --------------------

    def handle(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
        parts = urlsplit(target)
        path = parts.path
        headers = {name.lower(): value for name, value in headers.items()}
        try:
            if path.startswith("/_emulator/"):
                return self._control(method, path, body)
            match = _API_PATH.match(path)
            if match is None:
                return _not_found(path)
            if not self._authorised(headers.get("authorization", "")):
                return HttpReply(
                    401,
                    error_body(401, 20003, "Authenticate"),
                    {"WWW-Authenticate": 'Basic realm="Twilio API"'},
                )
            if match["account"] != self.account_sid:
                return _not_found(path)
            return self._api(method, match["resource"], match["sid"], headers, body, parts.query)
        except _FormError as exc:
            return exc.reply

    def _authorised(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        expected = f"{self.account_sid}:{self._auth_token}".encode()
        return hmac.compare_digest(f"{user}:{password}".encode(), expected)

    def _api(
        self,
        method: str,
        resource: str,
        sid: str | None,
        headers: Mapping[str, str],
        body: bytes,
        query: str = "",
    ) -> HttpReply:
        if method == "GET" and sid is not None:
            return self._fetch_resource(resource, sid)
        if method == "GET":
            return self._list_resources(resource, dict(parse_qsl(query)))
        if method == "POST" and sid is None:
            form = _parse_form(headers.get("content-type", ""), body)
            created = self._create_call(form) if resource == "Calls" else self._create_message(form)
            fault = self._fault_after_create() if created.status == 201 else None
            if fault is not None:
                log.info("fault injected: %s created, answered %d", resource, fault)
                return HttpReply(fault, error_body(fault, 20500, "Internal Server Error"))
            return created
        return HttpReply(405, error_body(405, 20004, f"Method {method} not allowed on this resource"))

    def _fetch_resource(self, resource: str, sid: str) -> HttpReply:
        if resource == "Calls" and (call := self._journal.call(sid)):
            return HttpReply(200, self._call_json(call))
        if resource == "Messages" and (message := self._journal.message(sid)):
            return HttpReply(200, self._message_json(message))
        return _not_found(sid)

    def _list_resources(self, resource: str, query: Mapping[str, str]) -> HttpReply:
        """``GET .../Calls.json`` / ``Messages.json``: one page, newest first, filtered by To and From."""
        try:
            size = max(1, min(int(query.get("PageSize", "50")), 1000))
        except ValueError:
            _fail(400, 20001, "PageSize must be an integer")
        to, from_ = query.get("To"), query.get("From")
        records: Sequence[CallRecord | MessageRecord] = (
            self._journal.calls() if resource == "Calls" else self._journal.messages()
        )
        chosen = [
            r for r in reversed(records) if (to is None or r.to == to) and (from_ is None or r.from_ == from_)
        ][:size]
        items = [
            self._call_json(r, _created(r))
            if isinstance(r, CallRecord)
            else self._message_json(r, _created(r))
            for r in chosen
        ]
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/{resource}.json"
        return HttpReply(
            200,
            {
                resource.lower(): items,
                "end": max(len(items) - 1, 0),
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize={size}&Page=0",
            },
        )

    def _create_call(self, form: list[tuple[str, str]]) -> HttpReply:
        one = _single_values(form)
        to = self._destination(one.get("To"), missing_code=21201, missing="No 'To' number is specified")
        from_ = one.get("From") or _fail(400, 21213, "No 'From' number is specified")
        url, twiml = one.get("Url"), one.get("Twiml")
        if twiml is None:
            if not url:
                _fail(400, 21205, "Url parameter is required (or Twiml)")
            _require_http_url(url, "Url")
        status_callback = one.get("StatusCallback")
        if status_callback:
            _require_http_url(status_callback, "StatusCallback")
        events = [value for name, value in form if name == "StatusCallbackEvent"] or ["completed"]
        if unknown := set(events) - _CALL_EVENTS:
            _fail(400, 20001, f"Invalid StatusCallbackEvent: {', '.join(sorted(unknown))}")
        machine_detection = one.get("MachineDetection")
        if machine_detection is not None and machine_detection not in _MACHINE_DETECTION:
            _fail(400, 20001, "MachineDetection must be Enable or DetectMessageEnd")
        behaviour = self.behaviour_for(to)
        call = CallRecord(
            sid=new_sid("CA"),
            to=to,
            from_=from_,
            url=url if twiml is None else None,
            twiml=twiml,
            method=_http_method(one.get("Method"), "Method"),
            status_callback=status_callback,
            status_callback_method=_http_method(one.get("StatusCallbackMethod"), "StatusCallbackMethod"),
            status_callback_events=events,
            machine_detection=machine_detection,
            timeout_s=_ring_timeout(one.get("Timeout")),
            behaviour_kind=behaviour.kind,
        )
        created = self._now()
        call.created_at = created.isoformat()
        self._journal.add_call(call)
        player = CallPlayer(
            call,
            behaviour,
            account_sid=self.account_sid,
            journal=self._journal,
            send=self._send,
            timeline=Timeline(created, pace=self._pace, stopping=self._stopping),
            behaviour_of=self.behaviour_for,
        )
        # The create answer is what Twilio says at creation ("queued"): render it before the player
        # thread can move the call on to "ringing".
        reply = HttpReply(201, self._call_json(call, created))
        self._spawn(player.run, f"call-{call.sid}")
        log.info("call %s to %s queued (%s)", call.sid, mask_phone(to), behaviour.kind)
        return reply

    def _create_message(self, form: list[tuple[str, str]]) -> HttpReply:
        one = _single_values(form)
        to = self._destination(one.get("To"), missing_code=21604, missing="A 'To' phone number is required.")
        service = one.get("MessagingServiceSid")
        from_ = one.get("From") or (MESSAGING_SERVICE_SENDER if service else None)
        if from_ is None:
            _fail(400, 21603, "A 'From' phone number is required.")
        body = one.get("Body", "")
        if not body:
            _fail(400, 21602, "Message body is required.")
        if len(body) > _MAX_BODY_CHARS:
            _fail(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        status_callback = one.get("StatusCallback")
        if status_callback:
            _require_http_url(status_callback, "StatusCallback")
        behaviour = self.behaviour_for(to)
        message = MessageRecord(
            sid=new_sid("SM"),
            to=to,
            from_=from_,
            messaging_service_sid=service,
            body=body,
            status_callback=status_callback,
            outcome=behaviour.sms,
        )
        created = self._now()
        message.created_at = created.isoformat()
        self._journal.add_message(message)
        player = SmsPlayer(
            message,
            account_sid=self.account_sid,
            error_code=behaviour.sms_error_code,
            journal=self._journal,
            send=self._send,
            timeline=Timeline(created, pace=self._pace, stopping=self._stopping),
            on_delivered=lambda timeline: self._reply_to(message, behaviour, timeline),
        )
        self._spawn(player.run, f"sms-{message.sid}")
        log.info("message %s to %s queued (%s)", message.sid, mask_phone(to), behaviour.sms)
        return HttpReply(201, self._message_json(message, created))

    def _destination(self, to: str | None, *, missing_code: int, missing: str) -> str:
        if not to:
            _fail(400, missing_code, missing)
        with self._lock:
            invalid = to in self._invalid
        if invalid or not is_e164(to):
            _fail(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        return to

    def _call_json(self, call: CallRecord, created: datetime | None = None) -> dict[str, Any]:
        moment = created or self._now()
        return call_resource(
            account_sid=self.account_sid,
            sid=call.sid,
            to=call.to,
            from_=call.from_,
            status=call.status,
            created=moment,
            updated=moment,
            answered_by=call.answered_by,
            duration_s=call.duration_s,
        )

    def _message_json(self, message: MessageRecord, created: datetime | None = None) -> dict[str, Any]:
        moment = created or self._now()
        return message_resource(
            account_sid=self.account_sid,
            sid=message.sid,
            to=message.to,
            from_=message.from_,
            messaging_service_sid=message.messaging_service_sid,
            body=message.body,
            status=message.status,
            created=moment,
            updated=moment,
            error_code=message.error_code,
        )

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        self._journal.begin_work()  # before start(): wait_until_idle must never see a gap
        worker = threading.Thread(target=target, name=name, daemon=True)
        with self._lock:
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def _send(self, method: str, url: str, params: Sequence[tuple[str, str]]) -> WebhookResponse:
        return send_webhook(
            method, url, params, auth_token=self._auth_token, timeout_s=self._webhook_timeout_s
        )

    # -- control API ------------------------------------------------------------------------

    def _control(self, method: str, path: str, body: bytes) -> HttpReply:
        name = path.removeprefix("/_emulator/").rstrip("/")
        if method == "GET":
            views: dict[str, Callable[[], Any]] = {
                "calls": lambda: [c.to_json() for c in self.calls()],
                "messages": lambda: [m.to_json() for m in self.messages()],
                "inbound": lambda: [vars(w) for w in self.inbound()],
                "behaviours": self._behaviours_json,
            }
            view = views.get(name)
            return HttpReply(200, view()) if view else _not_found(path)
        if method != "POST":
            return HttpReply(405, {"error": f"{method} not allowed"})
        try:
            data = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            return HttpReply(400, {"error": f"body is not JSON: {exc}"})
        try:
            match name:
                case "behaviours":
                    return self._post_behaviours(data)
                case "invalid":
                    return self._post_invalid(data)
                case "faults":
                    return self._post_faults(data)
                case "inbound_sms":
                    return self._post_inbound_sms(data)
                case "inbound_call":
                    return self._post_inbound_call(data)
                case "reset":
                    self.reset()
                    return HttpReply(200, {"ok": True})
        except (ScenarioError, TypeError, ValueError) as exc:
            return HttpReply(400, {"error": str(exc)})
        return _not_found(path)

    def _behaviours_json(self) -> dict[str, Any]:
        with self._lock:
            listed = {number: b.to_json() for number, b in self._behaviours.items()}
            listed["*"] = self._default.to_json()
        return listed

    def _post_behaviours(self, data: Any) -> HttpReply:
        if not isinstance(data, dict):
            raise ScenarioError("expected a JSON object {number: behaviour}")
        parsed = {number: Behaviour.from_json(spec) for number, spec in data.items()}  # all or nothing
        default = parsed.pop("*", None)
        self.set_behaviours(parsed)
        if default is not None:
            self.set_default_behaviour(default)
        return HttpReply(200, {"ok": True, "numbers": sorted(data)})

    def _post_invalid(self, data: Any) -> HttpReply:
        numbers = data.get("numbers") if isinstance(data, dict) else None
        if not isinstance(numbers, list) or not all(isinstance(n, str) for n in numbers):
            raise ScenarioError('expected {"numbers": ["+8210...", ...]}')
        for number in numbers:
            self.mark_invalid(number)
        return HttpReply(200, {"ok": True})

    def _post_faults(self, data: Any) -> HttpReply:
        count = data.get("after_create") if isinstance(data, dict) else None
        status = data.get("status", 500) if isinstance(data, dict) else None
        if not isinstance(count, int) or not isinstance(status, int):
            raise ScenarioError('expected {"after_create": int, "status"?: 5xx}')
        self.fail_after_create(count, status=status)
        return HttpReply(200, {"ok": True})

    def _post_inbound_call(self, data: Any) -> HttpReply:
        fields = ("from", "to", "url")
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
            raise ScenarioError('expected {"from": str, "to": str, "url": str, "behaviour"?: {...}}')
        behaviour = Behaviour.from_json(data["behaviour"]) if data.get("behaviour") is not None else None
        sid = self.place_inbound_call(from_=data["from"], to=data["to"], url=data["url"], behaviour=behaviour)
        return HttpReply(201, {"sid": sid})

    def _post_inbound_sms(self, data: Any) -> HttpReply:
        fields = ("from", "to", "body", "url")
        if not isinstance(data, dict) or not all(isinstance(data.get(f), str) for f in fields):
            raise ScenarioError('expected {"from": str, "to": str, "body": str, "url": str}')
        try:
            status = self.send_inbound_sms(
                from_=data["from"], to=data["to"], body=data["body"], url=data["url"]
            )
        except ConnectionError as exc:
            return HttpReply(502, {"error": str(exc)})
        return HttpReply(200, {"status": status})


# -- form helpers --------------------------------------------------------------------------------


def _created(record: CallRecord | MessageRecord) -> datetime | None:
    return datetime.fromisoformat(record.created_at) if record.created_at else None


def _fail(status: int, code: int, message: str) -> NoReturn:
    raise _FormError(status, code, message)


def _not_found(what: str) -> HttpReply:
    return HttpReply(404, error_body(404, 20404, f"The requested resource {what} was not found"))


def _parse_form(content_type: str, body: bytes) -> list[tuple[str, str]]:
    if content_type.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        _fail(400, 20001, f"Expected application/x-www-form-urlencoded, got {content_type or 'nothing'}")
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        _fail(400, 20001, "Request body is not UTF-8")


def _single_values(form: list[tuple[str, str]]) -> dict[str, str]:
    values: dict[str, str] = {}
    for name, value in form:
        values.setdefault(name, value)  # repeated keys (StatusCallbackEvent) are read separately
    return values


def _require_http_url(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        _fail(400, 21205, f"{name} is not a valid URL: {url}")


def _http_method(value: str | None, name: str) -> str:
    method = (value or "POST").upper()
    if method not in ("GET", "POST"):
        _fail(400, 20001, f"{name} must be GET or POST")
    return method


def _ring_timeout(value: str | None) -> int:
    if value is None:
        return 60
    if not value.isdigit():
        _fail(400, 20001, f"Timeout must be a whole number of seconds, got {value!r}")
    return min(max(int(value), 1), 600)  # Twilio clamps to 600


# -- HTTP transport ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: TwilioEmulator


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "TwilioEmulator/1.0"

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_REQUEST_BYTES:
            reply = HttpReply(413, error_body(413, 20001, "Request body too large"))
        else:
            body = self.rfile.read(length) if length else b""
            try:
                reply = self.server.emulator.handle(method, self.path, dict(self.headers.items()), body)
            except Exception:  # a bug in one request must not kill the server thread
                log.exception("emulator failed on %s %s", method, urlsplit(self.path).path)
                reply = HttpReply(500, error_body(500, 20500, "Internal emulator error"))
        payload = json.dumps(reply.body, ensure_ascii=False).encode("utf-8")
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        # Paths only (no bodies, so no phone numbers or message text).
        log.debug("%s %s", self.address_string(), format % args)
