"""``anbu classify``: what the reply classifier makes of replies, and how well it does.

* ``--jsonl FILE`` — one ``{"text", "intent", "risk", "confidence", "source"}`` line per input
  line of ``{"text": ...}`` (an error line for a broken one, so output line n answers input line n).
* ``--eval FILE [FILE ...]`` — the whole classifier on an evaluation set (``text,intent,risk,tags``
  CSV, language from the ``_ko`` / ``_en`` file name suffix): per intent, per language, self-harm
  risk, per tag. ``--split test`` (default) is the held-out part; ``dev`` is the part one may look
  at while changing the classifier (docs/calls.md, "Figures").
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def add_classify_command(sub: Any) -> None:
    p = sub.add_parser(
        "classify",
        help='classify resident replies (--jsonl FILE of {"text": ...} lines) or measure the classifier (--eval)',
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--jsonl", type=Path, help='a file of {"text": ...} lines')
    what.add_argument("--eval", type=Path, nargs="+", metavar="FILE", help="evaluation set CSV files")
    p.add_argument(
        "--split", choices=["test", "dev", "all"], default="test", help="part of the evaluation set"
    )
    p.add_argument("--json", action="store_true", help="--eval: the whole report as JSON")
    p.add_argument("--mistakes", action="store_true", help="--eval: list the replies it got wrong")
    p.set_defaults(handler=cmd_classify)


def cmd_classify(args: argparse.Namespace) -> int:
    if args.eval:
        return _evaluate(args)
    from anbu.cli import _jsonl_lines
    from notifier.classifier import as_row, classify

    try:
        for n, obj, error in _jsonl_lines(args.jsonl):
            text = None if obj is None else obj.get("text")
            if obj is None or not isinstance(text, str):
                message = error or f"line {n}: missing string field 'text'"
                print(json.dumps({"error": message}, ensure_ascii=False))
                continue
            print(json.dumps(as_row(text, classify(text)), ensure_ascii=False))
    except OSError as exc:
        print(f"anbu classify: cannot read {args.jsonl}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from notifier.classifier_eval import evaluate_file

    try:
        result = evaluate_file(args.eval, split=args.split)
    except OSError as exc:
        print(f"anbu classify: cannot read {exc.filename}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"anbu classify: {exc}", file=sys.stderr)
        return 1
    if not args.mistakes:
        result.pop("mistakes")
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=1))
        return 0
    for line in format_report(result):
        print(line)
    return 0


def format_report(result: dict[str, Any]) -> list[str]:
    """The evaluation report as the table docs/calls.md shows."""
    lines = [f"split {result['split']}: {result['n']} replies, accuracy {result['accuracy']:.3f}", ""]
    lines.append(f"{'':<10} {'intent':<10} {'precision':>9} {'recall':>7} {'support':>7}")
    blocks = [("all", result), *sorted(result["per_language"].items())]
    for name, block in blocks:
        for intent, s in block["per_intent"].items():
            lines.append(
                f"{name:<10} {intent:<10} {s['precision']:>9.3f} {s['recall']:>7.3f} {s['support']:>7}"
            )
        sh = block["self_harm"]
        lines.append(
            f"{name:<10} {'self_harm':<10} {sh['precision']:>9.3f} {sh['recall']:>7.3f} {sh['support']:>7}"
            f"   (as emergency: {sh['emergency_recall']:.3f})"
        )
    lines.append("")
    lines.append(
        "per tag (correct / n): "
        + ", ".join(f"{t} {v['correct']}/{v['n']}" for t, v in result["per_tag"].items())
    )
    for m in result.get("mistakes", []):
        lines.append(
            f"  [{m['language']}] {m['text']!r}: expected {m['expected']}, got {m['got']} ({m['source']})"
        )
    return lines
