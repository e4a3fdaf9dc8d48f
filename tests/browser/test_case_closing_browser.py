"""Issue 17, items 1 and 2 in a real browser: closing a case cannot reassure the family by accident.

The outcome dialog opens with no outcome chosen and will not send without one; choosing one shows
the exact text the family will get; 입원 and 부재 offer to pause monitoring; and afterwards the
family's status page follows the outcome — never "as usual" beside a 14 h old sign of life.
A household still silent after the closure stays under the queue.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from api.status_links import new_token
from core.db import session_scope
from core.enums import CaseStatus, MonitoringState, OutboxStatus, RecipientKind, ResolutionCode
from core.models import Case, Contact, Household, Notification, StatusLink, User
from tests.browser.harness import BROWSER_MARKS, NOW, Seeded, shot, sign_in, sync_api

pytestmark = BROWSER_MARKS

PHONE = "+821055512345"
USUAL = "평소처럼 생활하고 계십니다"


def _prepare(app: Seeded) -> str:
    """The worker has a phone on file, a family member was texted about the case; their link."""
    with session_scope(app.engine) as session:
        worker = session.exec(select(User).where(User.username == "worker")).one()
        worker.phone = PHONE
        case = session.get(Case, app.case_id)
        assert case is not None
        contact = session.exec(select(Contact).where(Contact.household_id == case.household_id)).first()
        assert contact is not None and contact.id is not None
        session.add(
            Notification(
                case_id=case.id,
                household_id=case.household_id,
                recipient_kind=RecipientKind.CONTACT,
                recipient_id=contact.id,
                to_address=contact.phone,
                template="sms.family.ladder",
                body="[안부] …",
                idempotency_key="browser-closing-told",
                escalation_token=case.escalation_token,
                status=OutboxStatus.SENT,
                created_at=NOW - timedelta(minutes=10),
            )
        )
        token, token_hash = new_token()
        session.add(
            StatusLink(
                token_hash=token_hash,
                household_id=case.household_id,
                contact_id=contact.id,
                created_by=worker.id or 0,
                created_at=NOW,
                expires_at=NOW + timedelta(days=7),
            )
        )
    return f"{app.base_url}/status/{token}"


@pytest.mark.parametrize(
    ("code", "family_text", "pause", "headline"),
    [
        (ResolutionCode.HOSPITAL, "병원에 계신 것으로 확인되어", True, "병원에 계십니다"),
        (
            ResolutionCode.RESIDENT_FINE,
            "괜찮으신 것으로 확인되었습니다",
            False,
            "안부를 확인했습니다. 그 뒤로는 아직 생활 신호가 없습니다",
        ),
        # Away: the family page never says so (issue 13.6), only a neutral line.
        (
            ResolutionCode.FALSE_ALARM_AWAY,
            "괜찮으신 것으로 확인되었습니다",
            True,
            "특별히 알려 드릴 소식이 없습니다",
        ),
    ],
)
def test_the_outcome_is_chosen_shown_and_followed_on_the_family_page(
    running_app: Seeded, code: ResolutionCode, family_text: str, pause: bool, headline: str, browser: Any
) -> None:
    expect = sync_api.expect
    status_url = _prepare(running_app)
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "worker")
    page.goto(f"{running_app.base_url}/#/cases/{running_app.case_id}")
    page.click("#case-resolve")
    dialog = page.locator("#resolve-dialog")
    expect(dialog).to_be_visible()
    # No default: nothing chosen, and "종결하기" does not send.
    expect(page.locator("#resolve-code")).to_have_value("")
    expect(page.locator("#resolve-family")).to_contain_text("결과를 고르면")
    page.click("#resolve-form button[type=submit]")
    expect(dialog).to_be_visible()
    with Session(running_app.engine) as session:
        case = session.get(Case, running_app.case_id)
        assert case is not None and case.status == CaseStatus.OPEN

    # Each outcome says what the family will be told, before anything is sent.
    page.select_option("#resolve-code", ResolutionCode.HOSPITAL.value)
    expect(page.locator("#resolve-family")).to_contain_text("가족 1명에게 이 문자가 갑니다")
    expect(page.locator("#resolve-family")).to_contain_text("병원에 계신 것으로 확인되어")
    page.select_option("#resolve-code", ResolutionCode.RESIDENT_FINE.value)
    expect(page.locator("#resolve-family")).to_contain_text("괜찮으신 것으로 확인되었습니다")
    expect(page.locator("#resolve-pause")).to_be_hidden()
    page.select_option("#resolve-code", code.value)
    expect(page.locator("#resolve-family")).to_contain_text(family_text)
    if pause:  # 입원 / 부재: offered to pause monitoring
        expect(page.locator("#resolve-pause")).to_be_visible()
        page.check("#resolve-pause-on")
        page.fill("#resolve-pause-until", "2026-03-09")  # the server's clock is NOW, not today
    else:
        expect(page.locator("#resolve-pause")).to_be_hidden()
    if code == ResolutionCode.HOSPITAL:
        shot(page, "resolve-dialog")
    page.click("#resolve-form button[type=submit]")
    expect(dialog).to_be_hidden()
    expect(page.locator("#case-summary")).to_contain_text("종결")
    with Session(running_app.engine) as session:
        case = session.get(Case, running_app.case_id)
        assert case is not None and case.resolution_code == code
        household = session.get(Household, case.household_id)
        assert household is not None
        paused = household.monitoring == MonitoringState.PAUSED
        assert paused is pause

    # The family page follows the outcome; never "as usual" beside a 14 h old sign of life.
    family = browser.new_page(locale="ko-KR")
    family.goto(status_url)
    expect(family.locator("#status-headline")).to_contain_text(headline)
    assert USUAL not in family.content()
    expect(family.locator("#status-updated")).to_contain_text("3월 2일 10:00")
    # Whom to call, after every outcome (away too: a number says nothing about an empty home).
    expect(family.locator("#status-call a")).to_have_attribute("href", f"tel:{PHONE}")
    if code == ResolutionCode.HOSPITAL:
        shot(family, "family-status-hospital")
    family.close()

    # Still silent after "all fine": the household stays in view under the queue.
    if code == ResolutionCode.RESIDENT_FINE:
        page.click("#nav-queue")
        quiet = page.locator("#quiet-after")
        expect(quiet).to_be_visible()
        expect(quiet).to_contain_text("종결 후에도 조용함")
        expect(quiet).to_contain_text(running_app.household_code)
        expect(quiet).to_contain_text(f"사례 #{running_app.case_id}")
        shot(page, "queue-quiet-after-closing")
