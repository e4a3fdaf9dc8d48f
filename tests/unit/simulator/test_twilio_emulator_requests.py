"""REST request handling of the emulator, without sockets (error paths start no call)."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from simulator.twilio_emulator import TwilioEmulator
from simulator.twilio_resources import is_e164, mask_phone, new_sid, rfc2822, sms_segments

SID = "AC" + "1" * 32
TOKEN = "secret-token"
CALLS = f"/2010-04-01/Accounts/{SID}/Calls.json"
MESSAGES = f"/2010-04-01/Accounts/{SID}/Messages.json"
FORM = "application/x-www-form-urlencoded"


def auth(user: str = SID, password: str = TOKEN) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(
    emulator: TwilioEmulator, path: str, form: list[tuple[str, str]], *, authorization: str | None = None
):
    headers = {"Authorization": authorization or auth(), "Content-Type": FORM}
    return emulator.handle("POST", path, headers, urlencode(form).encode())


@pytest.fixture
def emulator() -> TwilioEmulator:
    return TwilioEmulator(SID, TOKEN)  # never started: handle() is transport-free


GOOD_CALL = [("To", "+821000001234"), ("From", "+15005550006"), ("Url", "https://x.example/answer")]


@pytest.mark.parametrize(
    "authorization",
    [auth(password="wrong"), auth(user="AC" + "2" * 32), "Bearer abc", "Basic !!!not-base64", ""],
)
def test_bad_credentials_get_401_with_code_20003(emulator, authorization):
    reply = emulator.handle("POST", CALLS, {"Authorization": authorization, "Content-Type": FORM}, b"")
    assert reply.status == 401 and reply.body["code"] == 20003
    assert reply.body["more_info"] == "https://www.twilio.com/docs/errors/20003"
    assert "WWW-Authenticate" in reply.headers


def test_header_names_are_case_insensitive(emulator):
    reply = emulator.handle("POST", CALLS, {"authorization": auth(), "content-type": FORM}, b"To=bad")
    assert reply.status == 400  # got past auth and form parsing


def test_other_accounts_and_unknown_paths_are_404(emulator):
    other = CALLS.replace(SID, "AC" + "2" * 32)
    assert emulator.handle("POST", other, {"Authorization": auth()}, b"").status == 404
    assert emulator.handle("GET", "/2010-04-01/Nope", {}, b"").body["code"] == 20404
    assert (
        emulator.handle("GET", CALLS.replace(".json", "/CA123.json"), {"Authorization": auth()}, b"").status
        == 404
    )


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("From", "+15005550006"), ("Url", "https://x.example/a")], 21201),
        ([("To", "+821000001234"), ("Url", "https://x.example/a")], 21213),
        ([("To", "+821000001234"), ("From", "+15005550006")], 21205),
        ([*GOOD_CALL[:2], ("Url", "ftp://x.example/a")], 21205),
        ([("To", "01012345678"), *GOOD_CALL[1:]], 21211),
        ([("To", "+0821000001234"), *GOOD_CALL[1:]], 21211),
        ([*GOOD_CALL, ("StatusCallbackEvent", "answered"), ("StatusCallbackEvent", "exploded")], 20001),
        ([*GOOD_CALL, ("MachineDetection", "Maybe")], 20001),
        ([*GOOD_CALL, ("Timeout", "soon")], 20001),
        ([*GOOD_CALL, ("Method", "PUT")], 20001),
    ],
)
def test_bad_call_requests_get_twilio_style_400s(emulator, form, code):
    reply = post(emulator, CALLS, form)
    assert reply.status == 400 and reply.body["code"] == code and reply.body["status"] == 400
    assert reply.body["message"]
    assert emulator.calls() == []


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ([("From", "+15005550006"), ("Body", "hi")], 21604),
        ([("To", "+821000001234"), ("Body", "hi")], 21603),
        ([("To", "+821000001234"), ("From", "+15005550006")], 21602),
        ([("To", "+821000001234"), ("From", "+15005550006"), ("Body", "가" * 1601)], 21617),
        ([("To", "+82 10 1234"), ("From", "+15005550006"), ("Body", "hi")], 21211),
    ],
)
def test_bad_message_requests_get_twilio_style_400s(emulator, form, code):
    reply = post(emulator, MESSAGES, form)
    assert reply.status == 400 and reply.body["code"] == code
    assert emulator.messages() == []


def test_json_body_instead_of_a_form_is_refused(emulator):
    reply = emulator.handle(
        "POST", CALLS, {"Authorization": auth(), "Content-Type": "application/json"}, b"{}"
    )
    assert reply.status == 400 and "x-www-form-urlencoded" in reply.body["message"]


def test_resource_helpers():
    sid = new_sid("CA")
    assert re.fullmatch(r"CA[0-9a-f]{32}", sid) and new_sid("CA") != sid
    assert rfc2822(datetime(2024, 5, 1, 0, 1, 5, tzinfo=UTC)) == "Wed, 01 May 2024 00:01:05 +0000"
    assert mask_phone("+821012345678") == "+8210****5678"
    assert is_e164("+821012345678") and not is_e164("+82-10-1234") and not is_e164("821012345678")


@pytest.mark.parametrize(
    ("body", "segments"),
    [("a" * 160, 1), ("a" * 161, 2), ("가" * 70, 1), ("가" * 71, 2), ("가" * 134, 2), ("가" * 135, 3)],
)
def test_sms_segments_gsm_and_ucs2(body, segments):
    assert sms_segments(body) == segments
