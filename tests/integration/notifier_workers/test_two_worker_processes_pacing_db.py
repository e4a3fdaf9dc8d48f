"""Two real worker processes place calls for one Twilio account: at most one call per second.

The pace is kept in the database (``notifier.pacing``), so it must hold across processes that
share nothing else. The assertion is on the times the fake provider recorded for each call
request, not on how fast anything ran.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from core.db import session_scope
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_workers.worker_process import run_workers

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
CALL_FIRST: dict[str, object] = {"steps": [{"action": "call_resident", "wait_minutes": 60}]}
FAMILY_FIRST: dict[str, object] = {"steps": [{"action": "notify_family", "tier": 1, "wait_minutes": 60}]}
CALLS = 8
# Twilio counts a call when its request arrives; ours can arrive a little late after the
# worker's sleep (scheduling on a busy machine), which shortens the gap to the next call. Calls
# placed without shared pacing arrive ~0.01 s apart, so a 0.75 s floor cannot pass by accident.
MIN_GAP_S = 0.75


def _seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        calls, texts = make_team(s, policy=CALL_FIRST), make_team(s, policy=FAMILY_FIRST)
        for i in range(CALLS):
            hh = make_household(s, team=calls, contacts=0, resident_phone=f"+8210555{i:05d}")
            make_open_case(s, hh, now=NOW)
        for _ in range(4):  # texts are not paced: they must not be held up by the calls either
            make_open_case(s, make_household(s, team=texts, contacts=1, with_resident=False), now=NOW)


@pytest.mark.slow
def test_two_worker_processes_place_calls_at_least_a_second_apart(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    log, go = tmp_path / "sent.log", tmp_path / "go"
    url = engine.url.render_as_string(hide_password=False)
    args = [url, str(log), str(go), "2", NOW.isoformat(), "AC-shared-account"]
    run_workers(args, timeout=120)

    records = [line.split() for line in log.read_text().splitlines()]  # kind url pid=… at=…
    fields = [(kind, dict(f.split("=", 1) for f in rest)) for kind, _url, *rest in records]
    calls = sorted((datetime.fromisoformat(f["at"]), f["pid"]) for kind, f in fields if kind == "call")
    texts = [f for kind, f in fields if kind == "sms"]
    assert (len(calls), len(texts)) == (CALLS, 4)
    assert len({pid for _, pid in calls}) == 2  # both processes placed calls: the pace is shared
    gaps = [(b[0] - a[0]).total_seconds() for a, b in itertools.pairwise(calls)]
    assert min(gaps) >= MIN_GAP_S, gaps
    # Over the whole run the slots are exactly one second apart; lateness only adds to the span.
    assert (calls[-1][0] - calls[0][0]).total_seconds() >= (CALLS - 1) * 1.0 - (1.0 - MIN_GAP_S)
