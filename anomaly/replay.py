"""``anbu replay``: recorded readings through the same detection code, causally, as a live deployment.

Input schema (the real-household set's): CSV or CSV.gz with a header
``timestamp,household_id,channel,power_w``; ``timestamp`` unix seconds; absent minutes mean
no data. Rows must be sorted by timestamp within each household (out-of-order rows are
counted and skipped, never used to rewrite the past); bad rows are counted and skipped.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from anomaly.detector import Alert, DetectorParams, HouseholdDetector
from core.enums import Language

REQUIRED = ("timestamp", "household_id", "channel", "power_w")


@dataclass
class ReplayStats:
    rows: int = 0
    bad_rows: int = 0
    out_of_order: int = 0
    households: int = 0
    bad_examples: list[str] = field(default_factory=list)


class ReadingsError(ValueError):
    """The file cannot be replayed at all (missing columns)."""


def open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def read_minutes(path: Path, stats: ReplayStats) -> Iterator[tuple[str, int, dict[str, float]]]:
    """Yield ``(household_id, ts, {channel: power_w})`` per household-minute, in file order."""
    with open_text(path) as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None or any(col not in header for col in REQUIRED):
            raise ReadingsError(f"{path}: expected columns {', '.join(REQUIRED)}, got {header}")
        i_ts, i_hh, i_ch, i_pw = (header.index(c) for c in REQUIRED)
        current: tuple[str, int] | None = None
        readings: dict[str, float] = {}
        for n, row in enumerate(reader, 2):
            stats.rows += 1
            try:
                key = (row[i_hh], int(row[i_ts]))
                power = float(row[i_pw])
                channel = row[i_ch]
            except (ValueError, IndexError):
                stats.bad_rows += 1
                if len(stats.bad_examples) < 5:
                    stats.bad_examples.append(f"line {n}: {','.join(row)[:80]}")
                continue
            if key != current:
                if current is not None:
                    yield current[0], current[1], readings
                current, readings = key, {}
            readings[channel] = power
        if current is not None:
            yield current[0], current[1], readings


def replay(
    path: Path,
    *,
    timezone: str,
    params: DetectorParams | None = None,
    language: Language = Language.EN,
) -> tuple[list[Alert], ReplayStats]:
    stats = ReplayStats()
    detectors: dict[str, HouseholdDetector] = {}
    for household_id, ts, readings in read_minutes(path, stats):
        detector = detectors.get(household_id)
        if detector is None:
            detector = detectors[household_id] = HouseholdDetector(household_id, timezone, params, language)
        if detector.last_data_ts is not None and ts <= detector.last_data_ts:
            stats.out_of_order += 1
            continue
        detector.feed(ts, readings)
    stats.households = len(detectors)
    alerts = sorted((a for d in detectors.values() for a in d.alerts), key=lambda a: (a.at, a.household_id))
    return alerts, stats
