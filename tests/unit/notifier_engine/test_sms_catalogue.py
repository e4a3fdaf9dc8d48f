"""Every SMS the engine can queue exists in both languages and renders without personal data."""

from __future__ import annotations

import pytest

from core.enums import CaseKind, Language, Severity
from core.models import Case
from notifier.templates import MESSAGES, SMS_TEMPLATES, SURVIVES_ACKNOWLEDGEMENT, sms_body


def _case(kind: CaseKind, severity: Severity) -> Case:
    return Case(household_id=1, kind=kind, severity=severity, escalation_token="t")


@pytest.mark.parametrize("language", list(Language))
@pytest.mark.parametrize("template", sorted(SMS_TEMPLATES))
def test_each_template_renders_for_every_kind_and_severity(language: Language, template: str) -> None:
    assert template in MESSAGES.keys(language)  # no silent fallback to Korean
    for kind in CaseKind:
        for severity in Severity:
            body = sms_body(template, language, household_code="HH-0042", case=_case(kind, severity))
            assert "HH-0042" in body
            assert "{" not in body and "}" not in body


@pytest.mark.parametrize(
    ("language", "reply_hint"), [(Language.KO, "확인하셨으면 1을 답장해 주세요"), (Language.EN, "Reply 1")]
)
def test_family_messages_say_how_to_acknowledge(language: Language, reply_hint: str) -> None:
    for template in ("sms.family.ladder", "sms.family.emergency"):
        body = sms_body(
            template, language, household_code="HH-1", case=_case(CaseKind.INACTIVITY, Severity.ALERT)
        )
        assert reply_hint in body


def test_the_korean_ladder_sms_names_the_kind_of_alert() -> None:
    body = sms_body(
        "sms.family.ladder",
        Language.KO,
        household_code="HH-7",
        case=_case(CaseKind.INACTIVITY, Severity.ALERT),
    )
    assert body == (
        "[안부] 어르신 댁(HH-7)에 '생활 반응 없음' 알림이 있습니다. 안부를 직접 확인해 주세요. "
        "확인하셨으면 1을 답장해 주세요."
    )


def test_messages_that_survive_an_acknowledgement_are_real_templates() -> None:
    assert SURVIVES_ACKNOWLEDGEMENT <= SMS_TEMPLATES
