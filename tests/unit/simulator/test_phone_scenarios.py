from __future__ import annotations

import pytest

from simulator.phone_scenarios import Behaviour, Reply, ScenarioError


def test_behaviour_round_trips_through_json():
    behaviour = Behaviour(
        kind="answer",
        replies=[Reply.say("도와주세요", 0.8), Reply.press("2"), Reply.silence(), Reply.say("네", None)],
        ring_seconds=7,
        sms="undelivered",
        sms_error_code=30005,
        hangup_after=1,
    )
    assert Behaviour.from_json(behaviour.to_json()) == behaviour
    assert isinstance(behaviour.replies, tuple) and hash(behaviour)  # frozen and hashable


def test_json_shortcuts_and_defaults():
    parsed = Behaviour.from_json({"replies": ["네 괜찮아요", {"digits": "1"}]})
    assert parsed.kind == "answer" and parsed.sms == "delivered"
    assert parsed.replies == (Reply.say("네 괜찮아요"), Reply.press("1"))


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        ({"kind": "dance"}, "kind"),
        ({"sms": "lost"}, "sms"),
        ({"ring_seconds": -1}, "ring_seconds"),
        ({"ring_seconds": "5"}, "ring_seconds"),
        ({"replies": "네"}, "list"),
        ({"replies": [{"speech": "a", "digits": "1"}]}, "not both"),
        ({"replies": [{"digits": "12a"}]}, "digits"),
        ({"replies": [{"speech": "  "}]}, "blank"),
        ({"replies": [{"speech": "a", "confidence": 1.5}]}, "confidence"),
        ({"replies": [3]}, "string or an object"),
        ({"kind": "answer", "colour": "red"}, "unknown behaviour field"),
        ({"hangup_after": -1}, "hangup_after"),
        ({"hangup_after": "1"}, "hangup_after"),
        ([], "object"),
    ],
)
def test_bad_descriptions_are_rejected_with_a_reason(data, problem):
    with pytest.raises(ScenarioError, match=problem):
        Behaviour.from_json(data)


def test_a_person_replies_with_the_code_the_text_asks_for() -> None:
    daughter = Behaviour(sms_reply="1 {code}")
    assert daughter.sms_reply_to("[안부] … 확인하셨으면 1 4821 로 답장해 주세요.") == "1 4821"
    assert daughter.sms_reply_to("[Anbu] … Reply 1 0007 once you have checked.") == "1 0007"
    assert daughter.sms_reply_to("[안부] 알림이 해제되었습니다.") is None  # nothing to acknowledge
    assert daughter.sms_reply_to("call 1 23456 now") is None  # not a 4-digit code
    assert Behaviour(sms_reply="상태").sms_reply_to("anything") == "상태"
    assert Behaviour().sms_reply_to("1 4821") is None
    again = Behaviour.from_json(daughter.to_json())
    assert (again.sms_reply, again.sms_reply_after_s) == ("1 {code}", 5.0)


@pytest.mark.parametrize(
    "spec",
    [{"sms_reply": " "}, {"sms_reply": 3}, {"sms_reply_after_s": -1}, {"sms_reply_after_s": "soon"}],
)
def test_bad_sms_replies_are_refused(spec: dict[str, object]) -> None:
    with pytest.raises(ScenarioError):
        Behaviour.from_json(spec)
