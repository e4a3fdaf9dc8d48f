"""The emulator driven by the real twilio library, calling a webhook server that checks signatures."""

from __future__ import annotations

import pytest
from twilio.base.exceptions import TwilioRestException

from simulator.phone_scenarios import Behaviour, Reply
from simulator.twilio_emulator import TwilioEmulator

from .conftest import OUR_NUMBER, twilio_client
from .fake_anbu_webhooks import GOODBYE, GREETING, REASK, FakeAnbuWebhooks

RESIDENT = "+821000001234"
ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]


def place_call(client, webhooks: FakeAnbuWebhooks, *, to: str = RESIDENT, **extra):
    kwargs = {
        "to": to,
        "from_": OUR_NUMBER,
        "url": webhooks.url("/voice/answer?code=abc"),
        "status_callback": webhooks.url("/voice/status?code=abc"),
        "status_callback_event": ALL_EVENTS,
        "timeout": 30,
    }
    kwargs.update(extra)
    return client.calls.create(**kwargs)


def finished(emulator: TwilioEmulator, sid: str):
    assert emulator.wait_for(lambda: (c := emulator.call(sid)) is not None and c.finished, timeout=10)
    call = emulator.call(sid)
    assert call is not None
    return call


def test_answered_call_reask_and_final_status(emulator, client, webhooks):
    emulator.set_behaviour(
        RESIDENT,
        Behaviour(kind="answer", replies=[Reply.say("음... 글쎄요", 0.42), Reply.say("네, 괜찮아요.", 0.93)]),
    )
    created = place_call(client, webhooks, machine_detection="Enable")

    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert created.status == "queued"
    assert created.to == RESIDENT and created.direction == "outbound-api"
    assert created.date_created is not None  # the library parsed our RFC 2822 date

    call = finished(emulator, created.sid)
    assert call.status == "completed"
    assert call.errors == []
    assert all(s.signature_valid for s in webhooks.seen), "every webhook must carry a valid signature"

    statuses = webhooks.requests_to("/voice/status")
    assert [s.params["CallStatus"] for s in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert [s.params["SequenceNumber"] for s in statuses] == ["0", "1", "2", "3"]
    assert all(s.query == {"code": "abc"} for s in statuses)
    first = statuses[0].params
    assert first["CallbackSource"] == "call-progress-events"
    assert first["Direction"] == "outbound-api" and first["ApiVersion"] == "2010-04-01"
    assert first["Called"] == first["To"] == RESIDENT and first["Caller"] == first["From"] == OUR_NUMBER
    assert first["Timestamp"].endswith("+0000")
    final = statuses[-1].params
    assert int(final["CallDuration"]) > 0 and final["AnsweredBy"] == "human"

    answer = webhooks.requests_to("/voice/answer")
    assert len(answer) == 1 and answer[0].params["AnsweredBy"] == "human"
    assert answer[0].params["CallStatus"] == "in-progress"

    gathers = webhooks.requests_to("/voice/gather")
    assert [(g.params["SpeechResult"], g.params["Confidence"]) for g in gathers] == [
        ("음... 글쎄요", "0.42"),
        ("네, 괜찮아요.", "0.93"),
    ]
    assert all(g.query == {"code": "abc"} for g in gathers)  # relative action resolved against the doc URL

    assert call.said == [GREETING, REASK, GOODBYE]
    assert [r["speech"] for r in call.replies] == ["음... 글쎄요", "네, 괜찮아요."]
    assert all(w.status in (200, 204) for w in call.webhooks)

    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "completed" and fetched.answered_by == "human"


def test_digits_reply_is_posted_and_speech_needs_no_confidence(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(replies=[Reply.press("19"), Reply.say("네", confidence=None)]))
    call = finished(emulator, place_call(client, webhooks).sid)
    gathers = webhooks.requests_to("/voice/gather")
    assert gathers[0].params["Digits"] == "1"  # numDigits="1" cuts the second key press
    assert "SpeechResult" not in gathers[0].params
    assert gathers[1].params["SpeechResult"] == "네" and "Confidence" not in gathers[1].params
    assert call.status == "completed"


def test_only_completed_callback_when_no_events_requested(emulator, client, webhooks):
    call = finished(emulator, place_call(client, webhooks, status_callback_event=None).sid)
    assert [s.params["CallStatus"] for s in webhooks.requests_to("/voice/status")] == ["completed"]
    assert call.callback_statuses == ["completed"]


@pytest.mark.parametrize(
    ("behaviour", "expected"),
    [
        (Behaviour(kind="no_answer"), ["initiated", "ringing", "no-answer"]),
        (Behaviour(kind="answer", ring_seconds=45), ["initiated", "ringing", "no-answer"]),  # > Timeout=30
        (Behaviour(kind="busy"), ["initiated", "busy"]),
        (Behaviour(kind="fail"), ["initiated", "failed"]),
    ],
)
def test_unanswered_outcomes(emulator, client, webhooks, behaviour, expected):
    emulator.set_behaviour(RESIDENT, behaviour)
    call = finished(emulator, place_call(client, webhooks).sid)
    statuses = webhooks.requests_to("/voice/status")
    assert [s.params["CallStatus"] for s in statuses] == expected
    assert statuses[-1].params["CallDuration"] == "0"
    assert webhooks.requests_to("/voice/answer") == []  # nobody picked up: no TwiML fetched
    assert call.status == expected[-1] and call.said == []


def test_voicemail_is_reported_by_machine_detection_and_never_replies(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(kind="voicemail", replies=[Reply.say("ignored")]))
    call = finished(emulator, place_call(client, webhooks, machine_detection="Enable").sid)
    assert webhooks.requests_to("/voice/answer")[0].params["AnsweredBy"] == "machine_start"
    gathers = webhooks.requests_to("/voice/gather")
    # actionOnEmptyResult="true": Twilio posts the action with no input at all
    assert gathers and all("SpeechResult" not in g.params and "Digits" not in g.params for g in gathers)
    assert call.replies == [] and GREETING in call.said
    assert call.status == "completed" and call.answered_by == "machine_start"


def test_voicemail_with_detect_message_end(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(kind="voicemail"))
    call = finished(emulator, place_call(client, webhooks, machine_detection="DetectMessageEnd").sid)
    assert call.answered_by == "machine_end_beep"


def test_hangup_after_first_prompt(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(kind="hangup", replies=[Reply.say("네")]))
    call = finished(emulator, place_call(client, webhooks).sid)
    assert webhooks.requests_to("/voice/gather") == []
    assert call.said == [GREETING] and call.replies == [{"hung_up": True, "heard": False}]
    assert call.callback_statuses == ["initiated", "ringing", "in-progress", "completed"]


def test_hangup_mid_call_after_the_first_reply(emulator, client, webhooks):
    # The fake server re-asks after the first reply; the resident hangs up at the re-ask.
    emulator.set_behaviour(
        RESIDENT, Behaviour(replies=[Reply.say("여보세요?"), Reply.say("네")], ring_seconds=0, hangup_after=1)
    )
    call = finished(emulator, place_call(client, webhooks).sid)
    (gather,) = webhooks.requests_to("/voice/gather")
    assert gather.params["SpeechResult"] == "여보세요?"
    assert call.replies[-1] == {"hung_up": True, "heard": False} and len(call.replies) == 2
    assert call.status == "completed" and call.callback_statuses[-1] == "completed"


def test_resident_out_of_replies_stays_silent(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(replies=[]))
    call = finished(emulator, place_call(client, webhooks).sid)
    gathers = webhooks.requests_to("/voice/gather")
    assert len(gathers) == 2 and all("SpeechResult" not in g.params for g in gathers)
    assert call.replies == [{"silence": True, "heard": False}] * 2


def test_invalid_and_marked_invalid_numbers_are_refused_like_twilio(emulator, client, webhooks):
    emulator.mark_invalid(RESIDENT)
    for bad in (RESIDENT, "010-1234-5678"):
        with pytest.raises(TwilioRestException) as info:
            place_call(client, webhooks, to=bad)
        assert info.value.status == 400 and info.value.code == 21211
    with pytest.raises(TwilioRestException) as sms_info:
        client.messages.create(to=RESIDENT, from_=OUR_NUMBER, body="안녕하세요")
    assert sms_info.value.code == 21211
    assert emulator.calls() == [] and emulator.messages() == []
    assert webhooks.seen == []


def test_wrong_credentials_get_401_20003(emulator, webhooks):
    bad_client = twilio_client(emulator, token="not-the-token")
    with pytest.raises(TwilioRestException) as info:
        place_call(bad_client, webhooks)
    assert info.value.status == 401 and info.value.code == 20003
    assert emulator.calls() == []


def test_failing_status_webhook_is_recorded_and_the_call_goes_on(emulator, client, webhooks):
    call = finished(emulator, place_call(client, webhooks, status_callback=webhooks.url("/broken")).sid)
    assert [w.status for w in call.status_callbacks] == [500, 500, 500, 500]
    assert call.status == "completed" and call.said == [GREETING, REASK, GOODBYE]


def test_slow_answer_webhook_times_out_without_killing_the_emulator(emulator, client, webhooks):
    webhooks.slow_s = 1.5  # the emulator's webhook timeout is 0.5 s in these tests
    call = finished(emulator, place_call(client, webhooks, url=webhooks.url("/slow")).sid)
    answer = [w for w in call.webhooks if w.purpose == "answer"]
    assert answer[0].status is None and "timed out" in (answer[0].error or "")
    assert any(e.startswith("11200") for e in call.errors)
    assert call.status == "completed"  # like Twilio: "an application error has occurred", hang up

    again = finished(emulator, place_call(client, webhooks).sid)  # still serving
    assert again.status == "completed" and again.errors == []


@pytest.mark.parametrize(("path", "code"), [("/json", "12300"), ("/not-twiml", "12100")])
def test_bad_twiml_is_an_application_error(emulator, client, webhooks, path, code):
    call = finished(emulator, place_call(client, webhooks, url=webhooks.url(path)).sid)
    assert any(e.startswith(code) for e in call.errors)
    assert call.callback_statuses[-1] == "completed"


def test_inline_twiml_needs_absolute_gather_action(emulator, client, webhooks):
    action = webhooks.url("/voice/gather?code=inline")
    twiml = f'<Response><Gather input="speech" action="{action}"><Say>Hello</Say></Gather></Response>'
    emulator.set_behaviour(RESIDENT, Behaviour(replies=[Reply.say("fine"), Reply.say("fine again")]))
    call = finished(emulator, client.calls.create(to=RESIDENT, from_=OUR_NUMBER, twiml=twiml).sid)
    assert [g.params["SpeechResult"] for g in webhooks.requests_to("/voice/gather")] == ["fine", "fine again"]
    assert call.said[0] == "Hello"


def test_many_calls_in_parallel_each_get_their_own_script(emulator, client, webhooks):
    numbers = [f"+8210000020{i:02d}" for i in range(6)]
    for n in numbers:
        emulator.set_behaviour(n, Behaviour(replies=[Reply.say(f"reply-{n}-1"), Reply.say(f"reply-{n}-2")]))
    sids = [place_call(client, webhooks, to=n).sid for n in numbers]
    assert emulator.wait_until_idle(timeout=15)
    for sid, n in zip(sids, numbers, strict=True):
        call = emulator.call(sid)
        assert call is not None and call.status == "completed"
        assert [r["speech"] for r in call.replies] == [f"reply-{n}-1", f"reply-{n}-2"]
        mine = [s for s in webhooks.requests_to("/voice/status") if s.params["CallSid"] == sid]
        assert sorted(int(s.params["SequenceNumber"]) for s in mine) == [0, 1, 2, 3]


def test_get_status_callbacks_put_signed_params_in_the_query(emulator, client, webhooks):
    call = finished(emulator, place_call(client, webhooks, status_callback_method="GET").sid)
    statuses = webhooks.requests_to("/voice/status")
    assert [s.query["CallStatus"] for s in statuses] == ["initiated", "ringing", "in-progress", "completed"]
    assert all(s.signature_valid and s.params == {} and s.query["code"] == "abc" for s in statuses)
    assert call.status == "completed"


def test_redirect_is_followed_relative_to_the_document(emulator, client, webhooks):
    emulator.set_behaviour(RESIDENT, Behaviour(replies=[Reply.say("네"), Reply.say("네")]))
    call = finished(emulator, place_call(client, webhooks, url=webhooks.url("/redirect-me")).sid)
    (answer,) = webhooks.requests_to("/voice/answer")
    assert answer.query == {"code": "moved"} and answer.signature_valid
    assert [w.purpose for w in call.webhooks if w.purpose != "status"] == [
        "answer",
        "redirect",
        "gather",
        "gather",
    ]
    assert call.said == ["One moment.", GREETING, REASK, GOODBYE]


def test_stopping_the_emulator_mid_call_abandons_it_cleanly(webhooks):
    from .conftest import ACCOUNT_SID, AUTH_TOKEN

    slow = TwilioEmulator(ACCOUNT_SID, AUTH_TOKEN, pace=1.0)  # real time: the call rings for 4 s
    slow.start()
    client = twilio_client(slow)
    sid = place_call(client, webhooks).sid
    assert slow.wait_for(lambda: (c := slow.call(sid)) is not None and c.status == "ringing", timeout=10)
    slow.stop()
    call = slow.call(sid)
    assert call is not None and call.finished
    assert call.errors == ["emulator stopped during the call"]
    assert call.callback_statuses == ["initiated", "ringing"]  # no invented ending
