"""Every SMS the engine can queue exists in both languages and renders without personal data."""

from __future__ import annotations

import pytest

from core.enums import CaseKind, Language, Severity
from core.models import Case
from notifier.templates import (
    ACK_CODE_TEMPLATES,
    MESSAGES,
    SELF_HARM_STAFF_CALL,
    SMS_TEMPLATES,
    SURVIVES_ACKNOWLEDGEMENT,
    sms_body,
)


def _case(kind: CaseKind, severity: Severity) -> Case:
    return Case(household_id=1, kind=kind, severity=severity, escalation_token="t")


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("template", sorted(SMS_TEMPLATES))
def test_each_template_renders_for_every_kind_and_severity(language: Language, template: str) -> None:
    assert template in MESSAGES.keys(language)  # no silent fallback to Korean
    for kind in CaseKind:
        for severity in Severity:
            code = "4821" if template in ACK_CODE_TEMPLATES else None
            body = sms_body(
                template, language, household_code="HH-0042", case=_case(kind, severity), ack_code=code
            )
            assert "HH-0042" in body
            assert "{" not in body and "}" not in body


@pytest.mark.parametrize(
    ("language", "reply_hint"),
    [(Language.KO, "확인하셨으면 1 0427 로 답장해 주세요"), (Language.EN, "Reply 1 0427")],
)
def test_family_messages_say_how_to_acknowledge_with_the_code(language: Language, reply_hint: str) -> None:
    case = _case(CaseKind.INACTIVITY, Severity.ALERT)
    for template in ("sms.family.ladder", "sms.family.emergency"):
        body = sms_body(template, language, household_code="HH-1", case=case, ack_code="0427")
        assert reply_hint in body
        # A text that asks for an acknowledgement can never go out without the code.
        with pytest.raises(ValueError, match="acknowledgement code"):
            sms_body(template, language, household_code="HH-1", case=case)


@pytest.mark.parametrize("language", list(Language))
def test_exactly_the_code_templates_carry_a_code(language: Language) -> None:
    marker = "<<code>>"
    for key in sorted(MESSAGES.keys(language)):
        if not key.startswith("sms."):
            continue
        text = MESSAGES.text(
            key,
            language,
            code="HH-1",
            kind="k",
            severity="s",
            line="109",
            call="c",
            ack_code=marker,
            name="n",
            status="",
        )
        assert (marker in text) == (key in ACK_CODE_TEMPLATES), key


def test_the_korean_ladder_sms_names_the_kind_of_alert() -> None:
    body = sms_body(
        "sms.family.ladder",
        Language.KO,
        household_code="HH-7",
        case=_case(CaseKind.INACTIVITY, Severity.ALERT),
        ack_code="4821",
    )
    assert body == (
        "[안부] 어르신 댁(HH-7)에 '생활 반응 없음' 알림이 있습니다. 어르신께 직접 안부를 확인해 주세요. "
        "문의: 담당 복지사. 확인하셨으면 1 4821 로 답장해 주세요."
    )


@pytest.mark.parametrize(
    ("language", "template", "says"),
    [
        (
            Language.KO,
            "sms.family.ladder",
            "[안부] 어머니 댁(HH-7)에 '생활 반응 없음' 알림이 있습니다. 어머니께 직접",
        ),
        (
            Language.KO,
            "sms.family.emergency",
            "지금 바로 어머니께 전화해 주세요. 문의: 담당 복지사(+8221234567).",
        ),
        (Language.KO, "sms.family.all_clear", "어머니께서 괜찮으신 것으로 확인되었습니다"),
        (Language.KO, "sms.family.hospital", "어머니께서 병원에 계신 것으로 확인되어"),
        (
            Language.EN,
            "sms.family.emergency",
            "Please call Mum now. Questions: the caseworker (+8221234567).",
        ),
        (Language.EN, "sms.family.ladder", "Please check on Mum yourself."),
    ],
)
def test_family_texts_name_her_as_the_family_does_and_say_whom_to_call(
    language: Language, template: str, says: str
) -> None:
    # Issue 17: "어르신 댁(GANGNAM-001) … 지금 바로 연락해 주세요" said neither whom nor a number.
    body = sms_body(
        template,
        language,
        household_code="HH-7",
        case=_case(CaseKind.INACTIVITY, Severity.ALERT),
        ack_code="4821",
        call="+8221234567",
        name="어머니" if language == Language.KO else "Mum",
    )
    assert says in body


def test_messages_that_survive_an_acknowledgement_are_real_templates() -> None:
    # Texts by their template; the one call among them by the name the outbox gives it.
    assert SURVIVES_ACKNOWLEDGEMENT - {SELF_HARM_STAFF_CALL} <= SMS_TEMPLATES
