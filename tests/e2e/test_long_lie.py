"""The long lie, end to end (issue 18): a resident who collapses in front of the TV, which stays on,
and one who collapses in bed, everything off, in the same district.

The demo's own seeding (anbu/demo.py: 21 days of history through the real ingest, then the refit
the worker makes at midnight) places the TV's switch-on so that the long-on rule's deadline comes a
few seconds after the test's seeding starts; the live plugs then publish through MQTT (the TV still on), and the
sweeper, the escalation and the wellness call run as in production. The bound: the case of the TV
left on opens within 1.5 × its usual 90 min + 1 h = 3 h 15 min of its switch-on (the collapse was 2
min after it), where the base-load ladder alone waits at least 6 h; with the long-on rule off, no
case opens for that household within the test's wait and the test fails (checked by hand: set
``LadderParams.long_margin`` to None). The in-bed collapse still opens its case, by its quiet
window, without the long-on explanation.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from anbu import demo
from core.enums import CaseKind
from core.models import CallAttempt, Case, Household
from simulator.households import demo_district, phone_behaviours
from simulator.runner import Simulator
from tests.e2e.harness import System, running_system

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LONG_ON_BOUND = timedelta(hours=1.5 * 1.5 + 1)  # margin × usual TV run + grace (ladder defaults)


def test_a_collapse_with_the_tv_on_is_found_by_the_long_on_rule_and_one_in_bed_too(
    sqlite_engine: Engine, embedded_broker: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo's deadlines 30 s and 60 s after seeding began; here sooner (seeding takes ~15 s).
    monkeypatch.setattr(demo, "STOPPER_LEAD", timedelta(seconds=15))
    monkeypatch.setattr(demo, "ACTIVE_LEAD", timedelta(seconds=20))
    specs = demo_district(households=2, active_index=1)
    with running_system(sqlite_engine, mqtt_url=embedded_broker, embedded=True) as system:
        now = datetime.now(UTC)
        district = demo.seed_district(sqlite_engine, system.settings, specs, now=now)
        assert district.active is not None and district.stopper is not None
        assert district.tv_on is not None and district.active.stop_at is not None
        system.emulator.set_behaviours(phone_behaviours(district.households))
        host, port = embedded_broker.removeprefix("mqtt://").rsplit(":", 1)
        sim = Simulator(
            district.households,
            mqtt_host=host,
            mqtt_port=int(port),
            report_interval_s=5.0,
            initial_energy_wh=district.energy_wh,
        )
        sim.start()
        try:
            cases = _wait_for_cases(system, sqlite_engine, started=now)
        finally:
            sim.stop()

    tv_on = district.tv_on
    active = cases[district.active.code]
    assert active.opened_at - tv_on <= LONG_ON_BOUND + timedelta(minutes=2), (active.opened_at, tv_on)
    assert active.opened_at - district.active.stop_at < LONG_ON_BOUND
    on_local = tv_on.astimezone(ZoneInfo("Asia/Seoul"))
    usual_end = (on_local + demo.TV_USUAL).strftime("%H:%M")
    assert f"TV이(가) {on_local:%m-%d %H:%M}부터 쉬지 않고 켜져 있습니다" in active.explanation
    assert f"평소에는 {usual_end}까지 꺼집니다" in active.explanation

    in_bed = cases[district.stopper.code]
    assert "쉬지 않고 켜져" not in in_bed.explanation
    assert "12시간 동안 사용이 없으면" in in_bed.explanation  # its quiet window (no routine learned)

    with Session(sqlite_engine) as s:  # the wellness call went out for the TV household too
        calls = s.exec(select(CallAttempt).where(CallAttempt.case_id == active.id)).all()
        assert calls and calls[0].provider_sid


def _wait_for_cases(system: System, engine: Engine, *, started: datetime) -> dict[str, Case]:
    """Tick until both stoppers' inactivity cases are open and both calls were placed (at most
    120 s after seeding began: the deadlines are 15 s and 20 s after it)."""
    found: dict[str, Case] = {}

    def done() -> bool:
        with Session(engine, expire_on_commit=False) as s:
            rows = s.exec(
                select(Case, Household)
                .join(Household, col(Household.id) == Case.household_id)
                .where(Case.kind == CaseKind.INACTIVITY)
            ).all()
            found.clear()
            found.update({household.code: case for case, household in rows})
            placed = s.exec(select(CallAttempt).where(col(CallAttempt.provider_sid).is_not(None))).all()
        return len(found) >= 2 and len(placed) >= 2

    t0 = time.monotonic()
    remaining = 120 - (datetime.now(UTC) - started).total_seconds()
    ok = system.run_until(done, timeout=max(remaining, 1.0), every=1.0)
    assert ok, f"after {time.monotonic() - t0:.0f} s more: inactivity cases for {sorted(found)}"
    return found
