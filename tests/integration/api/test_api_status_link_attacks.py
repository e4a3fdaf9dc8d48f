"""Family status links, attacked (issue 13.6): a link must die with its contact and stay dead,
be revocable one by one, never be cached, and never tell its holder that the home is empty."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from core.clock import ManualClock
from tests.integration.api.conftest import PUBLIC_BASE_URL, World

Auth = Callable[[str], dict[str, str]]


def _add_contact(client: TestClient, auth: Auth, household_id: int, name: str) -> int:
    response = client.post(
        f"/api/v1/households/{household_id}/contacts",
        json={"name": name, "phone": "+821055512345"},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 201, response.text
    contact_id: int = response.json()["id"]
    return contact_id


def _link(client: TestClient, auth: Auth, household_id: int, contact_id: int) -> str:
    response = client.post(
        f"/api/v1/households/{household_id}/status-links",
        json={"contact_id": contact_id, "days": 7},
        headers=auth("caseworker_own"),
    )
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    return url.removeprefix(PUBLIC_BASE_URL)


def test_a_deleted_contacts_link_does_not_come_back_with_the_next_contact(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    """SQLite hands the next contact the deleted one's id: the old link must not follow it."""
    household = world.household_a2
    old = _add_contact(app_client, auth, household, "Former son-in-law")
    path = _link(app_client, auth, household, old)
    assert app_client.get(path).status_code == 200
    removed = app_client.delete(f"/api/v1/contacts/{old}", headers=auth("caseworker_own"))
    assert removed.status_code == 204
    assert app_client.get(path).status_code == 404

    _add_contact(app_client, auth, household, "New neighbour")  # on SQLite: the same id again
    revived = app_client.get(path)
    assert revived.status_code == 404, "a deleted contact's link came back to life"


def test_the_status_page_and_its_api_are_never_cached_nor_leak_a_referrer(
    app_client: TestClient, world: World, auth: Auth
) -> None:
    contact = _add_contact(app_client, auth, world.household_a2, "Daughter")
    response = app_client.post(
        f"/api/v1/households/{world.household_a2}/status-links",
        json={"contact_id": contact},
        headers=auth("caseworker_own"),
    )
    path = response.json()["url"].removeprefix(PUBLIC_BASE_URL)
    for answer in (response, app_client.get(path), app_client.get("/status/" + "x" * 43)):
        assert answer.headers.get("Cache-Control") == "no-store", answer.request.url
        assert answer.headers.get("Referrer-Policy") == "no-referrer", answer.request.url


def test_the_page_does_not_tell_a_link_holder_that_the_home_is_empty(
    app_client: TestClient, world: World, auth: Auth, clock: ManualClock
) -> None:
    contact = _add_contact(app_client, auth, world.household_a2, "Daughter")
    path = _link(app_client, auth, world.household_a2, contact)
    usual = app_client.get(path).text
    until = clock.now() + timedelta(days=3)
    pause = app_client.post(
        f"/api/v1/households/{world.household_a2}/pause",
        json={"until": until.isoformat()},
        headers=auth("caseworker_own"),
    )
    assert pause.status_code == 200
    for lang in ("ko", "en"):
        page = app_client.get(path, params={"lang": lang})
        assert page.status_code == 200
        text = page.text.lower()
        for telling in ("중지", "부재", "paused", "away", "3월 5일", "5 mar"):
            assert telling not in text, (lang, telling)
    away = app_client.get(path).text
    assert "특별히 알려 드릴 소식이 없습니다" in away and "특별히 알려 드릴 소식이 없습니다" not in usual
    assert "평소처럼 생활하고 계십니다" not in away  # nor a false "all as usual"
    assert "status-last-sign" in usual and "status-last-sign" not in away  # no time to date the absence


def test_one_link_is_revoked_from_the_household_page_and_the_others_still_work(
    app_client: TestClient, world: World, auth: Auth, engine: Engine
) -> None:
    contact = _add_contact(app_client, auth, world.household_a2, "Daughter")
    first = _link(app_client, auth, world.household_a2, contact)
    second = _link(app_client, auth, world.household_a2, contact)
    listed = app_client.get(
        f"/api/v1/households/{world.household_a2}/status-links", headers=auth("caseworker_own")
    )
    assert listed.status_code == 200, listed.text
    links = listed.json()["items"]
    assert [item["contact_id"] for item in links] == [contact, contact]
    assert all("url" not in item and "token" not in item for item in links)  # shown once, never again
    assert app_client.get(first).status_code == 200
    newest_first = (
        max(links, key=lambda item: item["id"])["id"],
        min(links, key=lambda item: item["id"])["id"],
    )
    revoked = app_client.post(
        f"/api/v1/status-links/{newest_first[1]}/revoke", headers=auth("caseworker_own")
    )
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert app_client.get(first).status_code == 404
    assert app_client.get(second).status_code == 200
    # Another team's caseworker cannot see or revoke team A's links (not found, like a missing one).
    other = app_client.post(
        f"/api/v1/status-links/{newest_first[0]}/revoke", headers=auth("caseworker_other")
    )
    assert other.status_code == 404
    assert app_client.get(second).status_code == 200


def test_an_old_signed_link_gets_the_ask_for_a_new_link_page(app_client: TestClient, world: World) -> None:
    """Links made before revision 0014 were ``s1.<household>.<contact>.<expiry>.<hmac>``: not migrated."""
    old = app_client.get("/status/s1.2.4.1773014400.Hpr6rYGofa_nfBj_w1UHvdA6ViMuxJZ4BbjzHm9Pa3Y")
    assert old.status_code == 404
    assert "담당자에게 새 링크를 요청해 주세요" in old.text
