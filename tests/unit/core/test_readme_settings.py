"""The README's settings table lists every ANBU_* setting (docs stay true as settings change)."""

from __future__ import annotations

from pathlib import Path

from core.settings import Settings

README = Path(__file__).resolve().parents[3] / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"ANBU_{name.upper()}" for name in Settings.model_fields if f"`ANBU_{name.upper()}`" not in text
    ]
    assert not missing, f"README settings table lacks: {missing}"
