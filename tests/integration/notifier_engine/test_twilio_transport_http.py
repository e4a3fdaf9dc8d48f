"""The Twilio transport with the real twilio library, against a tiny HTTP server on loopback."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from core.clock import ManualClock
from core.db import session_scope
from core.enums import CallStatus
from core.settings import DEV_TWILIO_ACCOUNT_SID, Settings
from notifier import outbox
from notifier.pacing import CallPacer
from notifier.transports import TransportError
from notifier.transports.factory import make_transport
from notifier.transports.twilio import TwilioTransport
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_engine.support import PUBLIC_BASE, calls
from tests.ticks import run_notifier_ticks

SID = DEV_TWILIO_ACCOUNT_SID
TOKEN = "test-auth-token"
FROM = "+15005550006"


@dataclass
class Captured:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class FakeTwilio:
    """Records requests; answers each with the next queued (status, body) or a 201 resource."""

    requests: list[Captured] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    base_url: str = ""


@pytest.fixture
def fake_twilio() -> Iterator[FakeTwilio]:
    state = FakeTwilio()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            state.requests.append(
                Captured(
                    "POST", self.path, dict(self.headers.items()), parse_qs(body, keep_blank_values=True)
                )
            )
            if state.replies:
                status, text = state.replies.pop(0)
            else:
                prefix = "CA" if self.path.endswith("/Calls.json") else "SM"
                status, text = (
                    201,
                    json.dumps(
                        {
                            "sid": prefix + "f" * 32,
                            "account_sid": SID,
                            "status": "queued",
                            "direction": "outbound-api",
                        }
                    ),
                )
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _transport(base_url: str) -> TwilioTransport:
    return TwilioTransport(account_sid=SID, auth_token=TOKEN, api_base=base_url, timeout_s=5)


def _expected_auth() -> str:
    return "Basic " + base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()


def test_place_call_sends_exactly_the_fields_we_rely_on(fake_twilio: FakeTwilio) -> None:
    sid = _transport(fake_twilio.base_url).place_call(
        to="+821012345678",
        from_=FROM,
        answer_url="https://care.example.org/api/v1/twilio/voice/answer?code=abc",
        status_callback_url="https://care.example.org/api/v1/twilio/voice/status?code=abc",
    )
    assert sid == "CA" + "f" * 32
    (req,) = fake_twilio.requests
    assert req.path == f"/2010-04-01/Accounts/{SID}/Calls.json"
    assert req.headers["Authorization"] == _expected_auth()
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert req.form == {
        "To": ["+821012345678"],
        "From": [FROM],
        "Url": ["https://care.example.org/api/v1/twilio/voice/answer?code=abc"],
        "Method": ["POST"],
        "StatusCallback": ["https://care.example.org/api/v1/twilio/voice/status?code=abc"],
        "StatusCallbackMethod": ["POST"],
        "StatusCallbackEvent": ["initiated", "ringing", "answered", "completed"],
        "Timeout": ["30"],
        "MachineDetection": ["Enable"],
    }


def test_send_sms_sends_exactly_the_fields_we_rely_on(fake_twilio: FakeTwilio) -> None:
    sid = _transport(fake_twilio.base_url).send_sms(
        to="+821077700001",
        from_=FROM,
        body="[안부] 어르신 댁(HH-0001)에 알림이 있습니다.",
        status_callback_url="https://care.example.org/api/v1/twilio/sms/status?id=5",
    )
    assert sid == "SM" + "f" * 32
    (req,) = fake_twilio.requests
    assert req.path == f"/2010-04-01/Accounts/{SID}/Messages.json"
    assert req.headers["Authorization"] == _expected_auth()
    assert req.form == {
        "To": ["+821077700001"],
        "From": [FROM],
        "Body": ["[안부] 어르신 댁(HH-0001)에 알림이 있습니다."],
        "StatusCallback": ["https://care.example.org/api/v1/twilio/sms/status?id=5"],
    }


def _error(status: int, code: int, message: str) -> tuple[int, str]:
    return status, json.dumps(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }
    )


@pytest.mark.parametrize(
    ("reply", "permanent", "code"),
    [
        (_error(400, 21211, "The 'To' number +1 is not a valid phone number."), True, "21211"),
        (_error(400, 21610, "Attempt to send to unsubscribed recipient"), True, "21610"),
        (_error(429, 20429, "Too Many Requests"), False, "20429"),
        (_error(401, 20003, "Authenticate"), False, "20003"),
        ((503, "Service Unavailable"), False, "503"),
        (
            (
                400,
                json.dumps(
                    {
                        "type": "https://www.twilio.com/docs/errors/21614",
                        "title": "Not a mobile number",
                        "status": 400,
                        "code": 21614,
                    }
                ),
            ),
            True,
            "21614",
        ),
    ],
)
def test_error_responses_become_permanent_or_temporary_transport_errors(
    fake_twilio: FakeTwilio, reply: tuple[int, str], permanent: bool, code: str
) -> None:
    fake_twilio.replies.append(reply)
    with pytest.raises(TransportError) as err:
        _transport(fake_twilio.base_url).send_sms(
            to="+1", from_=FROM, body="x", status_callback_url="http://cb"
        )
    assert err.value.permanent is permanent
    assert err.value.code == code
    assert str(reply[0]) in err.value.message
    # Only a 5xx may come after Twilio acted on the request (issue 14.5): the retry asks first.
    assert err.value.uncertain is (reply[0] >= 500)


def test_an_unreachable_api_is_a_temporary_network_error() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TransportError) as err:
        _transport(f"http://127.0.0.1:{port}").place_call(
            to="+821012345678", from_=FROM, answer_url="http://a", status_callback_url="http://s"
        )
    assert err.value.permanent is False and err.value.code == "network" and err.value.uncertain


def test_the_outbox_places_a_queued_call_through_the_twilio_library(
    sqlite_engine: Engine, clock: ManualClock, fake_twilio: FakeTwilio
) -> None:
    settings = Settings(
        _env_file=None,
        public_base_url=PUBLIC_BASE,
        twilio_account_sid=SID,
        twilio_auth_token=TOKEN,
        twilio_from_number=FROM,
        twilio_api_base=fake_twilio.base_url,
    )
    transport = make_transport(settings)
    assert isinstance(transport, TwilioTransport)
    with session_scope(sqlite_engine) as s:
        case_id = make_open_case(s, make_household(s, team=make_team(s)), now=clock.now()).id
    assert run_notifier_ticks(sqlite_engine, clock, settings) == 1
    assert outbox.tick(sqlite_engine, clock, settings, transport, pacer=CallPacer(0)) == 1
    with Session(sqlite_engine) as s:
        (call,) = calls(s, case_id)
    (req,) = fake_twilio.requests
    assert req.form["Url"] == [f"{PUBLIC_BASE}/api/v1/twilio/voice/answer?code={call.code}"]
    assert req.form["StatusCallback"] == [f"{PUBLIC_BASE}/api/v1/twilio/voice/status?code={call.code}"]
    assert req.form["To"] == [call.to_address]
    assert call.provider_sid == "CA" + "f" * 32 and call.status == CallStatus.QUEUED
