"""The `anbu` command run in-process against a fresh SQLite database, with no ANBU_* from the outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anbu.cli import main


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for key in [k for k in os.environ if k.startswith("ANBU_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("ANBU_DATABASE_URL", url)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err
