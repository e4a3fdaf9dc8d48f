"""The hand-written Prometheus text exposition is well-formed."""

from __future__ import annotations

from api.prometheus import Metric, render


def test_render_writes_help_type_and_samples() -> None:
    text = render(
        [
            Metric("anbu_x_total", "counter", "things", [({}, 3.0)]),
            Metric("anbu_devices", "gauge", "devices", [({"state": 'on"line', "status": "a"}, 2.5)]),
        ]
    )
    assert text.splitlines() == [
        "# HELP anbu_x_total things",
        "# TYPE anbu_x_total counter",
        "anbu_x_total 3",
        "# HELP anbu_devices devices",
        "# TYPE anbu_devices gauge",
        'anbu_devices{state="on\\"line",status="a"} 2.5',
    ]
    assert text.endswith("\n")


def test_special_values() -> None:
    text = render([Metric("m", "gauge", "h", [({}, float("nan")), ({"a": "b"}, float("inf"))])])
    assert "m NaN" in text and 'm{a="b"} +Inf' in text
