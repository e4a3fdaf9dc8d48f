"""The dashboard catalogues: complete, same keys in both languages, no placeholders."""

from __future__ import annotations

from enum import StrEnum

import pytest

from api.routes.dashboard import MESSAGES, page_language, page_messages
from core import enums
from core.enums import Language


def test_catalogues_have_the_same_keys() -> None:
    assert MESSAGES.keys(Language.KO) == MESSAGES.keys(Language.EN)


@pytest.mark.parametrize(
    ("prefix", "enum"),
    [
        ("severity", enums.Severity),
        ("kind", enums.CaseKind),
        ("status", enums.CaseStatus),
        ("resolution", enums.ResolutionCode),
        ("call_outcome", enums.CallOutcome),
        ("call_status", enums.CallStatus),
        ("outbox", enums.OutboxStatus),
        ("channel", enums.Channel),
        ("recipient", enums.RecipientKind),
        ("event", enums.CaseEventType),
        ("watch", enums.WatchStatus),
        ("role", enums.Role),
        ("audit_action", enums.AuditAction),
        ("audit_object", enums.AuditObject),
        ("checkin.skip", enums.CheckinSkip),
        ("incident", enums.SystemIncidentKind),
        ("incident.status", enums.IncidentStatus),
    ],
)
def test_every_enum_value_has_a_label_in_both_languages(prefix: str, enum: type[StrEnum]) -> None:
    for language in Language:
        keys = MESSAGES.keys(language)
        missing = [m.value for m in enum if f"{prefix}.{m.value}" not in keys]
        assert missing == [], f"{language.value}: {missing}"


def test_page_messages_render_without_parameters_and_differ_by_language() -> None:
    ko = page_messages(Language.KO)
    en = page_messages(Language.EN)
    assert ko["login.submit"] == "로그인"
    assert en["login.submit"] == "Sign in"
    assert all("{" not in text for text in (*ko.values(), *en.values()))


@pytest.mark.parametrize(
    ("lang", "expected"), [(None, Language.KO), ("en", Language.EN), ("ko", Language.KO), ("fr", Language.KO)]
)
def test_page_language(lang: str | None, expected: Language) -> None:
    assert page_language(lang) == expected


def test_every_next_step_the_queue_can_show_has_a_label() -> None:
    from api.next_step import FOLLOW_UP
    from notifier.policy import CallResident, NotifyCaseworker, NotifyFamily

    actions = {CallResident().action, NotifyFamily().action, NotifyCaseworker().action, FOLLOW_UP}
    for language in Language:
        keys = MESSAGES.keys(language)
        assert {f"next.{a}" for a in actions} <= keys


def test_page_messages_carry_the_detectors_appliance_names() -> None:
    """One catalogue for appliance names (anomaly/messages): the page gets them as appliance.<label>,
    including the whole-house meter's label that device assignment offers."""
    from anomaly.deadlines import appliance_name, known_appliances

    for language in Language:
        messages = page_messages(language)
        names = known_appliances(language)
        assert {"aggregate", "kettle"} <= names.keys()
        assert "unknown" not in names
        for label, name in names.items():
            assert messages[f"appliance.{label}"] == name == appliance_name(label, language)
    assert (
        page_messages(Language.KO)["appliance.aggregate"] != page_messages(Language.EN)["appliance.aggregate"]
    )
