"""The case state machine, exhaustively: every (state, action) pair is legal or raises."""

from __future__ import annotations

import itertools

import pytest

from core.enums import CaseStatus
from notifier.lifecycle import TRANSITIONS, CaseAction, IllegalTransition, transition

OPEN, A, C, R = CaseStatus.OPEN, CaseStatus.ACKNOWLEDGED, CaseStatus.CLEARED, CaseStatus.RESOLVED

EXPECTED = {
    (OPEN, CaseAction.DETECT): (OPEN, False, True),
    (A, CaseAction.DETECT): (A, False, False),
    (OPEN, CaseAction.RAISE): (OPEN, False, True),
    (A, CaseAction.RAISE): (A, False, False),
    (OPEN, CaseAction.ACKNOWLEDGE): (A, True, False),
    (C, CaseAction.ACKNOWLEDGE): (C, False, False),
    (OPEN, CaseAction.CLEAR): (C, True, False),
    (A, CaseAction.CLEAR): (A, False, False),
    (OPEN, CaseAction.RESOLVE): (R, True, False),
    (A, CaseAction.RESOLVE): (R, True, False),
    (C, CaseAction.RESOLVE): (R, True, False),
}


@pytest.mark.parametrize(("status", "action"), list(itertools.product(CaseStatus, CaseAction)))
def test_every_pair_is_legal_as_specified_or_raises(status: CaseStatus, action: CaseAction) -> None:
    if (status, action) in EXPECTED:
        decision = transition(status, action)
        assert (decision.new_status, decision.new_token, decision.escalating) == EXPECTED[(status, action)]
    else:
        with pytest.raises(IllegalTransition) as info:
            transition(status, action)
        assert str(info.value) == f"cannot {action.value} a case that is {status.value}"
        assert (info.value.status, info.value.action) == (status, action)


def test_table_has_no_entries_beyond_the_specification() -> None:
    assert set(TRANSITIONS) == set(EXPECTED)


def test_resolved_is_terminal() -> None:
    for action in CaseAction:
        with pytest.raises(IllegalTransition):
            transition(R, action)


def test_every_transition_that_stops_escalation_away_from_open_changes_the_token() -> None:
    # Leaving OPEN for another state must fence off pending steps and sends.
    for (status, _action), decision in TRANSITIONS.items():
        if status == OPEN and decision.new_status != OPEN:
            assert decision.new_token
            assert not decision.escalating
