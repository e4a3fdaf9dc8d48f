"""Pure outbox rules: backoff, staleness, call pacing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.enums import CallPurpose, CaseKind, CaseStatus
from core.models import CallAttempt, Case
from notifier.outbox import BACKOFF_CAP, MAX_ATTEMPTS, _call_template, backoff, should_cancel
from notifier.pacing import take_slot
from notifier.templates import CLOSURE_TEMPLATES, SELF_HARM_STAFF_CALL


def test_backoff_doubles_from_30_seconds_and_is_capped_at_15_minutes() -> None:
    waits = [backoff(n) for n in range(1, MAX_ATTEMPTS + 3)]
    assert [int(w.total_seconds()) for w in waits[:6]] == [30, 60, 120, 240, 480, 900]
    assert all(w == BACKOFF_CAP == timedelta(minutes=15) for w in waits[5:])
    assert backoff(10_000) == BACKOFF_CAP


@pytest.mark.parametrize("status", list(CaseStatus))
def test_a_row_with_the_current_token_is_never_cancelled(status: CaseStatus) -> None:
    assert not should_cancel(
        row_token="t1", template="sms.family.ladder", case_token="t1", case_status=status
    )


@pytest.mark.parametrize(
    "template", ["sms.family.ladder", "sms.caseworker.ladder", "sms.caseworker.exhausted", None]
)
@pytest.mark.parametrize("status", list(CaseStatus))
def test_ladder_rows_and_calls_with_an_old_token_are_cancelled(
    template: str | None, status: CaseStatus
) -> None:
    assert should_cancel(row_token="old", template=template, case_token="new", case_status=status)


@pytest.mark.parametrize(
    "template", ["sms.caseworker.unwell", "sms.caseworker.emergency", "sms.family.emergency"]
)
def test_help_and_unwell_messages_survive_an_acknowledgement_but_not_a_clear_or_resolve(
    template: str,
) -> None:
    kw = {"row_token": "old", "template": template, "case_token": "new"}
    assert not should_cancel(**kw, case_status=CaseStatus.ACKNOWLEDGED)
    assert should_cancel(**kw, case_status=CaseStatus.CLEARED)
    assert should_cancel(**kw, case_status=CaseStatus.RESOLVED)


@pytest.mark.parametrize("template", sorted(CLOSURE_TEMPLATES))
@pytest.mark.parametrize("status", list(CaseStatus))
def test_all_clear_and_closed_messages_are_never_stale_whatever_the_token(
    template: str, status: CaseStatus
) -> None:
    # They are written after the case moved on (a new token): cancelling them would leave the
    # family believing the alarm still stands.
    assert not should_cancel(row_token="old", template=template, case_token="new", case_status=status)


T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


def test_an_idle_account_calls_at_once_and_books_the_next_slot_a_second_later() -> None:
    assert take_slot(T0, None, SECOND) == (T0, T0 + SECOND)
    # The last call was long ago: that old slot is not owed to anyone.
    assert take_slot(T0, T0 - timedelta(minutes=5), SECOND) == (T0, T0 + SECOND)


def test_a_busy_account_queues_calls_one_second_apart() -> None:
    free = T0 + timedelta(milliseconds=300)  # the previous call was placed 700 ms ago
    slot, following = take_slot(T0, free, SECOND)
    assert (slot, following) == (free, free + SECOND)
    slot2, _ = take_slot(T0, following, SECOND)
    assert slot2 - slot == SECOND


def test_only_a_staff_call_of_a_self_harm_case_is_named_for_the_staleness_rule() -> None:
    # That call survives an acknowledgement like the case's texts; every other call has no name.
    def case(kind: CaseKind) -> Case:
        return Case(household_id=1, kind=kind, escalation_token="t")

    def call(purpose: CallPurpose) -> CallAttempt:
        return CallAttempt(
            household_id=1, to_address="+821000000000", code="c", idempotency_key="k", purpose=purpose
        )

    self_harm, quiet = case(CaseKind.SELF_HARM_RISK), case(CaseKind.INACTIVITY)
    staff, wellness = call(CallPurpose.STAFF_ALERT), call(CallPurpose.WELLNESS)
    assert _call_template(staff, self_harm) == SELF_HARM_STAFF_CALL
    assert _call_template(staff, quiet) is None
    assert _call_template(staff, None) is None
    assert _call_template(wellness, self_harm) is None
