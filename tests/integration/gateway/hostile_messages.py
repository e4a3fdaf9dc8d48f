"""A reproducible stream of hostile MQTT messages (and good ones) for the gateway's robustness test."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    good: bool
    device_key: str | None  # "vendor:id" a rejected message should be counted against, if any


def _deep(levels: int) -> bytes:
    return ("[" * levels + "1" + "]" * levels).encode()


def hostile_stream(
    roots: dict[str, str], *, bad: int, good: int, devices: int, start: datetime, seed: int = 20260302
) -> list[Message]:
    """``bad`` rejected-for-sure messages interleaved with ``good`` native readings (distinct timestamps).

    ``roots`` holds the test's prefixes (keys like ``mqtt_native_prefix``, see mqtt_helpers.isolated_prefixes).
    """
    rng = random.Random(seed)
    native, tele = roots["mqtt_native_prefix"], roots["mqtt_tasmota_prefix"]
    gen1, z2m, esp = (
        roots["mqtt_shelly_gen1_prefix"],
        roots["mqtt_zigbee2mqtt_prefix"],
        roots["mqtt_esphome_prefix"],
    )
    names = [f"bad{n}" for n in range(devices)]

    def reading(**body: object) -> bytes:
        return json.dumps({"v": 1, **body}, allow_nan=True).encode()

    makers: list[tuple[str, Callable[[], bytes], str | None]] = [
        # (topic template, payload factory, vendor of the named device or None)
        (f"{native}/{{d}}/reading", lambda: rng.randbytes(rng.randint(1, 200)), "native"),
        (f"{native}/{{d}}/reading", lambda: b"\xff\xfe" + rng.randbytes(10), "native"),
        (f"{native}/{{d}}/reading", lambda: _deep(rng.randint(9, 5000)), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=float("nan")), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=float("inf")), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=-rng.uniform(0.1, 1e6)), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=rng.uniform(20_001, 1e12)), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=str(rng.randint(0, 100))), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=True), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(power_w=5, ts=1772409600000), "native"),
        (f"{native}/{{d}}/reading", lambda: json.dumps({"v": 2, "power_w": 5}).encode(), "native"),
        (f"{native}/{{d}}/reading", lambda: reading(energy_wh=None, power_w=None), "native"),
        (f"{native}/{{d}}/status", lambda: rng.choice([b"maybe", b"", b"ONLINE!"]), "native"),
        (f"{tele}/{{d}}/SENSOR", lambda: json.dumps({"ENERGY": {"Power": -3}}).encode(), "tasmota"),
        (f"{tele}/{{d}}/SENSOR", lambda: json.dumps({"ENERGY": {"Power": [1, "x"]}}).encode(), "tasmota"),
        (f"{tele}/{{d}}/LWT", lambda: b"Sleeping", "tasmota"),
        (f"{gen1}/{{d}}/relay/0/power", lambda: rng.choice([b"nan", b"-1", b"1e9", b"watts"]), "shelly_gen1"),
        (f"{gen1}/{{d}}/relay/x7/power", lambda: b"5", None),  # unknown topic under the Gen1 root
        (
            f"{z2m}/{{d}}",
            lambda: json.dumps({"power": rng.choice(["x", -5, 1e9, [1]])}).encode(),
            "zigbee2mqtt",
        ),
        (f"{z2m}/{{d}}/availability", lambda: b'{"state": 3}', "zigbee2mqtt"),
        (f"{esp}/{{d}}/sensor/power/state", lambda: rng.choice([b"inf", b"-4", b"0x10"]), "esphome"),
        (f"{z2m}//{{d}}", lambda: b"{}", None),  # an empty name level: invalid device id, no device
    ]
    bad_messages: list[Message] = []
    for n in range(bad):
        template, payload, vendor = makers[n % len(makers)]
        device = rng.choice(names)
        bad_messages.append(
            Message(template.format(d=device), payload(), False, f"{vendor}:{device}" if vendor else None)
        )
    # A few payloads over the size limit (64 KiB by default), on a device's topic.
    for n in range(0, bad, max(1, bad // 20)):
        device = names[n % len(names)]
        bad_messages[n] = Message(
            f"{native}/{device}/reading", b"{" + b" " * 70_000 + b"}", False, f"native:{device}"
        )

    good_messages = [
        Message(
            f"{native}/good{n % devices}/reading",
            reading(ts=(start + timedelta(seconds=n)).isoformat(), power_w=float(n % 5) * 100),
            True,
            None,
        )
        for n in range(good)
    ]
    merged = bad_messages + good_messages
    rng.shuffle(merged)
    return merged
