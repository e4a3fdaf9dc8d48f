"""``anbu replay`` and ``anbu eval``: the detector over recorded readings (issue #4)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

from core.enums import Language


def add_detection_commands(sub: Any) -> None:
    p = sub.add_parser(
        "replay",
        help="run the live detection code causally over recorded readings; one JSON line per case",
        description="READINGS is CSV(.gz) with timestamp,household_id,channel,power_w (unix s, W).",
    )
    p.add_argument("readings", type=Path, help="READINGS.csv or READINGS.csv.gz")
    p.add_argument("--out", type=Path, required=True, help="ALERTS.jsonl to write")
    p.add_argument("--timezone", default=None, help="households' IANA zone (default ANBU_DEFAULT_TIMEZONE)")
    p.add_argument("--fallback-hours", type=float, default=None, help="fixed rule until a routine is learned")
    p.add_argument("--language", choices=[lang.value for lang in Language], default=Language.EN.value)
    p.set_defaults(handler=cmd_replay)

    p = sub.add_parser(
        "eval",
        help="inject incapacitation into real traces; compare the routine detector with fixed rules",
    )
    p.add_argument(
        "--data", type=Path, required=True, help="directory of <household>.csv.gz (+ households.csv)"
    )
    p.add_argument("--out", type=Path, default=Path("eval-report"), help="directory for report.md and plots")
    p.add_argument("--households", default=None, help="comma-separated subset (default: all)")
    p.set_defaults(handler=cmd_eval)


def cmd_replay(args: argparse.Namespace) -> int:
    from anomaly.detector import DetectorParams
    from anomaly.replay import ReadingsError, replay
    from core.settings import load_settings

    settings = load_settings()
    timezone = args.timezone or settings.default_timezone
    fallback = args.fallback_hours or settings.inactivity_default_hours
    if not args.readings.exists():
        print(f"error: {args.readings} does not exist", file=sys.stderr)
        return 2
    try:
        alerts, stats = replay(
            args.readings,
            timezone=timezone,
            params=DetectorParams(fallback_hours=fallback),
            language=Language(args.language),
        )
    except ReadingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with args.out.open("w", encoding="utf-8") as fh:
        for alert in alerts:
            fh.write(json.dumps(alert.to_json(), ensure_ascii=False) + "\n")
    print(
        f"{stats.households} household(s), {stats.rows} rows ({stats.bad_rows} bad, "
        f"{stats.out_of_order} out of order), {len(alerts)} case(s) -> {args.out}",
        file=sys.stderr,
    )
    for example in stats.bad_examples:
        print(f"  skipped {example}", file=sys.stderr)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from anomaly import evaluation

    if not args.data.is_dir():
        print(f"error: {args.data} is not a directory", file=sys.stderr)
        return 2
    households = args.households.split(",") if args.households else None
    ladder = evaluation.CHOSEN_LADDER
    results = evaluation.run(args.data, evaluation.default_methods(ladder), households)
    args.out.mkdir(parents=True, exist_ok=True)
    command = "anbu eval " + " ".join(shlex.quote(a) for a in sys.argv[2:])
    report = evaluation.markdown_report(results, ladder, command)
    plots = evaluation.write_plots(results, args.data, args.out)
    report += "".join(f"\n![{name}]({name})\n" for name in plots)
    (args.out / "report.md").write_text(report, encoding="utf-8")
    print(report)
    return 0
