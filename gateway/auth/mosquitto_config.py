"""``anbu broker mosquitto-config``: a working Mosquitto 2.0 configuration for a fresh broker.

Writes ``mosquitto.conf``, the initial ``dynamic-security.json`` (the admin Anbu uses to change
identities live, the gateway, and every active device identity, with the hashes Anbu stores) and
``anbu.env`` (the settings Anbu needs to use it). The configuration:

- refuses anonymous clients, and lets the dynamic-security plugin decide everything else
  (deny by default; docs/security.md, section 1);
- ``use_username_as_clientid true`` on every listener: a client's id is its username, so nobody
  can take another's session (the gateway's included) by choosing its client id;
- persistence with ``autosave_on_changes true``: the sessions and the messages queued for them are
  written after every ``autosave_interval`` changes, so a broker crash (SIGKILL, power cut) loses at
  most the readings of the last interval (issue 14.7). Mosquitto 2.0 rewrites its whole database
  on each save, so a save costs in proportion to the backlog: saving after every message took
  2.1 ms of broker CPU a message with 10,000 queued (``benchmarks/no_loss.py``), a broker that
  falls behind a district's traffic in minutes of gateway outage. The interval is therefore about
  one second of the fleet's traffic (:func:`autosave_every`): 1 (nothing lost) up to 60 plugs;
- ``max_queued_messages`` sized for six hours of the fleet publishing while the gateway is away.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from core.settings import Settings
from gateway.auth.dynsec import Identity, initial_config
from gateway.auth.passwords import generate_password, hash_password

DEFAULT_PLUGIN = Path("/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so")
MAX_QUEUED_MESSAGES = 200_000  # the least: 500 plugs at one message a minute, more than six hours
QUEUE_HOURS = 6  # how long the gateway may be away before plugs' messages are dropped
PLUG_MESSAGES_PER_MIN = 1.0  # a plug's report rate the sizing assumes (Tasmota TelePeriod 60)
ADMIN_USERNAME = "anbu-admin"
GATEWAY_USERNAME = "anbu-gateway"
FILES = ("mosquitto.conf", "dynamic-security.json", "anbu.env")


@dataclass(frozen=True)
class Listener:
    host: str
    port: int
    certfile: Path | None = None  # TLS when set
    keyfile: Path | None = None
    client_cafile: Path | None = None  # require client certificates signed by this CA

    @property
    def tls(self) -> bool:
        return self.certfile is not None


def autosave_every(plugs: int) -> int:
    """Changes between two saves: about one second of *plugs*' traffic, at least 1.

    What a broker crash can lose is what arrived since the last save; what a save costs grows with
    the backlog (module docstring). One second of readings bounds the first and divides the second.
    """
    return max(1, math.ceil(plugs * PLUG_MESSAGES_PER_MIN / 60))


def queue_limit(plugs: int) -> int:
    """``max_queued_messages``: ``QUEUE_HOURS`` of *plugs*' traffic, never below the old 200,000."""
    return max(MAX_QUEUED_MESSAGES, math.ceil(plugs * PLUG_MESSAGES_PER_MIN * 60 * QUEUE_HOURS))


def durability_lines(data_dir: Path, every: int = 1) -> list[str]:
    """Persistence that survives a broker crash: saved every *every* changes, not every 30 min.

    One place for it: the generated configuration and ``benchmarks/no_loss.py`` (which measures
    what it costs and what a crash loses) use the same lines.
    """
    if every < 1:
        raise ValueError("autosave_interval must be at least 1")
    return [
        "persistence true",
        f"persistence_location {data_dir}/",
        "autosave_on_changes true",
        f"autosave_interval {every}",
    ]


def mosquitto_conf(
    *,
    directory: Path,
    listeners: Sequence[Listener],
    plugin: Path = DEFAULT_PLUGIN,
    user: str | None = None,
    plugs: int = 1,
) -> str:
    """The configuration text, its persistence and queue sized for a fleet of *plugs*."""
    directory = directory.resolve()
    lines = [
        "# Written by `anbu broker mosquitto-config` (docs/security.md, docs/devices.md). Mosquitto 2.0.",
        *([f"user {user}"] if user else []),
        "per_listener_settings false",
        "allow_anonymous false",
        f"plugin {plugin}",
        f"plugin_opt_config_file {directory / 'dynamic-security.json'}",
        "",
        "# A crash must not lose the gateway's session or what is queued for it (issue 14.7).",
        f"# Sized for {plugs} plugs (anbu broker mosquitto-config --plugs): a save about every second",
        f"# of their traffic, {QUEUE_HOURS} h of it queued while the gateway is away.",
        *durability_lines(directory / "data", autosave_every(plugs)),
        f"max_queued_messages {queue_limit(plugs)}",
        f"log_dest file {directory / 'mosquitto.log'}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "connection_messages true",
    ]
    for listener in listeners:
        lines += ["", f"listener {listener.port} {listener.host}", "use_username_as_clientid true"]
        if listener.tls:
            lines += [f"certfile {listener.certfile}", f"keyfile {listener.keyfile}"]
            if listener.client_cafile is not None:
                lines += [f"cafile {listener.client_cafile}", "require_certificate true"]
    return "\n".join(lines) + "\n"


def write_private(path: Path, text: str) -> None:
    """Create *path* readable by its owner only (it holds password hashes or passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@dataclass(frozen=True)
class Generated:
    files: tuple[Path, ...]
    env: dict[str, str]  # ANBU_* settings for Anbu (the first gateway's)
    other_gateways: tuple[tuple[str, str], ...]  # (ANBU_MQTT_URL, ANBU_MQTT_CLIENT_ID) of the others
    plugs: int  # the fleet persistence and queues are sized for


def generate(
    out: Path,
    settings: Settings,
    devices: Sequence[Identity],
    listeners: Sequence[Listener],
    *,
    host: str = "127.0.0.1",
    device_host: str | None = None,
    gateways: int = 1,
    plugin: Path = DEFAULT_PLUGIN,
    user: str | None = None,
    plugs: int | None = None,
) -> Generated:
    """Write the three files (and ``data/``) into *out*; new admin and gateway passwords each time.

    *plugs* is the fleet the broker is sized for (default: the device identities given).
    """
    if not listeners:
        raise ValueError("a broker needs at least one listener")
    out = out.resolve()
    fleet = max(1, len(devices) if plugs is None else plugs)
    admin_password = generate_password()
    # One password for the whole gateway group: with use_username_as_clientid a member's session
    # is reachable only by logging in as that member, which a live member must do to rescue a dead
    # one's session (gateway/rescue.py). Every member already reads every device's topics, so a
    # shared password gives none of them more than it has.
    group_password = generate_password()
    accounts = [
        (GATEWAY_USERNAME if n == 1 else f"{GATEWAY_USERNAME}-{n}", group_password)
        for n in range(1, gateways + 1)
    ]
    config = initial_config(
        settings,
        admin=(ADMIN_USERNAME, hash_password(admin_password)),
        gateways=[(name, hash_password(password)) for name, password in accounts],
        devices=devices,
    )
    own = next((item for item in listeners if not item.tls), listeners[0])  # Anbu prefers plain (loopback)
    scheme = "mqtts" if own.tls else "mqtt"
    base = f"{host}:{own.port}"
    device = listeners[-1]  # the TLS listener when there is one
    urls = [(f"{scheme}://{name}:{password}@{base}", name) for name, password in accounts]
    env = {
        "ANBU_MQTT_URL": urls[0][0],
        "ANBU_MQTT_CLIENT_ID": urls[0][1],
        "ANBU_MQTT_DYNSEC_URL": f"{scheme}://{ADMIN_USERNAME}:{admin_password}@{base}",
        "ANBU_MQTT_DEVICE_URL": f"{'mqtts' if device.tls else 'mqtt'}://{device_host or host}:{device.port}",
    }
    (out / "data").mkdir(parents=True, exist_ok=True)
    (out / FILES[0]).write_text(
        mosquitto_conf(
            directory=out,
            listeners=listeners,
            plugin=plugin,
            user=user,
            plugs=fleet,
        )
    )
    write_private(out / FILES[1], json.dumps(config, indent=2) + "\n")
    lines = [
        "# Anbu's settings for this Mosquitto (anbu broker mosquitto-config). Private: it holds passwords."
    ]
    lines += [f"{key}={value}" for key, value in env.items()]
    lines += [f"# another gateway: ANBU_MQTT_URL={url} ANBU_MQTT_CLIENT_ID={name}" for url, name in urls[1:]]
    write_private(out / FILES[2], "\n".join(lines) + "\n")
    return Generated(tuple(out / name for name in FILES), env, tuple(urls[1:]), fleet)
