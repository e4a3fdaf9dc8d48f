"""An admin erases a resident from the household page: asked first, inline; refused while the
case is open, then, on a second explicit step, the case is resolved and the data erased."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, select

from core.enums import AuditAction, CaseStatus
from core.models import AuditEntry, Case, Household, Resident
from tests.browser.harness import BROWSER_MARKS, Seeded, count_fetches, settle, shot, sign_in, sync_api

pytestmark = BROWSER_MARKS


def test_admin_erases_a_resident_with_an_open_case_in_two_explicit_steps(
    running_app: Seeded, browser: Any
) -> None:
    expect = sync_api.expect
    with Session(running_app.engine) as s:
        household = s.exec(select(Household).where(Household.code == running_app.household_code)).one()
        resident = s.exec(select(Resident).where(Resident.household_id == household.id)).one()
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "admin")
    page.goto(f"{running_app.base_url}/#/households/{household.id}")
    start = page.locator(f"#resident-erase-{resident.id}")
    expect(start).to_contain_text("개인정보 파기")
    start.click()
    expect(page.locator(f"#resident-erase-question-{resident.id}")).to_contain_text("되돌릴 수 없습니다")
    page.keyboard.press("Escape")  # changed her mind: nothing happens
    expect(start).to_be_focused()
    start.click()
    page.click(f"#resident-erase-confirm-{resident.id}")
    # The case is open: the API refuses, and the question becomes the explicit second step.
    question = page.locator(f"#resident-erase-question-{resident.id}")
    expect(question).to_contain_text("열린 사례")
    expect(page.locator(f"#resident-erase-confirm-{resident.id}")).to_have_text("사례 종결 후 파기")
    shot(page, "erase-force")
    with Session(running_app.engine) as s:
        assert s.get(Resident, resident.id).name == "Kim Test"  # type: ignore[union-attr]
    page.click(f"#resident-erase-confirm-{resident.id}")
    expect(page.locator("#household-summary")).to_contain_text("개인정보 파기됨")
    expect(page.locator("#household-pause-form")).to_be_hidden()
    expect(page.locator("#household-people")).not_to_contain_text("Kim Test")
    with Session(running_app.engine) as s:
        assert s.get(Resident, resident.id).erased_at is not None  # type: ignore[union-attr]
        assert s.get(Case, running_app.case_id).status == CaseStatus.RESOLVED  # type: ignore[union-attr]
        assert (
            s.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ERASE)).one().object_id
            == household.id
        )


def test_overlapping_household_loads_draw_the_extra_sections_once(running_app: Seeded, browser: Any) -> None:
    """Two loads of one household page in flight at once (a hashchange while the first is still
    fetching) drew the check-in, people and erase sections twice, with every id twice (a CI run
    failed on a strict-mode locator)."""
    expect = sync_api.expect
    with Session(running_app.engine) as s:
        household = s.exec(select(Household).where(Household.code == running_app.household_code)).one()
        resident = s.exec(select(Resident).where(Resident.household_id == household.id)).one()
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR")
    count_fetches(page)
    sign_in(page, running_app.base_url, "admin")
    page.goto(f"{running_app.base_url}/#/households/{household.id}")
    expect(page.locator(f"#resident-erase-{resident.id}")).to_have_count(1, timeout=30_000)
    page.evaluate("for (let i = 0; i < 4; i++) window.dispatchEvent(new HashChangeEvent('hashchange'))")
    settle(page)
    # The newest load draws the sections once; on a loaded machine its fetches can take
    # longer than expect()'s default 5 s, and meanwhile the box is empty (count 0).
    expect(page.locator(f"#resident-erase-{resident.id}")).to_have_count(1, timeout=30_000)
    expect(page.locator("#household-extra h2", has_text="개인정보 파기")).to_have_count(1, timeout=30_000)
