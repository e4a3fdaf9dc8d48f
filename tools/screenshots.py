"""Screenshots of every dashboard page for docs/img, in both languages, at 390 px and 1360 px.

``python tools/screenshots.py`` runs the browser test that visits every page on a phone and a
desktop (tests/browser/test_phone_browser.py: it also asserts that nothing is wider than the
screen) and copies its screenshots, ``test-artifacts/dashboard-<page>-<ko|en>-<390|1360>.png``,
into docs/img small enough to keep in git: at most MAX_HEIGHT pixels tall (the top of a long
page is what the docs point at) and reduced to a 64-colour palette — the dashboard's flat
colours survive it, and a page drops from ~300 kB to well under 100 kB. ``--no-run`` only copies
what an earlier run left in test-artifacts/. Pillow comes with matplotlib (a dependency).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
SHOT = re.compile(r"^dashboard-[a-z-]+-(ko|en)-(390|1360)\.png$")
MAX_HEIGHT = 2400
COLOURS = 64
TEST = "tests/browser/test_phone_browser.py::test_every_page_fits_a_phone_and_a_desktop_in_both_languages"


def shrink(source: Path, target: Path) -> int:
    """Crop *source* to MAX_HEIGHT, reduce it to a palette, write *target*; its size in bytes."""
    with Image.open(source) as image:
        rgb = image.convert("RGB")
        if rgb.height > MAX_HEIGHT:
            rgb = rgb.crop((0, 0, rgb.width, MAX_HEIGHT))
        rgb.quantize(colors=COLOURS, method=Image.Quantize.MEDIANCUT).save(target, optimize=True)
    return target.stat().st_size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-run", action="store_true", help="copy the last run's screenshots only")
    args = parser.parse_args(argv)
    if not args.no_run:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", TEST], cwd=ROOT, check=True
        )
    shots = sorted(p for p in ARTIFACTS.glob("dashboard-*.png") if SHOT.match(p.name))
    if not shots:
        print("no screenshots in test-artifacts/: run without --no-run", file=sys.stderr)
        return 1
    total = sum(shrink(shot, DOCS_IMG / shot.name) for shot in shots)
    print(f"{len(shots)} screenshots, {total / 1024:.0f} kB, in {DOCS_IMG.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
