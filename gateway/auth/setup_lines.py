"""The exact lines staff paste into a device to give it its Anbu identity (pure; docs/devices.md).

Shown once, with the password, by ``anbu devices add|rotate`` and the dashboard. The broker address
is the one devices reach (``ANBU_MQTT_DEVICE_URL``), which is not always the gateway's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from core.enums import DeviceVendor
from core.settings import MqttEndpoint, Settings
from gateway.auth.acl import topic_base


@dataclass(frozen=True)
class SetupNote:
    """A note beside the lines: English ``text`` for the command line and API clients, and a
    ``code`` with ``params`` that the dashboard words from its catalogue (``identity.note.<code>``)."""

    code: str
    text: str
    params: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "text": self.text, "params": dict(self.params)}


@dataclass(frozen=True)
class SetupGuide:
    format: str  # "console" | "http" | "yaml" | "python": how the lines are entered
    where: str  # where to enter them (English; the dashboard words it per vendor from its catalogue)
    lines: tuple[str, ...]
    notes: tuple[SetupNote, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "format": self.format,
            "where": self.where,
            "lines": list(self.lines),
            "notes": [note.text for note in self.notes],
        }


def device_broker(settings: Settings) -> MqttEndpoint:
    """The broker as devices see it: ANBU_MQTT_DEVICE_URL, else ANBU_MQTT_URL's host (no credentials)."""
    endpoint = settings.mqtt_device_endpoint
    return MqttEndpoint(host=endpoint.host, port=endpoint.port, tls=endpoint.tls)


def setup_guide(
    vendor: DeviceVendor, external_id: str, username: str, password: str, settings: Settings
) -> SetupGuide:
    broker = device_broker(settings)
    match vendor:
        case DeviceVendor.TASMOTA:
            return _tasmota(external_id, username, password, broker, settings)
        case DeviceVendor.SHELLY_GEN1:
            return _shelly_gen1(external_id, username, password, broker, settings)
        case DeviceVendor.SHELLY:
            return _shelly(external_id, username, password, broker, settings)
        case DeviceVendor.ESPHOME:
            return _esphome(external_id, username, password, broker, settings)
        case DeviceVendor.ZIGBEE2MQTT:
            return _zigbee2mqtt(username, password, broker, settings)
        case DeviceVendor.NATIVE:
            return _native(external_id, username, password, broker, settings)
    raise ValueError(f"no setup guide for {vendor}")


def _tasmota(d: str, user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    commands = [
        f"MqttHost {broker.host}",
        f"MqttPort {broker.port}",
        f"MqttUser {user}",
        f"MqttPassword {password}",
        f"Topic {d}",
    ]
    if settings.mqtt_tasmota_fulltopic.rstrip("/") != "%prefix%/%topic%":
        commands.append(f"FullTopic {settings.mqtt_tasmota_fulltopic}")
    if settings.mqtt_tasmota_prefix != "tele":
        commands.append(f"Prefix3 {settings.mqtt_tasmota_prefix}")
    notes = [
        SetupNote(
            "tasmota_recommended",
            "TelePeriod 60; PowerDelta 110; SetOption52 1 are recommended too (docs/devices.md, section 2).",
        )
    ]
    if broker.tls:
        commands.append("SetOption103 1")
        notes.append(
            SetupNote(
                "tasmota_tls",
                "TLS needs a tasmota32 (ESP32) build; with a private CA use fingerprint checking: "
                "SetOption132 1 and MqttFingerprint (docs/devices.md, TLS).",
            )
        )
    return SetupGuide(
        "console", "Tasmota web console (Tools > Console)", ("Backlog " + "; ".join(commands),), tuple(notes)
    )


def _shelly_gen1(d: str, user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    query = "&".join(
        f"{key}={quote(value, safe=':')}"
        for key, value in (
            ("mqtt_enable", "true"),
            ("mqtt_server", f"{broker.host}:{broker.port}"),
            ("mqtt_user", user),
            ("mqtt_pass", password),
        )
    )
    prefix = f"{settings.mqtt_shelly_gen1_prefix}/{d}"
    notes = [
        SetupNote(
            "shelly_gen1_web_ui",
            f"Or in the web UI: Internet & Security > Advanced - Developer Settings, user {user}; keep the "
            f"default topic prefix ({prefix}).",
            (("user", user), ("prefix", prefix)),
        ),
    ]
    if broker.tls:
        notes.append(
            SetupNote(
                "shelly_gen1_no_tls",
                "Shelly Gen1 cannot connect over TLS: give it a plain listener on the LAN (docs/devices.md).",
            )
        )
    return SetupGuide(
        "http", "a browser on the device's network", (f"http://<device-ip>/settings?{query}",), tuple(notes)
    )


def _shelly(d: str, user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    config: dict[str, object] = {
        "enable": True,
        "server": f"{broker.host}:{broker.port}",
        "user": user,
        "pass": password,
        "topic_prefix": topic_base(DeviceVendor.SHELLY, d, settings),
        "rpc_ntf": True,
        "status_ntf": True,
    }
    if broker.tls:
        config["ssl_ca"] = "user_ca.pem"
    body = quote(json.dumps(config, separators=(",", ":")), safe=':,{}"')
    notes = (
        [
            SetupNote(
                "shelly_user_ca",
                "Upload your CA first (Shelly.PutUserCA) when the broker's certificate is from a private CA.",
            )
        ]
        if broker.tls
        else []
    )
    return SetupGuide(
        "http",
        "a browser on the device's network (then reboot the device)",
        (f"http://<device-ip>/rpc/MQTT.SetConfig?config={body}", "http://<device-ip>/rpc/Shelly.Reboot"),
        tuple(notes),
    )


def _esphome(d: str, user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    lines = [
        "mqtt:",
        f"  broker: {broker.host}",
        f"  port: {broker.port}",
        f"  username: {json.dumps(user)}",
        f"  password: {json.dumps(password)}",
        f"  topic_prefix: {json.dumps(topic_base(DeviceVendor.ESPHOME, d, settings))}",
        "  discovery: false",
    ]
    notes = []
    if broker.tls:
        lines.append("  certificate_authority: !secret anbu_mqtt_ca  # PEM of your CA (ESP32, esp-idf)")
        notes.append(
            SetupNote(
                "esphome_tls",
                "TLS needs an ESP32 node on the esp-idf framework; ESP8266 nodes cannot verify a CA.",
            )
        )
    return SetupGuide("yaml", "the node's YAML (then install it)", tuple(lines), tuple(notes))


def _zigbee2mqtt(user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    scheme = "mqtts" if broker.tls else "mqtt"
    lines = [
        "mqtt:",
        f"  base_topic: {settings.mqtt_zigbee2mqtt_prefix}",
        f"  server: {scheme}://{broker.host}:{broker.port}",
        f"  user: {json.dumps(user)}",
        f"  password: {json.dumps(password)}",
    ]
    if broker.tls:
        lines.append("  ca: /path/to/anbu-ca.pem")
    notes = (
        SetupNote(
            "zigbee2mqtt_bridge",
            "The bridge is one identity for every Zigbee device behind it: they appear as pending devices "
            "by friendly name; assign them as usual. One bridge per base topic (docs/security.md).",
        ),
    )
    return SetupGuide("yaml", "Zigbee2MQTT configuration.yaml (then restart it)", tuple(lines), notes)


def _native(d: str, user: str, password: str, broker: MqttEndpoint, settings: Settings) -> SetupGuide:
    root = settings.mqtt_native_prefix
    lines = [
        f"client.username_pw_set({json.dumps(user)}, {json.dumps(password)})",
        *(["client.tls_set('/path/to/anbu-ca.pem')"] if broker.tls else []),
        f"client.will_set({json.dumps(f'{root}/{d}/status')}, 'offline', qos=1, retain=True)",
        f"client.connect({json.dumps(broker.host)}, {broker.port})",
        f"# readings: {root}/{d}/reading (docs/devices.md, section 1)",
    ]
    return SetupGuide("python", "your firmware (paho-mqtt shown)", tuple(lines))
