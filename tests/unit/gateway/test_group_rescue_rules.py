"""Share-group rescue rules (gateway/rescue.py): who is dead, and was a session rescued (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.models import GatewayStatus
from core.settings import Settings, parse_mqtt_url
from gateway.auth.mosquitto_config import Listener, generate
from gateway.health import readiness
from gateway.mqtt_tls import member_credentials
from gateway.rescue import Member, Sighting, dead_members, was_rescued

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def test_a_member_is_dead_only_after_its_row_stood_still_for_the_whole_wait() -> None:
    seen: dict[str, Sighting] = {}
    row = Member("gw-2", T0)
    assert dead_members([row], seen, 100.0, me="gw-1", after_s=30) == []  # first sighting
    assert dead_members([row], seen, 129.9, me="gw-1", after_s=30) == []
    assert dead_members([row], seen, 130.0, me="gw-1", after_s=30) == [row]


def test_a_row_that_changed_restarts_the_count_whatever_its_clock_says() -> None:
    seen: dict[str, Sighting] = {}
    dead_members([Member("gw-2", T0)], seen, 100.0, me="gw-1", after_s=30)
    # Its host clock stepped back: an older updated_at is still a change, i.e. a sign of life.
    older = Member("gw-2", T0 - timedelta(hours=1))
    assert dead_members([older], seen, 125.0, me="gw-1", after_s=30) == []
    assert dead_members([older], seen, 150.0, me="gw-1", after_s=30) == []
    assert dead_members([older], seen, 155.0, me="gw-1", after_s=30) == [older]


def test_we_never_rescue_ourselves_and_forget_members_no_longer_listed() -> None:
    seen: dict[str, Sighting] = {}
    me, other = Member("gw-1", T0), Member("gw-2", T0)
    dead_members([me, other], seen, 0.0, me="gw-1", after_s=30)
    assert set(seen) == {"gw-2"}
    assert dead_members([me, other], seen, 60.0, me="gw-1", after_s=30) == [other]
    dead_members([me], seen, 61.0, me="gw-1", after_s=30)  # rescued (or gone): not listed now
    assert seen == {}
    # Listed again later: a fresh count, not the old one.
    assert dead_members([other], seen, 62.0, me="gw-1", after_s=30) == []


def _row(
    *,
    updated_at: datetime = T0,
    rescued_by: str | None = None,
    rescued_at: datetime | None = None,
    rescue_finished_at: datetime | None = None,
) -> GatewayStatus:
    return GatewayStatus(
        client_id="gw-2",
        share_group="g",
        updated_at=updated_at,
        rescued_by=rescued_by,
        rescued_at=rescued_at,
        rescue_finished_at=rescue_finished_at,
    )


def test_was_rescued_only_by_a_finished_rescue_after_the_member_last_wrote() -> None:
    assert not was_rescued(None)
    assert not was_rescued(_row())
    claimed = _row(rescued_by="gw-1", rescued_at=T0 + timedelta(seconds=40))
    assert not was_rescued(claimed)  # claimed, not finished: the session may still be there
    done = _row(
        rescued_by="gw-1",
        rescued_at=T0 + timedelta(seconds=40),
        rescue_finished_at=T0 + timedelta(seconds=45),
    )
    assert was_rescued(done)
    # It wrote again after the rescue (came back, new session): that rescue is history.
    assert not was_rescued(
        _row(
            updated_at=T0 + timedelta(minutes=5),
            rescued_by="gw-1",
            rescued_at=T0 + timedelta(seconds=40),
            rescue_finished_at=T0 + timedelta(seconds=45),
        )
    )


def test_a_share_group_no_probe_ever_came_through_is_not_ready() -> None:
    fine = {"connected": True, "auth_failed": False, "deaf": False, "share_group_unverified": False}
    assert readiness(fine)["ok"] is True
    verdict = readiness({**fine, "share_group_unverified": True})
    assert verdict["ok"] is False
    assert verdict["share_group_unverified"] is True


# --- whose login reaches the dead member's session -------------------------------------------------


def _settings(url: str, client_id: str) -> Settings:
    return Settings(_env_file=None, mqtt_url=url, mqtt_client_id=client_id)


def test_where_the_username_is_the_client_id_the_rescuer_logs_in_as_the_dead_member() -> None:
    # `anbu broker mosquitto-config --gateways 2`: use_username_as_clientid, one group password.
    settings = _settings("mqtt://anbu-gateway-2:group-pw@127.0.0.1:1883", "anbu-gateway-2")
    assert member_credentials(settings, None, "anbu-gateway") == ("anbu-gateway", "group-pw")
    # The embedded broker's gateway passes its credentials explicitly: the same rule.
    assert member_credentials(settings, ("anbu-gateway-2", "pw2"), "anbu-gateway") == ("anbu-gateway", "pw2")


def test_where_the_client_id_is_free_the_rescuer_keeps_its_own_login() -> None:
    settings = _settings("mqtt://shared-user:pw@127.0.0.1:1883", "anbu-gw-2")
    assert member_credentials(settings, None, "anbu-gw-1") is None  # ANBU_MQTT_URL's user, as before
    assert member_credentials(settings, ("shared-user", "pw"), "anbu-gw-1") == ("shared-user", "pw")
    anonymous = _settings("mqtt://127.0.0.1:1883", "anbu-gw-2")
    assert member_credentials(anonymous, None, "anbu-gw-1") is None


def test_a_generated_group_shares_one_password_and_no_username(tmp_path: Path) -> None:
    generated = generate(tmp_path, Settings(_env_file=None), [], [Listener("127.0.0.1", 1883)], gateways=3)
    urls = [generated.env["ANBU_MQTT_URL"], *(url for url, _ in generated.other_gateways)]
    logins = [parse_mqtt_url(url) for url in urls]
    assert [e.username for e in logins] == ["anbu-gateway", "anbu-gateway-2", "anbu-gateway-3"]
    assert [cid for _, cid in generated.other_gateways] == ["anbu-gateway-2", "anbu-gateway-3"]
    assert len({e.password for e in logins}) == 1 and logins[0].password
    # The admin's password is not the group's.
    assert parse_mqtt_url(generated.env["ANBU_MQTT_DYNSEC_URL"]).password != logins[0].password
