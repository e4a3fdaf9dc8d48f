"""The spool of call replies the database could not take (notifier.stored_replies): durable,
imported once, and a file that cannot be read is kept for an operator, never dropped."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine
from sqlmodel import Session, select

from core.models import CallReply
from notifier import stored_replies
from notifier.script import CATALOGUE

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _raw(n: int = 1, words: str = "도와주세요") -> stored_replies.RawReply:
    params = {"CallSid": "CA1", "SpeechResult": words, "Confidence": "0.9", "From": "+821012345678"}
    return stored_replies.RawReply.of("code-1", n, params, NOW)


def test_only_what_the_handlers_read_is_kept() -> None:
    assert _raw().params == {"CallSid": "CA1", "SpeechResult": "도와주세요", "Confidence": "0.9"}


def test_a_spooled_reply_is_private_and_imported_once(sqlite_engine: Engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    path = stored_replies.write_spool(spool, _raw())
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(spool.stat().st_mode) == 0o700
    assert [p.name for p in spool.iterdir()] == [path.name]  # no temporary file left behind
    copy = path.read_bytes()
    assert stored_replies.import_spool(sqlite_engine, spool) == 1
    assert not path.exists()
    # A crash after the row was committed but before the file was deleted: importing it again
    # finds the row by its key and adds nothing.
    path.write_bytes(copy)
    assert stored_replies.import_spool(sqlite_engine, spool) == 1
    with Session(sqlite_engine) as session:
        rows = session.exec(select(CallReply)).all()
    assert len(rows) == 1
    assert (rows[0].key, rows[0].gather_no, rows[0].received_at) == ("code-1:1", 1, NOW)
    assert rows[0].params["SpeechResult"] == "도와주세요" and rows[0].done_at is None


def test_an_unreadable_spool_file_is_kept_as_bad(sqlite_engine: Engine, tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "broken.json").write_text("{not json", encoding="utf-8")
    stored_replies.write_spool(spool, _raw())
    assert stored_replies.import_spool(sqlite_engine, spool) == 1
    assert [p.name for p in spool.iterdir()] == ["broken.bad"]


def test_the_safe_answer_says_what_was_heard_in_the_language_it_was_said() -> None:
    base = "https://care.example.org"
    assert CATALOGUE.text("call.closing.emergency", "ko") in stored_replies.safe_answer(_raw(), base)
    english = stored_replies.safe_answer(_raw(words="help I've fallen and can't get up"), base)
    assert CATALOGUE.text("call.closing.emergency", "en") in english
    assert "n=2" in stored_replies.safe_answer(_raw(words="여보세요?"), base)  # asked once more
    last = stored_replies.safe_answer(_raw(n=2, words="여보세요?"), base)
    assert CATALOGUE.text("call.closing.unclear", "ko") in last
