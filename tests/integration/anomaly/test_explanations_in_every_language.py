"""A case's explanation, and the watch's "why", in every language (issue 17.9).

The dashboard in English showed Korean explanations: they were stored as Korean text only. The
sweeper now stores a case's explanation in every language beside the Korean one; the household
page works the watch's "why" out again in each language; rows written before keep their Korean
text and are still read.
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import Engine, update
from sqlmodel import Session, col, select

from anomaly import sweeper
from api.household_queries import household_detail
from api.queries import case_detail
from core.clock import ManualClock
from core.db import session_scope
from core.enums import CaseKind, WatchStatus
from core.i18n import text_in
from core.models import Case, Household
from core.settings import Settings
from tests.factories import make_household, make_watch
from tests.integration.anomaly.test_away_household_page import away_period_ended

SETTINGS = Settings(inactivity_default_hours=12)
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _overdue_case(engine: Engine, clock: ManualClock) -> tuple[int, Case]:
    with session_scope(engine) as s:
        h = make_household(s)
        last = clock.now() - timedelta(hours=13)
        make_watch(s, h, status=WatchStatus.UP, last_activity_at=last, alert_after=last + timedelta(hours=12))
        hid = h.id
    assert hid is not None
    sweeper.tick(engine, clock, SETTINGS)
    with Session(engine) as s:
        case = s.exec(select(Case).where(col(Case.household_id) == hid)).one()
    return hid, case


def test_an_inactivity_case_is_explained_in_korean_and_in_english(engine: Engine, clock: ManualClock) -> None:
    _, case = _overdue_case(engine, clock)
    assert case.kind == CaseKind.INACTIVITY
    texts = case.explanation_texts
    assert texts is not None and set(texts) == {"ko", "en"}
    assert texts["ko"] == case.explanation and HANGUL.search(texts["ko"])
    assert texts["en"] and not HANGUL.search(texts["en"]), texts["en"]


def test_an_away_reminder_is_explained_in_both_languages(engine: Engine, clock: ManualClock) -> None:
    hid = away_period_ended(engine, clock)
    with Session(engine) as s:
        [note] = household_detail(s, s.get_one(Household, hid), now=clock.now()).notes
    assert note.explanation_texts is not None
    assert HANGUL.search(note.explanation_texts["ko"]) and not HANGUL.search(note.explanation_texts["en"])


def test_the_watchs_why_is_worked_out_in_english_on_the_household_page(
    engine: Engine, clock: ManualClock
) -> None:
    hid, _ = _overdue_case(engine, clock)
    with Session(engine) as s:
        detail = household_detail(s, s.get_one(Household, hid), now=clock.now(), settings=SETTINGS)
    texts = detail.watch_explanation_texts
    assert texts is not None and texts["ko"] == detail.watch_explanation
    assert texts["en"] and not HANGUL.search(texts["en"]), texts["en"]


def test_a_case_stored_before_keeps_its_korean_text(engine: Engine, clock: ManualClock) -> None:
    hid, case = _overdue_case(engine, clock)
    with session_scope(engine) as s:  # as the rows written before migration 0019
        s.execute(update(Case).where(col(Case.id) == case.id).values(explanation_texts=None))
    with Session(engine) as s:
        old = s.get_one(Case, case.id)
        detail = case_detail(s, old, s.get_one(Household, hid))
    assert detail.explanation == case.explanation and not detail.explanation_texts
    assert text_in(old.explanation_texts, "en", old.explanation) == case.explanation
