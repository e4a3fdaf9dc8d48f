"""An admin gives a plug its MQTT identity from the devices tab: the password and the vendor's exact
setup lines are shown once (gone when closed, gone after a reload), then rotated and revoked, each
asked first; the database keeps only a hash that matches what was shown."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select

from core.enums import AuditAction, AuditObject
from core.models import AuditEntry, MqttCredential
from gateway.auth.passwords import verify_password
from tests.browser.harness import BROWSER_MARKS, Seeded, shot, sign_in, sync_api

pytestmark = BROWSER_MARKS

USERNAME = "tasmota:kettle-hh0042"
BACKLOG = re.compile(
    r"^Backlog MqttHost \S+; MqttPort \d+; MqttUser tasmota:kettle-hh0042; "
    r"MqttPassword (?P<password>\S+); Topic kettle-hh0042$"
)


def _credential(app: Seeded) -> MqttCredential:
    with Session(app.engine) as s:
        return s.exec(select(MqttCredential).where(MqttCredential.username == USERNAME)).one()


def _shown_password(page: Any) -> str:
    lines = page.locator("#identity-setup-lines").inner_text()
    match = BACKLOG.match(lines.strip())
    assert match, lines
    password: str = page.locator("#identity-issued-password").inner_text()
    assert match["password"] == password
    return password


def test_admin_adds_rotates_and_revokes_a_device_identity(running_app: Seeded, browser: Any) -> None:
    expect = sync_api.expect
    page = browser.new_page(viewport={"width": 1360, "height": 900}, locale="ko-KR", timezone_id="Asia/Seoul")
    sign_in(page, running_app.base_url, "admin")
    page.goto(f"{running_app.base_url}/#/manage/devices")
    expect(page.locator("#manage-body")).to_contain_text("기기 접속 계정 (MQTT)")
    expect(page.locator("#identity-list")).to_have_text("발급된 계정이 없습니다.")
    page.select_option("#m-identity_vendor", "tasmota")
    page.fill("#m-identity_external_id", "kettle-hh0042")
    page.click("#identity-form button[type=submit]")

    # Shown once: the password, the Backlog line, where to paste it, in Korean.
    box = page.locator("#identity-issued")
    expect(box).to_be_visible()
    expect(page.locator("#identity-issued-heading")).to_be_focused()
    expect(box).to_contain_text("한 번만 표시됩니다")
    expect(box).to_contain_text("Tasmota 웹 콘솔")
    expect(box).to_contain_text("TelePeriod 60")
    first = _shown_password(page)
    assert verify_password(first, _credential(running_app).password_hash)
    assert first not in _credential(running_app).password_hash
    shot(page, "device-identity-issued")
    page.click("#identity-issued-done")
    expect(box).to_be_hidden()
    assert first not in page.content()
    page.reload()
    expect(page.locator("#identity-list")).to_contain_text(USERNAME)
    assert first not in page.content()  # nothing kept it: not the page, not the browser

    # Rotate: asked first; Escape changes nothing.
    identity_id = _credential(running_app).id
    page.click(f"#identity-rotate-{identity_id}")
    expect(page.locator(f"#identity-question-{identity_id}")).to_contain_text("바로 끊기고")
    page.keyboard.press("Escape")
    expect(page.locator(f"#identity-question-{identity_id}")).to_have_count(0)
    assert verify_password(first, _credential(running_app).password_hash)
    page.click(f"#identity-rotate-{identity_id}")
    page.click(f"#identity-confirm-{identity_id}")
    expect(page.locator("#identity-issued-heading")).to_contain_text("새 비밀번호")
    second = _shown_password(page)
    assert second != first
    hashed = _credential(running_app).password_hash
    assert verify_password(second, hashed) and not verify_password(first, hashed)
    page.click("#identity-issued-done")

    # Revoke: asked first, then the row says so and offers nothing more.
    page.click(f"#identity-revoke-{identity_id}")
    expect(page.locator(f"#identity-question-{identity_id}")).to_contain_text("다시 접속할 수 없습니다")
    page.click(f"#identity-confirm-{identity_id}")
    expect(page.locator("#manage-notice")).to_contain_text(f"{USERNAME} 계정을 폐기했습니다.")
    expect(page.locator("#identity-list")).to_contain_text("폐기됨")
    expect(page.locator(f"#identity-rotate-{identity_id}")).to_have_count(0)
    assert _credential(running_app).revoked_at is not None
    shot(page, "device-identity-revoked")

    # The same device id again while another is active is refused, in Korean, at the field.
    page.select_option("#m-identity_vendor", "shelly")
    page.fill("#m-identity_external_id", "tele/x")
    page.click("#identity-form button[type=submit]")
    expect(page.locator("#m-identity_external_id-problem")).to_contain_text("계정을 발급할 수 없습니다")

    # English from the same catalogue.
    page.goto(f"{running_app.base_url}/?lang=en#/manage/devices")
    expect(page.locator("#manage-body")).to_contain_text("Device identities (MQTT)")
    expect(page.locator("#identity-list")).to_contain_text("revoked")
    with Session(running_app.engine) as s:
        entries = s.exec(select(AuditEntry).where(AuditEntry.object_type == AuditObject.MQTT_IDENTITY)).all()
        assert [e.action for e in entries] == [
            AuditAction.ISSUE_CREDENTIALS,
            AuditAction.ROTATE_CREDENTIALS,
            AuditAction.REVOKE_CREDENTIALS,
        ]
