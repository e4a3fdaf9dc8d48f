"""Share-group rescue claims on both databases (gateway/rescue.py): one rescuer, never a live member."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from core.models import GatewayStatus
from gateway.rescue import RESCUE_LEASE_S, claim, finish, group_members, was_rescued
from gateway.status import read_status, write_status

T0 = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)


def _write(engine: Engine, client_id: str, at: datetime, group: str | None = "g") -> None:
    write_status(engine, GatewayStatus(client_id=client_id, share_group=group, updated_at=at))


def test_one_member_wins_the_claim_and_the_finished_rescue_is_recorded(engine: Engine) -> None:
    _write(engine, "gw-1", T0)
    _write(engine, "gw-2", T0)
    _write(engine, "other-group", T0, group="h")
    members = {m.client_id: m for m in group_members(engine, "g", T0)}
    assert set(members) == {"gw-1", "gw-2"}
    dead = members["gw-2"]
    later = T0 + timedelta(seconds=40)
    assert claim(engine, dead, "gw-1", later) is True
    assert claim(engine, dead, "gw-3", later) is False  # already claimed: its rescued_at moved on
    assert {m.client_id for m in group_members(engine, "g", later)} == {"gw-1"}
    assert finish(engine, dead, "gw-1", later + timedelta(seconds=5)) is True
    assert was_rescued(read_status(engine, "gw-2"))


def test_a_member_that_wrote_again_cannot_be_claimed_or_finished(engine: Engine) -> None:
    _write(engine, "gw-2", T0)
    (seen,) = group_members(engine, "g", T0)
    _write(engine, "gw-2", T0 + timedelta(seconds=5))  # alive after all
    assert claim(engine, seen, "gw-1", T0 + timedelta(seconds=40)) is False
    # And a rescue claimed before it came back does not finish: its row is its own again.
    (fresh,) = group_members(engine, "g", T0 + timedelta(seconds=5))
    assert claim(engine, fresh, "gw-1", T0 + timedelta(seconds=40)) is True
    _write(engine, "gw-2", T0 + timedelta(seconds=41))
    assert finish(engine, fresh, "gw-1", T0 + timedelta(seconds=45)) is False
    assert not was_rescued(read_status(engine, "gw-2"))
    assert [m.client_id for m in group_members(engine, "g", T0 + timedelta(seconds=45))] == ["gw-2"]


def test_a_rescue_whose_rescuer_died_too_may_be_claimed_again_after_the_lease(engine: Engine) -> None:
    _write(engine, "gw-2", T0)
    (dead,) = group_members(engine, "g", T0)
    assert claim(engine, dead, "gw-1", T0 + timedelta(seconds=40))
    soon = T0 + timedelta(seconds=60)
    assert group_members(engine, "g", soon) == []
    late = T0 + timedelta(seconds=40 + RESCUE_LEASE_S + 1)
    (again,) = group_members(engine, "g", late)
    assert claim(engine, again, "gw-3", late)
    assert read_status(engine, "gw-2").rescued_by == "gw-3"  # type: ignore[union-attr]
