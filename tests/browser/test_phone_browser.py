"""Issue 17, items 4 and 5 in a real browser: the dashboard on a phone, and finding people.

At 390 × 844 the queue laid itself out 862 px wide, 로그아웃 broke one letter a line and the
heatmaps were cut off. Now every page — sign-in, queue, case, household, search, district overview, each management
tab, reports, audit log and the family status page — fits the screen in both languages
(``document.documentElement.scrollWidth <= clientWidth``), and at a desktop width too. A
caseworker finds a resident by name ("김순자") and by phone as she gives it ("010-2468-1357"),
and sorts the queue. Screenshots of every page go to test-artifacts/ (tools/screenshots.py
copies them into docs/img).
"""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from core.db import session_scope
from core.models import Contact, Household, Resident
from tests.browser.harness import (
    BROWSER_MARKS,
    PASSWORD,
    Seeded,
    count_fetches,
    fits,
    settle,
    shot,
    sign_in,
    sync_api,
)

pytestmark = BROWSER_MARKS

PHONE = {"width": 390, "height": 844}
SLOW_MS = 15_000
DESKTOP = {"width": 1360, "height": 900}
NAME = "김순자"
ADDRESS = "서울 강남구 역삼로 123, 행복아파트 101동 1502호"
HER_PHONE = "+821024681357"  # the other household's resident has the factory's +821012345678

# On how many lines the first text of an element is laid out.
LINES = """(node) => {
  const range = document.createRange();
  range.selectNodeContents(node.firstChild);
  return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
}"""


def _her_details(app: Seeded) -> tuple[int, int]:
    """The flagged household is 김순자's, with an address; returns (household id, contact id)."""
    with session_scope(app.engine) as session:
        household = session.exec(select(Household).where(Household.code == app.household_code)).one()
        household.address = ADDRESS
        resident = session.exec(select(Resident).where(Resident.household_id == household.id)).one()
        resident.name, resident.phone = NAME, HER_PHONE
        contact = session.exec(select(Contact).where(Contact.household_id == household.id)).first()
        assert household.id is not None and contact is not None and contact.id is not None
        return household.id, contact.id


def _status_url(page: Any, app: Seeded, household_id: int, contact_id: int) -> str:
    token = page.evaluate("sessionStorage.getItem('anbu.token')")
    made = page.request.post(
        f"{app.base_url}/api/v1/households/{household_id}/status-links",
        data={"contact_id": contact_id, "days": 7},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.ok, made.text()
    return str(made.json()["url"])


def _pages(app: Seeded, household_id: int) -> list[tuple[str, str, str]]:
    """(screenshot name, hash, what shows the page has drawn) for every screen."""
    tabs = ("households", "devices", "teams", "users", "import", "policy")
    return [
        ("queue", "#/", "#queue-body td[data-label]"),
        ("case", f"#/cases/{app.case_id}", "#case-timeline li"),
        ("household", f"#/households/{household_id}", "#household-day table.day-view"),
        ("find", "#/find?q=" + NAME, "#find-count"),
        ("overview", "#/overview", "#overview-table table"),
        *[(f"manage-{tab}", f"#/manage/{tab}", f"#manage-tab-{tab}[aria-current=page]") for tab in tabs],
        ("reports", "#/reports", "#report-table table"),
        ("audit", "#/audit", "#audit-table table"),
    ]


def _sign_in_page_fits(page: Any, base_url: str) -> None:
    """The sign-in page in English, then Korean (the language the rest of the test signs in with)."""
    width = page.viewport_size["width"]
    for lang in ("en", "ko"):
        page.goto(f"{base_url}/?lang={lang}")
        sync_api.expect(page.locator("#login-form")).to_be_visible()
        fits(page, f"sign-in ({lang}, {width} px)")
        shot(page, f"login-{lang}-{width}")


def _every_page_fits(page: Any, app: Seeded, household_id: int, status_url: str) -> None:
    """Each page in Korean and English fits the window; a screenshot of each is named
    dashboard-<page>-<lang>-<width>.png (tools/screenshots.py takes them into docs/img)."""
    expect = sync_api.expect
    width = page.viewport_size["width"]
    for lang in ("ko", "en"):
        for name, hash_, ready in _pages(app, household_id):
            page.goto(f"{app.base_url}/?lang={lang}{hash_}")
            expect(page.locator(ready).first).to_be_attached()
            settle(page)
            fits(page, f"{name} ({lang}, {width} px)")
            shot(page, f"{name}-{lang}-{width}")
        page.goto(f"{status_url}?lang={lang}" if lang == "en" else status_url)
        expect(page.locator("#status-headline")).to_be_visible()
        fits(page, f"family status ({lang}, {width} px)")
        shot(page, f"family-status-{lang}-{width}")


def test_every_page_fits_a_phone_and_a_desktop_in_both_languages(running_app: Seeded, browser: Any) -> None:
    expect = sync_api.expect
    household_id, contact_id = _her_details(running_app)
    phone = browser.new_page(
        viewport=PHONE,
        device_scale_factor=1,
        is_mobile=True,
        has_touch=True,
        locale="ko-KR",
        timezone_id="Asia/Seoul",
    )
    count_fetches(phone)
    _sign_in_page_fits(phone, running_app.base_url)
    sign_in(phone, running_app.base_url, "admin")
    # 로그아웃 stays one line: its height is one line of text, not one letter a line.
    logout = phone.locator("#logout").bounding_box()
    assert logout is not None and logout["height"] < 48 and logout["width"] > logout["height"]
    # The queue is a list of cards, each cell naming its column.
    card = phone.locator("#queue-body tr").first
    expect(card).to_have_css("display", "block")
    expect(card.locator("td.next")).to_have_attribute("data-label", "다음 조치")
    status_url = _status_url(phone, running_app, household_id, contact_id)
    _every_page_fits(phone, running_app, household_id, status_url)
    # Every phone number on the household page is a tap-to-call link.
    phone.goto(f"{running_app.base_url}/#/households/{household_id}")
    expect(phone.locator("#household-people a.tel").first).to_have_attribute("href", "tel:" + HER_PHONE)
    numbers = phone.locator("#household-people td[data-label='전화번호']")
    assert numbers.count() >= 2
    for i in range(numbers.count()):
        expect(numbers.nth(i).locator("a[href^='tel:+']")).to_have_count(1)

    # The case header leads with her: name, a number to tap, the address.
    phone.goto(f"{running_app.base_url}/#/cases/{running_app.case_id}")
    person = phone.locator("#case-person")
    expect(person).to_contain_text(NAME)
    expect(person).to_contain_text(ADDRESS)
    expect(person.locator("a.tel")).to_have_attribute("href", "tel:" + HER_PHONE)
    expect(person.locator("a.tel")).to_have_text("010-2468-1357")

    desktop = browser.new_page(viewport=DESKTOP, locale="ko-KR", timezone_id="Asia/Seoul")
    count_fetches(desktop)
    _sign_in_page_fits(desktop, running_app.base_url)
    sign_in(desktop, running_app.base_url, "admin")
    expect(desktop.locator("#queue-panel thead")).to_be_visible()  # a table again, not cards
    # Korean words stay whole in a table's narrow columns ("미처리" used to become 미처/리).
    status = desktop.locator("#queue-body td.status").first
    expect(status).to_contain_text("미처리")
    assert status.evaluate(LINES) == 1
    _every_page_fits(desktop, running_app, household_id, status_url)


def test_a_caseworker_finds_her_by_name_and_by_phone_and_sorts_the_queue(
    running_app: Seeded, browser: Any
) -> None:
    expect = sync_api.expect
    household_id, _ = _her_details(running_app)
    page = browser.new_page(viewport=PHONE, is_mobile=True, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "worker")
    results = page.locator("#find-results table")
    for query in (
        NAME,
        "순자",
        "010-2468-1357",
        "01024681357",
        "역삼로",
        running_app.household_code[-3:],
    ):
        page.fill("#find-q", query)
        page.press("#find-q", "Enter")
        expect(page.locator("#find-count")).to_have_text("찾은 가구: 1곳")
        expect(results).to_contain_text(NAME)
        expect(results).to_contain_text(ADDRESS)
        expect(results.locator(f"a[href='#/households/{household_id}']")).to_have_text(
            running_app.household_code
        )
    page.fill("#find-q", "010-9999-0000")
    page.press("#find-q", "Enter")
    expect(page.locator("#find-count")).to_have_text("찾은 가구: 0곳")
    page.fill("#find-q", NAME)
    page.press("#find-q", "Enter")
    results.locator("a").first.click()
    expect(page.locator("#household-summary")).to_contain_text(NAME)
    expect(page.locator("#household-summary")).to_contain_text(ADDRESS)

    # The management list searches the same way and has the name, address and last signal.
    page.goto(f"{running_app.base_url}/#/manage/households")
    page.fill("#m-search", "1357")
    page.press("#m-search", "Enter")
    listed = page.locator("#manage-body table.households-list")
    expect(listed.locator("tbody tr")).to_have_count(1)
    expect(listed).to_contain_text(NAME)
    expect(listed.locator("td[data-label='마지막 생활 신호']")).not_to_have_text("–")

    # The queue sorts on the server; the choice is sent with every refresh.
    page.goto(f"{running_app.base_url}/#/")
    with page.expect_request(lambda r: "/api/v1/cases?" in r.url and "sort=newest" in r.url):
        page.select_option("#queue-sort", "newest")
    expect(page.locator("#queue-body tr")).to_have_count(1)


def test_a_centre_imports_its_own_spreadsheet_and_reads_one_plain_line(
    running_app: Seeded, browser: Any
) -> None:
    """Issue 17, item 8 in the browser: Korean headers, the team by the name on screen, numbers as
    people write them; the result is one line ("1줄을 저장했습니다. 없음." before)."""
    expect = sync_api.expect
    sheet = "가구코드,팀,어르신 이름,전화번호,주소\nGN-7,행복동 주민센터,박말순,010-5555-0001,서울 강남구 1\n"
    page = browser.new_page(viewport=PHONE, is_mobile=True, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "worker")
    page.goto(f"{running_app.base_url}/#/manage/import")
    page.set_input_files(
        "#m-file_households",
        files=[{"name": "가구.csv", "mimeType": "text/csv", "buffer": sheet.encode("cp949")}],
    )
    page.uncheck("#m-dry_households")
    page.click("#import-form-households button[type=submit]")
    report = page.locator("#import-report-households")
    # A busy shared machine can take a while to upload, check and write: a longer wait.
    expect(report).to_have_text("가구 1곳을 등록했습니다 (가구마다 어르신 한 분).", timeout=SLOW_MS)
    expect(report.locator("table, .muted")).to_have_count(0)
    fits(page, "import result")
    page.fill("#find-q", "010-5555-0001")
    page.press("#find-q", "Enter")
    expect(page.locator("#find-results table")).to_contain_text("박말순", timeout=SLOW_MS)


def test_a_view_opened_while_the_sign_in_still_loads_is_drawn_once(running_app: Seeded, browser: Any) -> None:
    """Signing in shows the views, loads the teams, then draws the view in the address bar. A
    view the user opened meanwhile was drawn a second time, and the second draw replaced the form
    being filled in: the import above once uploaded through a form no longer on the page and
    waited 15 s for a report nobody would write. Here the teams are held until the form is shown."""
    expect = sync_api.expect
    held: list[Any] = []

    def teams(url: str) -> bool:
        return url.endswith("/api/v1/teams")

    page = browser.new_page(viewport=PHONE, locale="ko-KR", timezone_id="Asia/Seoul")
    count_fetches(page)

    def hold_the_first(route: Any) -> None:  # held: neither answered nor refused, until we say
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route(teams, hold_the_first)
    page.goto(running_app.base_url)
    page.fill("#username", "worker")
    page.fill("#password", PASSWORD)
    with page.expect_request(lambda request: teams(request.url)):
        page.click("#login-form button[type=submit]")
    for _ in range(100):  # the handler runs while Playwright waits
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1, "the sign-in did not ask for the teams"
    assert page.is_hidden("#views-nav")  # not ready yet; a link or the back button can still open a view
    page.goto(f"{running_app.base_url}/#/manage/import")
    page.wait_for_selector("#import-form-households")
    page.eval_on_selector("#import-form-households", "(form) => { form.dataset.drawn = 'first'; }")
    held[0].continue_()
    expect(page.locator("#views-nav")).to_be_visible()  # the teams arrived...
    settle(page)
    expect(page.locator("#import-form-households")).to_have_attribute("data-drawn", "first")  # ...no redraw
