"""Two real worker processes tick the same database at once: every call and SMS goes out once.

Separate processes (not threads) so nothing is shared but the database: its row locks,
conditional UPDATEs, fencing tokens and unique idempotency keys are all that stands between
the two workers and a duplicate call.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from core.db import session_scope
from core.models import CallAttempt, Notification
from tests.factories import make_household, make_open_case, make_team
from tests.integration.notifier_workers.worker_process import run_workers

NOW = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
# Half the cases ring the resident first, half text two family members first.
CALL_FIRST: dict[str, object] = {"steps": [{"action": "call_resident", "wait_minutes": 60}]}
FAMILY_FIRST: dict[str, object] = {"steps": [{"action": "notify_family", "tier": 1, "wait_minutes": 60}]}
CASES = 24


def _seed(engine: Engine) -> None:
    with session_scope(engine) as s:
        teams = [make_team(s, policy=CALL_FIRST), make_team(s, policy=FAMILY_FIRST)]
        for i in range(CASES):
            hh = make_household(s, team=teams[i % 2], contacts=2, resident_phone=f"+8210123{i:05d}")
            make_open_case(s, hh, now=NOW)


def _database_url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


@pytest.mark.slow
def test_two_worker_processes_send_each_row_exactly_once(engine: Engine, tmp_path: Path) -> None:
    _seed(engine)
    log, go = tmp_path / "sent.log", tmp_path / "go"
    args = [_database_url(engine), str(log), str(go), "4", NOW.isoformat()]
    run_workers(args, timeout=60)

    lines = log.read_text().splitlines()
    urls = Counter(line.split()[1] for line in lines)
    assert [u for u, n in urls.items() if n > 1] == []  # nothing sent twice
    with Session(engine) as s:
        calls = s.exec(select(CallAttempt)).all()
        sms = s.exec(select(Notification)).all()
        assert (len(calls), len(sms)) == (CASES // 2, CASES)  # one call, or two texts, per case
        assert all(c.provider_sid for c in calls)
        unsent = s.exec(select(Notification).where(col(Notification.provider_sid).is_(None))).all()
    assert unsent == []
    assert len(lines) == len(calls) + len(sms)
