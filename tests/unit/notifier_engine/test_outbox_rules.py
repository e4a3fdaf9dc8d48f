"""Pure outbox rules: backoff, staleness, call pacing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.enums import CaseStatus
from notifier.outbox import BACKOFF_CAP, MAX_ATTEMPTS, CallPacer, backoff, should_cancel


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


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.t += seconds


def test_pacer_keeps_calls_at_least_a_second_apart() -> None:
    ft = FakeTime()
    pacer = CallPacer(1.0, monotonic=ft.monotonic, sleep=ft.sleep)
    pacer.wait_turn()  # first call: no wait
    ft.t += 0.25  # the request took 250 ms
    pacer.wait_turn()
    ft.t += 2.0  # a slow request: already more than a second
    pacer.wait_turn()
    assert ft.slept == [pytest.approx(0.75)]


def test_pacer_with_no_rate_never_sleeps() -> None:
    ft = FakeTime()
    pacer = CallPacer(0, monotonic=ft.monotonic, sleep=ft.sleep)
    for _ in range(3):
        pacer.wait_turn()
    assert ft.slept == []
