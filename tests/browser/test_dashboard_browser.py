"""The dashboard in a real browser: Debian's Chromium driven by Playwright against a running app.

A caseworker signs in, sees the flagged household in the queue, opens the household page and
the case, takes ownership, adds a note and resolves it with an outcome; an admin then finds
those actions in the audit log. Screenshots go to test-artifacts/ (gitignored).

Skips with a reason when Playwright or /usr/bin/chromium is missing.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session, col, select

from core.enums import AuditAction, AuditObject, CaseEventType, CaseStatus, ResolutionCode, Role
from core.models import AuditEntry, Case, CaseAssignment, CaseEvent, Household, Organisation, Team, User
from tests.browser.harness import BROWSER_MARKS, EXPLANATION, EXPLANATION_EN, Seeded, shot, sign_in, sync_api

pytestmark = BROWSER_MARKS


def _teams_inline_forms(page: Any, expect: Any) -> None:
    """Rename a team in place (no prompt()), and open its members on demand."""
    page.locator("button[id^=team-rename-]").first.click()
    name = page.locator("input[id^=m-team_rename_]")
    expect(name).to_be_focused()
    name.fill("행복동 복지팀")
    name.press("Enter")
    expect(page.locator("#manage-body table")).to_contain_text("행복동 복지팀")
    expect(page.locator("button[id^=team-rename-]").first).to_be_focused()  # focus back where it was
    toggle = page.locator("[id^=team-members-toggle-]").first
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    expect(page.locator("[id^=team-members-]").filter(has=page.locator("ul.members"))).to_contain_text(
        "worker"
    )
    expect(page.locator("form[id^=team-add-form-]")).to_be_visible()  # admins move staff in here
    shot(page, "manage-teams")


def _policy_form(page: Any, expect: Any) -> None:
    """The escalation policy as a form: reorder, remove and add steps, quiet hours; the server's
    422 problems appear in Korean next to the field they are about; then a valid save."""
    expect(page.locator("#policy-steps > li")).to_have_count(4)  # the default policy
    # Move step 3 (family SMS) above step 2; repeat_from follows the step it pointed at.
    page.click("#policy-step-up-2")
    expect(page.locator("#m-policy_step_1_action")).to_have_value("notify_family")
    expect(page.locator("#policy-step-up-1")).to_be_focused()
    expect(page.locator("#m-policy_repeat_from")).to_have_value("1")
    page.click("#policy-step-remove-3")  # the last step (caseworker SMS)
    expect(page.locator("#policy-steps > li")).to_have_count(3)
    page.click("#policy-add-step")
    expect(page.locator("#policy-steps > li")).to_have_count(4)
    expect(page.locator("#m-policy_step_3_action")).to_be_focused()
    page.select_option("#m-policy_step_3_action", "notify_caseworker")
    # Issue 17's steps: a family voice call (a tier, like the family text) and a 119 hand-off
    # (no tier); issue 19's self-harm choices.
    page.click("#policy-add-step")
    page.select_option("#m-policy_step_4_action", "call_family")
    expect(page.locator("#m-policy_step_4_tier")).to_be_visible()
    page.fill("#m-policy_step_4_tier", "2")
    page.click("#policy-add-step")
    page.select_option("#m-policy_step_5_action", "handoff_119")
    expect(page.locator("#m-policy_step_5_tier")).to_be_hidden()
    page.select_option("#m-policy_self_harm_family", "do_not_tell")
    page.fill("#m-policy_control_room_after", "15")
    page.check("#m-policy_quiet_on")
    page.fill("#m-policy_quiet_start", "22:00")
    page.fill("#m-policy_quiet_end", "07:00")
    page.select_option("#m-policy_quiet_mode", "defer")
    page.check("#m-policy_pre_call_sms")
    # Two mistakes: the server names them in Korean, each next to its own field.
    page.fill("#m-policy_step_0_wait", "0")
    page.fill("#m-policy_step_1_tier", "12")
    page.click("#policy-save")
    expect(page.locator("#m-policy_step_0_wait-problem")).to_have_text("1 이상이어야 합니다.")
    expect(page.locator("#m-policy_step_1_tier-problem")).to_have_text("9 이하여야 합니다.")
    expect(page.locator("#m-policy_step_0_wait")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#m-policy_step_0_wait")).to_be_focused()
    expect(page.locator("#policy-problems")).to_contain_text("저장하지 못했습니다")
    shot(page, "manage-policy-errors")
    page.fill("#m-policy_step_0_wait", "5")
    page.fill("#m-policy_step_1_tier", "2")
    page.click("#policy-save")
    expect(page.locator("#policy-status")).to_have_text("이 기관의 정책입니다.")
    expect(page.locator("#manage-notice")).to_be_visible()
    expect(page.locator("#m-policy_step_0_wait-problem")).to_be_hidden()


def _saved_policy(engine: Any) -> dict[str, Any]:
    with Session(engine) as session:
        org = session.exec(select(Organisation)).one()
        assert org.escalation_policy is not None
        return dict(org.escalation_policy)


def test_caseworker_handles_a_flagged_household_and_admin_sees_it_audited(
    running_app: Seeded, browser: Any
) -> None:
    expect = sync_api.expect
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul")
    page.goto(running_app.base_url + "/")
    expect(page.locator("#login-heading")).to_have_text("로그인")
    sign_in(page, running_app.base_url, "worker")

    # The queue: the flagged household, its explanation and what happens next.
    row = page.locator("#queue-body tr", has_text=running_app.household_code)
    expect(row).to_have_count(1)
    expect(row).to_contain_text("전기포트")
    expect(row.locator("td.next")).to_contain_text("안부 전화")
    expect(page.locator("#queue-panel")).to_be_visible()
    shot(page, "queue")

    # The household page: facts, devices and the heatmap against the routine.
    row.locator("td.code a").click()
    expect(page.locator("#household-heading")).to_contain_text(running_app.household_code)
    expect(page.locator("#household-devices")).to_contain_text("plug-kettle-01")
    expect(page.locator("#household-devices")).to_contain_text("전기포트")  # the catalogue's name
    expect(page.locator("#household-devices")).to_contain_text("시계 오류: 1일 늦음")
    # Device assignment suggests the known names, the whole-house meter among them.
    expect(page.locator("#appliance-options option[value=aggregate]")).to_have_attribute("label", "전체 전력")
    # The ladder's stage: overdue since its deadline, in Korean, in the household's time.
    expect(page.locator("#household-summary")).to_contain_text("단계")
    expect(page.locator("#household-summary")).to_contain_text("경보 (")
    expect(page.locator("#household-heatmap table.heatmap")).to_have_count(2)
    assert page.locator("#household-heatmap td.heat-5").count() > 0
    # Scheduled check-in calls: the summary with the worrying answer flagged.
    expect(page.locator("#household-extra")).to_contain_text("식사 걱정")
    expect(page.locator("#household-extra")).to_contain_text("월, 목 10:00")
    # ...and why this morning's check-in call did not happen.
    skipped = page.locator("#checkin-last-skip")
    expect(skipped).to_contain_text("마지막으로 건너뛴 안부 전화")
    expect(skipped).to_contain_text("처리 중인 사례가 있어 건너뜀")
    expect(skipped).to_contain_text("오전 10:00")
    # The day view: today so far (nothing) against a usual Monday (kettle at 7, TV at 19).
    day = page.locator("#household-day")
    expect(day).to_contain_text("오늘 (지금까지)")
    expect(day).to_contain_text("켜진 시각: 없음")
    expect(page.locator("#household-day-next")).to_be_disabled()
    shot(page, "household")
    page.click("#household-day-prev")
    expect(page.locator("#household-day-date")).to_have_value("2026-03-01")
    expect(day).to_contain_text("오전 07:15 전기포트")  # yesterday morning, in Seoul time
    expect(page.locator("#household-day-next")).to_be_enabled()
    # 35 days of history: the 30-day view's usual week (days 30-58 ago) is not complete,
    # and says so and from when it will be, instead of standing blank; the 7-day one is.
    note = page.locator("#household-heatmap .heatmap-note")
    expect(note).to_have_count(0)
    page.click("#household-days-30")
    expect(note).to_contain_text("아직 다 채워지지 않았습니다")
    expect(note).to_contain_text("부터 온전히 표시됩니다")
    page.click("#household-days-7")
    expect(note).to_have_count(0)

    # A family link for the contact: the status page says only what family should see.
    page.locator("#household-people button").first.click()
    expect(page.locator("#household-link")).to_be_visible()
    status_url = page.locator("#household-link-url").input_value()
    family = browser.new_page(locale="ko-KR")
    family.goto(status_url)
    expect(family.locator("#status-headline")).to_have_text("평소와 다른 점이 있어 확인하고 있습니다.")
    assert "Kim Test" not in family.content() and running_app.household_code not in family.content()
    shot(family, "family-status")
    # The household page lists the link (never its URL); revoking it ends it at once.
    revoke = page.locator("button[id^=status-link-revoke-]").first
    expect(page.locator("#household-status-links")).to_contain_text("사용 중")
    revoke.click()
    expect(page.locator("#household-status-links")).to_contain_text("취소됨")
    family.goto(status_url)
    expect(family.locator("#status-invalid")).to_have_text("이 링크는 사용할 수 없습니다.")
    family.close()
    # Deleting a contact asks first, inline; Escape keeps the contact and the focus.
    page.locator("button[id^=contact-delete-]").first.click()
    expect(page.locator("[id^=contact-delete-question-]")).to_contain_text("삭제할까요")
    page.keyboard.press("Escape")
    expect(page.locator("button[id^=contact-delete-]").first).to_be_focused()
    expect(page.locator("#household-people")).to_contain_text("Family 1")

    # The case page: take ownership, add a note, resolve with an outcome.
    page.locator("#household-cases a").first.click()
    expect(page.locator("#case-heading")).to_contain_text(f"#{running_app.case_id}")
    page.click("#case-ack")
    expect(page.locator("#case-summary")).to_contain_text("worker")
    # Assign the case to herself; the queue shows it under "assigned to me".
    page.select_option("#m-assignee", label="worker")
    page.click("#case-assign-form button[type=submit]")
    expect(page.locator("#case-assigned")).to_contain_text("worker")
    page.fill("#m-visited_at", "2026-03-02T09:50")  # the server's clock is NOW, not today
    page.fill("#m-visit-note", "방문: 문 앞에서 통화, 외출 중 확인")
    page.click("#case-visit-form button[type=submit]")
    expect(page.locator("#case-timeline")).to_contain_text("현장 방문")
    page.click("#nav-queue")
    page.check("#filter-mine")
    mine = page.locator("#queue-body tr", has_text=running_app.household_code)
    expect(mine).to_contain_text("→ worker")
    shot(page, "queue-assigned")
    mine.locator("td.actions a").click()
    expect(page.locator("#case-heading")).to_contain_text(f"#{running_app.case_id}")
    page.fill("#case-note-text", "딸과 통화: 어제부터 병원 검진차 외출")
    page.click("#case-note-form button[type=submit]")
    expect(page.locator("#case-timeline")).to_contain_text("딸과 통화")
    page.click("#case-resolve")
    page.select_option("#resolve-code", ResolutionCode.FALSE_ALARM_AWAY.value)
    page.fill("#resolve-note", "외출 확인")
    page.click("#resolve-form button[type=submit]")
    expect(page.locator("#case-summary")).to_contain_text("종결")
    shot(page, "case")

    # The admin's audit log shows who did it.
    page.click("#logout")
    sign_in(page, running_app.base_url, "admin")
    page.click("#nav-audit")
    table = page.locator("#audit-table")
    expect(table).to_contain_text("종결")
    expect(table).to_contain_text("담당 확인")
    expect(table).to_contain_text("메모 추가")
    expect(table).to_contain_text("담당 지정")
    shot(page, "audit")

    # Management: create a household with its resident, then a user; view the policy.
    page.click("#nav-manage")
    expect(page.locator("#manage-body")).to_contain_text(running_app.household_code)
    # The browser's own checks speak the page's language (the catalogue), whatever the
    # browser's: a required code, then quiet hours above the control's maximum.
    page.click("#household-form button[type=submit]")
    expect(page.locator("#m-code")).to_have_js_property("validationMessage", "필수 항목입니다.")
    page.fill("#m-code", "BR-0001")
    page.fill("#m-quiet_hours", "100")
    page.click("#household-form button[type=submit]")
    expect(page.locator("#m-quiet_hours")).to_have_js_property("validationMessage", "72 이하여야 합니다.")
    expect(page.locator("#household-heading")).to_be_hidden()  # nothing was sent
    page.fill("#m-quiet_hours", "")
    expect(page.locator("#m-quiet_hours")).to_have_js_property("validationMessage", "")
    page.fill("#m-resident_name", "Lee Test")
    page.fill("#m-resident_phone", "+821011112222")
    shot(page, "manage-households")
    page.click("#household-form button[type=submit]")
    expect(page.locator("#household-heading")).to_contain_text("BR-0001")
    # A taken code: the API's 409 is shown in Korean, not as the server's English text.
    page.click("#nav-manage")
    page.fill("#m-code", "BR-0001")
    page.click("#household-form button[type=submit]")
    expect(page.locator("#household-form .error")).to_contain_text("같은 가구 코드가 이미 있습니다")
    page.goto(running_app.base_url + "/#/manage/users")
    page.fill("#m-new_username", "night.desk")
    page.fill("#m-new_password", "a long password")
    page.select_option("#m-role", "control_room")
    # A phone the server refuses: its 422 is shown in Korean next to the phone field.
    page.fill("#m-user_phone", "12345")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#m-user_phone-problem")).to_have_text(
        "전화번호는 국제 형식이어야 합니다 (예: +821012345678)."
    )
    expect(page.locator("#m-user_phone")).to_be_focused()
    page.fill("#m-user_phone", "")
    page.click("#user-form button[type=submit]")
    expect(page.locator("#manage-body table")).to_contain_text("night.desk")
    shot(page, "manage-users")
    # CSV import: a wrong row is reported by row and column, and nothing is written.
    page.click("#manage-tab-import")
    bad_csv = b"code,team_id,resident_name\nBR-0002,999,Kim\n"
    page.set_input_files(
        "#m-file_households", files=[{"name": "h.csv", "mimeType": "text/csv", "buffer": bad_csv}]
    )
    page.click("#import-form-households button[type=submit]")
    report = page.locator("#import-report-households")
    expect(report).to_contain_text("team_id")
    expect(report).to_contain_text("없는 팀입니다")  # the row problem in Korean
    expect(report.locator("td").first).to_have_text("2")
    shot(page, "manage-import")
    for tab in ("devices", "teams"):
        page.click(f"#manage-tab-{tab}")
        expect(page.locator(f"#manage-tab-{tab}")).to_have_attribute("aria-current", "page")
        expect(page.locator("#manage-error")).to_be_hidden()
    _teams_inline_forms(page, expect)
    page.click("#manage-tab-policy")
    expect(page.locator("#manage-body")).to_contain_text("대상자에게 AI 안부 전화")
    shot(page, "manage-policy")
    _policy_form(page, expect)

    # Reports: the team's figures, field visits included.
    page.click("#nav-reports")
    expect(page.locator("#report-table")).to_contain_text("현장 방문 수")
    shot(page, "reports")

    # English on request.
    page.goto(running_app.base_url + "/?lang=en#/")
    expect(page.locator("#queue-heading")).to_be_visible()
    expect(page.locator("#queue-heading")).to_have_text("Cases that need attention")
    expect(page.locator("#queue-body")).to_contain_text("No active cases.")  # resolved above
    shot(page, "queue-en")
    # The case's explanation in English, not in the Korean it was also stored in.
    page.goto(running_app.base_url + f"/?lang=en#/cases/{running_app.case_id}")
    expect(page.locator("#case-summary")).to_contain_text(EXPLANATION_EN)
    expect(page.locator("#case-summary")).not_to_contain_text(EXPLANATION)
    # Errors follow the language too.
    page.goto(running_app.base_url + "/?lang=en#/manage/policy")
    page.fill("#m-policy_step_0_wait", "0")
    page.click("#policy-save")
    expect(page.locator("#m-policy_step_0_wait-problem")).to_have_text("Must be at least 1.")
    # The browser's checks too, although this browser runs in Korean (locale ko-KR).
    page.goto(running_app.base_url + "/?lang=en#/manage/households")
    page.click("#household-form button[type=submit]")
    expect(page.locator("#m-code")).to_have_js_property("validationMessage", "Required.")

    with Session(running_app.engine) as session:
        case = session.get(Case, running_app.case_id)
        assert case is not None
        assert case.status == CaseStatus.RESOLVED
        assert case.resolution_code == ResolutionCode.FALSE_ALARM_AWAY
        assert case.resolved_by == "user:worker"
        actions = [
            (e.role, e.action.value)
            for e in session.exec(select(AuditEntry).order_by(col(AuditEntry.id))).all()
        ]
    assert ("caseworker", "view") in actions
    assert ("caseworker", "acknowledge") in actions
    assert ("caseworker", "note") in actions
    assert ("caseworker", "resolve") in actions
    assert ("admin", "view") in actions  # the admin reading the log
    assert ("caseworker", "assign") in actions
    assert ("caseworker", "field_visit") in actions
    with Session(running_app.engine) as session:
        assignment = session.get(CaseAssignment, running_app.case_id)
        worker = session.exec(select(User).where(User.username == "worker")).one()
        assert assignment is not None and assignment.user_id == worker.id
        visits = session.exec(
            select(CaseEvent).where(
                CaseEvent.case_id == running_app.case_id, CaseEvent.type == CaseEventType.FIELD_VISIT
            )
        ).all()
        assert len(visits) == 1
        assert session.exec(select(Household).where(Household.code == "BR-0001")).one()
        assert session.exec(select(User).where(User.username == "night.desk")).one().role == Role.CONTROL_ROOM
        assert session.exec(select(Team)).one().name == "행복동 복지팀"
        team_views = session.exec(
            select(AuditEntry).where(
                AuditEntry.object_type == AuditObject.TEAM, AuditEntry.action == AuditAction.VIEW
            )
        ).all()
        assert team_views, "viewing a team's members is recorded"
        # ...by the admin who opened them; the case page's assignment picker writes no team view.
        assert {e.role for e in team_views} == {Role.ADMIN}
    # What the policy form saved: the reordered ladder, quiet hours and the pre-call text.
    policy = _saved_policy(running_app.engine)
    assert [(s["action"], s.get("tier"), s["wait_minutes"]) for s in policy["steps"]] == [
        ("call_resident", None, 5),
        ("notify_family", 2, 15),
        ("call_resident", None, 10),
        ("notify_caseworker", None, 15),
        ("call_family", 2, 15),
        ("handoff_119", None, 15),
    ]
    assert policy["self_harm"] == {"family": "do_not_tell", "control_room_after_minutes": 15}
    assert policy["repeat_from"] == 1 and policy["max_repeats"] == 3
    assert policy["quiet_hours"] == {"start": "22:00", "end": "07:00", "mode": "defer"}
    assert policy["pre_call_sms"] is True


def test_every_management_tab_loads_and_an_expired_session_signs_out_everywhere(
    running_app: Seeded, browser: Any
) -> None:
    """The screens live in separate scripts on one shared module: each tab draws without a
    script error, and a 401 on a management screen signs out as it does on the queue (it used
    to leave the user on the screen with a "session expired" line)."""
    expect = sync_api.expect
    page = browser.new_page(locale="ko-KR", timezone_id="Asia/Seoul")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    sign_in(page, running_app.base_url, "admin")
    for tab in ("households", "devices", "teams", "users", "import", "policy"):
        page.goto(f"{running_app.base_url}/#/manage/{tab}")
        expect(page.locator(f"#manage-tab-{tab}")).to_have_attribute("aria-current", "page")
        expect(page.locator("#manage-body")).not_to_be_empty()
        expect(page.locator("#manage-error")).to_be_hidden()
    page.click("#nav-reports")
    expect(page.locator("#report-table")).to_be_visible()
    assert errors == []

    page.evaluate("sessionStorage.setItem('anbu.token', 'expired-or-forged')")
    page.goto(f"{running_app.base_url}/#/manage/devices")
    expect(page.locator("#login-panel")).to_be_visible()
    expect(page.locator("#login-error")).to_have_text("로그인이 만료되었습니다. 다시 로그인하세요.")
    expect(page.locator("#views-nav")).to_be_hidden()
