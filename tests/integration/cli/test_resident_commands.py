"""``anbu residents erase`` as an operator runs it: a process, its exit code and its messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlmodel import Session, select

from core.clock import SYSTEM_CLOCK
from core.db import make_engine, session_scope
from core.enums import AuditAction
from core.migrate import upgrade
from core.models import AuditEntry
from tests.factories import make_open_case
from tests.integration.privacy.people import Person, household_of, resident_ids, where_found

ANBU = [sys.executable, "-m", "anbu.cli"]


def _anbu(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ANBU_")}, "ANBU_DATABASE_URL": url}
    return subprocess.run([*ANBU, *args], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.mark.slow
def test_erase_refuses_an_open_case_then_erases_with_force_and_once_only(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    engine = make_engine(url)
    person = Person(8)
    with session_scope(engine) as s:
        household = household_of(s, person, SYSTEM_CLOCK.now())
        case_id = make_open_case(s, household, now=SYSTEM_CLOCK.now()).id
        resident_id = resident_ids(s, household)[0]

    refused = _anbu(tmp_path, url, "residents", "erase", str(resident_id))
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"error: household {household.id} has 1 open case(s) ({case_id})")
    assert "force" in refused.stderr and "Traceback" not in refused.stderr
    assert "resident.name" in where_found(engine, [person.name])  # nothing erased

    forced = _anbu(tmp_path, url, "residents", "erase", str(resident_id), "--force")
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.startswith(f"erased resident {resident_id} and household {household.id}: ")
    assert f"open cases resolved: {case_id}" in forced.stdout
    assert where_found(engine, person.words()) == set()

    again = _anbu(tmp_path, url, "residents", "erase", str(resident_id), "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["already"] is True
    with Session(engine) as s:
        erasures = s.exec(select(AuditEntry).where(AuditEntry.action == AuditAction.ERASE)).all()
        assert [(e.object_id, e.user_id, e.client) for e in erasures] == [(household.id, 0, "console")]


def test_erase_of_an_unknown_resident_exits_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    done = _anbu(tmp_path, url, "residents", "erase", "4242")
    assert (done.returncode, done.stderr.strip()) == (2, "error: no resident with id 4242")
