"""SMS status callbacks, inbound SMS and the emulator's HTTP control API."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request

import pytest

from simulator.phone_scenarios import Behaviour
from simulator.twilio_emulator import TwilioEmulator

from .conftest import OUR_NUMBER
from .fake_anbu_webhooks import FakeAnbuWebhooks

FAMILY = "+821000005678"


def sms_done(emulator: TwilioEmulator, sid: str):
    assert emulator.wait_for(lambda: (m := emulator.message(sid)) is not None and m.finished, timeout=10)
    message = emulator.message(sid)
    assert message is not None
    return message


def test_sms_is_delivered_with_signed_status_callbacks(emulator, client, webhooks):
    body = "[안부] 어머님께서 전화를 받지 않으셨습니다. 확인하셨으면 1을 보내주세요."
    created = client.messages.create(
        to=FAMILY, from_=OUR_NUMBER, body=body, status_callback=webhooks.url("/sms/status?id=7")
    )
    assert created.sid.startswith("SM") and len(created.sid) == 34
    assert created.status == "queued" and created.body == body and created.num_segments == "1"

    message = sms_done(emulator, created.sid)
    seen = webhooks.requests_to("/sms/status")
    assert all(s.signature_valid for s in seen)
    assert [s.params["MessageStatus"] for s in seen] == ["queued", "sent", "delivered"]
    assert [s.params["SmsStatus"] for s in seen] == ["queued", "sent", "delivered"]
    assert all(s.params["MessageSid"] == s.params["SmsSid"] == created.sid for s in seen)
    assert all(s.query == {"id": "7"} for s in seen)
    assert "ErrorCode" not in seen[-1].params and len(seen[-1].params["RawDlrDoneDate"]) == 10
    assert message.status == "delivered" and message.body == body and message.to == FAMILY


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [("undelivered", ["queued", "sent", "undelivered"]), ("failed", ["queued", "failed"])],
)
def test_sms_failures_carry_the_error_code(emulator, client, webhooks, outcome, expected):
    emulator.set_behaviour(FAMILY, Behaviour(sms=outcome, sms_error_code=30006))
    created = client.messages.create(
        to=FAMILY, from_=OUR_NUMBER, body="hello", status_callback=webhooks.url("/sms/status")
    )
    message = sms_done(emulator, created.sid)
    seen = webhooks.requests_to("/sms/status")
    assert [s.params["MessageStatus"] for s in seen] == expected
    assert seen[-1].params["ErrorCode"] == "30006" and "ErrorCode" not in seen[0].params
    assert message.status == outcome and message.error_code == 30006
    assert client.messages(created.sid).fetch().error_code == 30006


def test_sms_without_callback_still_finishes(emulator, client):
    created = client.messages.create(to=FAMILY, messaging_service_sid="MG" + "0" * 32, body="hi")
    message = sms_done(emulator, created.sid)
    assert message.status == "delivered" and message.webhooks == []


def test_inbound_sms_is_signed_and_returns_the_status(emulator, webhooks):
    status = emulator.send_inbound_sms(
        from_=FAMILY, to=OUR_NUMBER, body="1 확인했어요", url=webhooks.url("/sms/inbound")
    )
    assert status == 200
    (seen,) = webhooks.requests_to("/sms/inbound")
    assert seen.signature_valid
    assert (
        seen.params["Body"] == "1 확인했어요"
        and seen.params["From"] == FAMILY
        and seen.params["NumMedia"] == "0"
    )
    assert seen.params["MessageSid"].startswith("SM")
    (recorded,) = emulator.inbound()
    assert recorded.status == 200 and "확인했습니다" in (recorded.response_body or "")
    assert (
        emulator.send_inbound_sms(from_=FAMILY, to=OUR_NUMBER, body="x", url=webhooks.url("/broken")) == 500
    )


def test_a_family_member_texts_back_the_code_the_alert_asks_for(emulator, client, webhooks):
    """The simulated family reads our alert text and replies with its code ("1 4821"), to the
    incoming-message URL of the number that texted them; a text without a code gets no reply."""
    emulator.set_behaviour(FAMILY, Behaviour(sms_reply="1 {code}", sms_reply_after_s=0))
    emulator.set_sms_url(OUR_NUMBER, webhooks.url("/sms/inbound"))
    alert = client.messages.create(
        to=FAMILY, from_=OUR_NUMBER, body="[안부] 확인하셨으면 1 0427 로 답장해 주세요."
    )
    sms_done(emulator, alert.sid)
    (seen,) = webhooks.requests_to("/sms/inbound")
    assert seen.signature_valid
    assert (seen.params["From"], seen.params["To"], seen.params["Body"]) == (FAMILY, OUR_NUMBER, "1 0427")
    sms_done(emulator, client.messages.create(to=FAMILY, from_=OUR_NUMBER, body="[안부] 해제되었습니다.").sid)
    assert len(webhooks.requests_to("/sms/inbound")) == 1


def test_inbound_sms_to_a_dead_server_raises(emulator):
    with socket.socket() as probe:  # a free port with nobody listening on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(ConnectionError):
        emulator.send_inbound_sms(
            from_=FAMILY, to=OUR_NUMBER, body="1", url=f"http://127.0.0.1:{port}/nothing"
        )


def _control(emulator: TwilioEmulator, path: str, data: object | None = None) -> tuple[int, object]:
    request = urllib.request.Request(
        emulator.base_url + path,
        data=None if data is None else json.dumps(data).encode(),
        method="GET" if data is None else "POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_control_api_sets_behaviours_and_lists_calls_and_messages(
    emulator, client, webhooks: FakeAnbuWebhooks
):
    resident = "+821000009999"
    status, _ = _control(
        emulator,
        "/_emulator/behaviours",
        {
            resident: {
                "kind": "answer",
                "replies": [{"speech": "도와주세요", "confidence": 0.8}, {"digits": "2"}],
            }
        },
    )
    assert status == 200
    call = client.calls.create(
        to=resident,
        from_=OUR_NUMBER,
        url=webhooks.url("/voice/answer"),
        status_callback=webhooks.url("/voice/status"),
    )
    client.messages.create(
        to=FAMILY, from_=OUR_NUMBER, body="알림", status_callback=webhooks.url("/sms/status")
    )
    assert emulator.wait_until_idle(timeout=10)

    status, calls = _control(emulator, "/_emulator/calls")
    assert status == 200 and isinstance(calls, list)
    (listed,) = calls
    assert listed["sid"] == call.sid and listed["to"] == resident and listed["status"] == "completed"
    assert listed["said"][0].startswith("안녕하세요")
    assert listed["replies"][0]["speech"] == "도와주세요" and listed["replies"][1]["digits"] == "2"
    assert [w["status"] for w in listed["webhooks"] if w["purpose"] == "status"] == [204]

    status, messages = _control(emulator, "/_emulator/messages")
    assert status == 200 and isinstance(messages, list)
    assert [(m["to"], m["body"], m["status"]) for m in messages] == [(FAMILY, "알림", "delivered")]


def test_control_api_rejects_bad_input_and_keeps_previous_state(emulator):
    emulator.set_behaviour("+821000000001", Behaviour(kind="busy"))
    status, body = _control(
        emulator,
        "/_emulator/behaviours",
        {"+821000000001": {"kind": "answer"}, "+821000000002": {"kind": "dance"}},
    )
    assert status == 400 and "kind" in body["error"]  # type: ignore[index]
    assert emulator.behaviour_for("+821000000001").kind == "busy"  # all or nothing

    status, _ = _control(emulator, "/_emulator/behaviours", {"*": {"kind": "no_answer"}})
    assert status == 200 and emulator.behaviour_for("+829999999999").kind == "no_answer"

    status, _ = _control(emulator, "/_emulator/invalid", {"numbers": "+8210"})
    assert status == 400
    status, _ = _control(emulator, "/_emulator/invalid", {"numbers": ["+821000000003"]})
    assert status == 200
    status, _ = _control(emulator, "/_emulator/nonsense", {})
    assert status == 404


def test_calls_and_messages_are_listed_newest_first_filtered_by_number(emulator, client, webhooks):
    # What the outbox asks when it must find out whether an unrecorded send reached Twilio.
    from datetime import UTC, datetime, timedelta

    from notifier.transports.twilio import TwilioTransport

    from .conftest import ACCOUNT_SID, AUTH_TOKEN

    emulator.set_default_behaviour(Behaviour(kind="no_answer", ring_seconds=0))
    start = datetime.now(UTC) - timedelta(seconds=2)
    first = client.messages.create(to=FAMILY, from_=OUR_NUMBER, body="first")
    second = client.messages.create(to=FAMILY, from_=OUR_NUMBER, body="second")
    client.messages.create(to="+821000009999", from_=OUR_NUMBER, body="second")
    call = client.calls.create(to=FAMILY, from_=OUR_NUMBER, url=webhooks.url("/voice/answer"))
    transport = TwilioTransport(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, api_base=emulator.base_url)
    assert [m.sid for m in client.messages.list(to=FAMILY)] == [second.sid, first.sid]
    assert transport.find_sent(kind="sms", to=FAMILY, from_=OUR_NUMBER, body="second", since=start) == [
        second.sid
    ]
    assert transport.find_sent(kind="call", to=FAMILY, from_=OUR_NUMBER, body=None, since=start) == [call.sid]
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert transport.find_sent(kind="call", to=FAMILY, from_=OUR_NUMBER, body=None, since=later) == []
    assert transport.find_sent(kind="sms", to=FAMILY, from_="+15550000000", body="first", since=start) == []
    emulator.wait_until_idle()


def test_an_inbound_call_fetches_our_voice_url_and_plays_the_callers_replies(emulator, webhooks):
    status, created = _control(
        emulator,
        "/_emulator/inbound_call",
        {
            "from": FAMILY,
            "to": OUR_NUMBER,
            "url": webhooks.url("/voice/answer?code=in1"),
            "behaviour": {"replies": [{"digits": "1"}, {"speech": "네 괜찮아요"}]},
        },
    )
    assert status == 201 and isinstance(created, dict)
    assert emulator.wait_until_idle()
    record = emulator.call(created["sid"])
    assert record is not None and record.status == "completed" and record.direction == "inbound"
    answer, *gathers = [s for s in webhooks.seen if s.path.startswith("/voice/")]
    assert answer.path == "/voice/answer" and answer.signature_valid
    assert (answer.params["From"], answer.params["To"], answer.params["Direction"]) == (
        FAMILY,
        OUR_NUMBER,
        "inbound",
    )
    assert [g.params.get("Digits") or g.params.get("SpeechResult") for g in gathers] == ["1", "네 괜찮아요"]
    assert (
        _control(emulator, "/_emulator/inbound_call", {"from": "not-a-number", "to": OUR_NUMBER, "url": "x"})[
            0
        ]
        == 400
    )


def test_the_fault_hook_creates_then_answers_5xx(emulator, client, webhooks):
    # Twilio acts on a request, then its answer is an error: an uncertain send (issue 14.5).
    from twilio.base.exceptions import TwilioRestException

    emulator.set_default_behaviour(Behaviour(kind="no_answer", ring_seconds=0))
    status, _ = _control(emulator, "/_emulator/faults", {"after_create": 1, "status": 503})
    assert status == 200
    with pytest.raises(TwilioRestException) as err:
        client.calls.create(to=FAMILY, from_=OUR_NUMBER, url=webhooks.url("/voice/answer"))
    assert err.value.status == 503
    (made,) = emulator.calls()
    assert [c.sid for c in client.calls.list(to=FAMILY)] == [made.sid]  # listed all the same
    second = client.calls.create(to=FAMILY, from_=OUR_NUMBER, url=webhooks.url("/voice/answer"))
    assert second.sid != made.sid  # one fault, one create
    status, _ = _control(emulator, "/_emulator/faults", {"after_create": 1, "status": 200})
    assert status == 400
    emulator.wait_until_idle()
