"""Pure rules of scheduled check-in calls: when, what an answer means, the outcome and flags."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.enums import CallOutcome, Language
from notifier.checkins import call_outcome, flags, interpret_answer, next_occurrence, summary_text

MONDAY_0930_SEOUL = datetime(2026, 3, 2, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("weekdays", "local_time", "expected"),
    [
        ([1], "10:00", datetime(2026, 3, 2, 1, 0, tzinfo=UTC)),  # later the same Monday
        ([1], "09:00", datetime(2026, 3, 9, 0, 0, tzinfo=UTC)),  # already past: next Monday
        ([3, 6], "14:30", datetime(2026, 3, 4, 5, 30, tzinfo=UTC)),  # Wednesday
        ([7], "00:00", datetime(2026, 3, 7, 15, 0, tzinfo=UTC)),  # Sunday 00:00 Seoul = Saturday 15:00 UTC
    ],
)
def test_next_occurrence_in_household_time(weekdays: list[int], local_time: str, expected: datetime) -> None:
    assert next_occurrence(MONDAY_0930_SEOUL, "Asia/Seoul", weekdays, local_time) == expected


def test_no_weekdays_means_no_call() -> None:
    assert next_occurrence(MONDAY_0930_SEOUL, "Asia/Seoul", [], "10:00") is None


@pytest.mark.parametrize(
    ("kind", "text", "answer"),
    [
        ("dtmf", "1", "ok"),
        ("dtmf", "2", "concern"),  # 2 is "no" here, not "help"
        ("dtmf", "5", "unclear"),
        ("none", "", "unclear"),
        ("speech", "네 잘 먹었어요", "ok"),
        ("speech", "밥을 못 먹었어요", "concern"),
        ("speech", "잠을 통 못 자요", "concern"),
        ("speech", "yes I ate well", "ok"),
        ("speech", "I haven't eaten today", "concern"),
        ("speech", "살려주세요 숨이 차요", "emergency"),
        ("speech", "가슴이 너무 아파요", "emergency"),
    ],
)
def test_answers(kind: str, text: str, answer: str) -> None:
    assert interpret_answer(kind, text, 0.9) == answer  # type: ignore[arg-type]


def _answers(**given: str) -> dict[str, dict[str, str]]:
    return {topic: {"answer": a} for topic, a in given.items()}


def test_outcome_and_flags_take_the_worst_answer() -> None:
    assert call_outcome(_answers(meals="ok", sleep="ok", health="ok")) == CallOutcome.OK
    assert call_outcome(_answers(meals="ok", sleep="ok")) == CallOutcome.UNCLEAR  # not all asked
    assert call_outcome(_answers(meals="ok", sleep="unclear", health="ok")) == CallOutcome.UNCLEAR
    assert call_outcome(_answers(meals="concern", sleep="ok", health="ok")) == CallOutcome.UNWELL
    assert call_outcome(_answers(meals="concern", sleep="emergency")) == CallOutcome.EMERGENCY
    assert flags(_answers(health="emergency", meals="concern", sleep="ok")) == [
        "meals_concern",
        "health_emergency",
    ]


def test_summary_lines() -> None:
    answers = _answers(meals="ok", sleep="unclear")
    assert (
        summary_text(answers, CallOutcome.UNCLEAR, Language.EN)
        == "Meals: fine · Sleep: unclear · Health: no answer"
    )
    assert summary_text({}, CallOutcome.BUSY, Language.EN) == "The call did not get through."
