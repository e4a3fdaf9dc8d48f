"""Issue 17, items 3 and 6 in a real browser: the resident's own words lead the case.

"넘어져서 못 일어나겠어요" used to be only inside a call's debug transcript at the bottom of the case
page, while the header and the queue said "no appliance use". Now the queue and the header name
the cause (낙상·도움 요청) and the words are a banner; the timeline names people and the AI call in
the page's language; a resolved case shows its outcome and note, not "waiting for a person".
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from core.db import session_scope
from core.enums import CallOutcome, CallPurpose, CallStatus, CaseEventType, Intent, RecipientKind
from core.models import CallAttempt, Case, User
from notifier import lifecycle
from tests.browser.harness import BROWSER_MARKS, NOW, Seeded, fits, shot, sign_in, sync_api

pytestmark = BROWSER_MARKS

FELL = "넘어져서 못 일어나겠어요"


def _a_fall_on_the_call(app: Seeded) -> None:
    with session_scope(app.engine) as session:
        worker = session.exec(select(User).where(User.username == "worker")).one()
        worker.display_name = "김복지"
        case = session.get(Case, app.case_id)
        assert case is not None
        attempt = CallAttempt(
            purpose=CallPurpose.WELLNESS,
            case_id=case.id,
            household_id=case.household_id,
            recipient_kind=RecipientKind.RESIDENT,
            to_address="+821012345678",
            code="story-call-1",
            idempotency_key="story-call-1",
            escalation_token=case.escalation_token,
            status=CallStatus.COMPLETED,
            outcome=CallOutcome.EMERGENCY,
            intent=Intent.EMERGENCY,
            confidence=1.0,
            transcript=f'#1 speech (stt 0.88): "{FELL}" -> emergency 1.00 [emergency_phrase]',
            created_at=NOW,
            updated_at=NOW,
        )
        session.add(attempt)
        session.flush()
        lifecycle.record_event(
            session,
            case,
            CaseEventType.CALL_OUTCOME,
            NOW,
            actor=f"call:{attempt.id}",
            call_attempt_id=attempt.id,
            outcome="emergency",
            input="speech",
            excerpt=FELL,
            intent="emergency",
            confidence=1.0,
            source="emergency_phrase",
        )


def test_the_residents_words_lead_the_queue_and_the_case(running_app: Seeded, browser: Any) -> None:
    expect = sync_api.expect
    _a_fall_on_the_call(running_app)
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "worker")
    row = page.locator("#queue-body tr", has_text=running_app.household_code)
    expect(row).to_contain_text("낙상·도움 요청")
    expect(row.locator("q.words")).to_have_text(FELL)

    page.goto(f"{running_app.base_url}/#/cases/{running_app.case_id}")
    expect(page.locator("#case-heading")).to_contain_text("낙상·도움 요청")
    banner = page.locator("#case-words")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("낙상·도움 요청 · 어르신 말씀")
    expect(banner.locator("blockquote")).to_have_text(f"“{FELL}”")
    timeline = page.locator("#case-timeline")
    expect(timeline).to_contain_text("AI 안부 전화")
    expect(timeline).to_contain_text(f"“{FELL}” → 긴급 도움 요청")
    expect(timeline).to_contain_text("안부 시스템")
    assert "call:" not in timeline.inner_text() and "system" not in timeline.inner_text()

    # Take it on, assign it, close it: names, not logins; the outcome and note, not "waiting".
    page.click("#case-ack")
    expect(page.locator("#case-summary")).to_contain_text("접수한 사람김복지")
    page.select_option("#m-assignee", label="김복지")
    page.click("#case-assign-form button[type=submit]")
    expect(page.locator("#case-assigned")).to_have_text("담당자: 김복지")
    shot(page, "case-words")
    page.click("#case-resolve")
    page.select_option("#resolve-code", "hospital")
    page.fill("#resolve-note", "119 이송, 서울병원 입원")
    page.click("#resolve-form button[type=submit]")
    summary = page.locator("#case-summary")
    expect(summary).to_contain_text("종결 메모119 이송, 서울병원 입원")
    expect(summary).to_contain_text("종결한 사람김복지")
    expect(summary).to_contain_text("사례가 닫혀 예정된 조치 없음")
    assert "담당자 확인 대기" not in summary.inner_text()
    expect(timeline).to_contain_text("입원 — 119 이송, 서울병원 입원")
    panel = page.locator("#case-panel").inner_text()
    assert "worker" not in panel
    assert "담당:" not in panel  # one word for one role: 접수한 사람 (took it on), 담당자 (assignee)

    # The same page in English: the cause and the actors in the user's language.
    page.goto(f"{running_app.base_url}/?lang=en#/cases/{running_app.case_id}")
    expect(page.locator("#case-words")).to_contain_text("Fall — asked for help")
    expect(page.locator("#case-timeline")).to_contain_text("AI check call")


def test_on_a_phone_the_words_and_the_resolve_dialog_fit_and_nothing_is_chosen(
    running_app: Seeded, browser: Any
) -> None:
    """At 390 × 844 the banner with her words and the outcome dialog fit the screen (no sideways
    scrolling), and the dialog still starts with no outcome chosen."""
    expect = sync_api.expect
    _a_fall_on_the_call(running_app)
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "worker")
    page.goto(f"{running_app.base_url}/#/cases/{running_app.case_id}")
    banner = page.locator("#case-words")
    expect(banner.locator("blockquote")).to_have_text(f"“{FELL}”")
    box = banner.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
    fits(page, "case page with the words banner (390 px)")
    page.click("#case-resolve")
    expect(page.locator("#resolve-dialog")).to_be_visible()
    expect(page.locator("#resolve-code")).to_have_value("")
    page.select_option("#resolve-code", "hospital")  # nobody was texted: it says so
    expect(page.locator("#resolve-family")).to_contain_text("종결 문자는 가지 않습니다")
    dialog = page.locator("#resolve-dialog").bounding_box()
    assert dialog is not None and dialog["x"] >= 0 and dialog["x"] + dialog["width"] <= 390
    fits(page, "resolve dialog (390 px)")


def test_the_case_header_sets_today_against_the_usual_day_with_the_hour_now_marked(
    running_app: Seeded, browser: Any
) -> None:
    """Issue 17: the case header shows today's activity against the usual, "now" marked by the
    server's clock in the household's time zone (10:00 in Seoul here; the browser's own clock is
    the real one, so a marker from it would land elsewhere)."""
    expect = sync_api.expect
    for lang, heading, now in (
        ("ko", "오늘 활동과 평소", "지금 10시"),
        ("en", "Today against", "now 10:00"),
    ):
        page = browser.new_page(
            viewport={"width": 390, "height": 844}, locale="ko-KR", timezone_id="Asia/Seoul"
        )
        sign_in(page, running_app.base_url, "worker", f"?lang={lang}")
        page.goto(f"{running_app.base_url}/?lang={lang}#/cases/{running_app.case_id}")
        today = page.locator("#case-today")
        expect(today).to_be_visible()
        expect(today.locator("h2")).to_contain_text(heading)
        expect(today.locator("caption")).to_contain_text(now)
        expect(today.locator("th.now")).to_have_text("10")
        expect(today.locator("td.now")).to_have_count(2)  # today so far, and the usual
        expect(today.locator("tr")).to_have_count(3)
        fits(page, f"case with today's activity ({lang}, 390 px)")
        page.close()
