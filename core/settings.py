"""Runtime configuration: every knob is an ``ANBU_*`` environment variable (or ``.env`` line).

Settings are built by :func:`load_settings` at a composition root, never at import time.
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from core.enums import DeviceVendor

DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"
DEV_TWILIO_ACCOUNT_SID = "AC" + "0" * 31 + "1"
# Published in this repository (older versions checked webhook signatures against it when no token
# was set): refused outside dev, and never used to check anything.
DEV_TWILIO_AUTH_TOKEN = "dev-insecure-twilio-token"
NOBODY_CALLED = "nobody can be called: ANBU_TRANSPORT=console logs calls and texts instead of sending them"
TWILIO_CREDENTIALS = ("ANBU_TWILIO_ACCOUNT_SID", "ANBU_TWILIO_AUTH_TOKEN", "ANBU_TWILIO_FROM_NUMBER")


# A secret must carry at least 32 bytes of entropy (the HS256 key it becomes is 32 bytes).
MIN_SECRET_BITS = 256
SECRET_HINT = 'e.g. python3 -c "import secrets; print(secrets.token_urlsafe(48))"'
# Character classes a brute-force guesser would try, with their sizes (printable ASCII).
_CHARACTER_CLASSES: tuple[tuple[str, int], ...] = (("lower", 26), ("upper", 26), ("digit", 10), ("other", 33))


def _character_class(char: str) -> str:
    if char.isascii() and char.islower():
        return "lower"
    if char.isascii() and char.isupper():
        return "upper"
    if char.isascii() and char.isdigit():
        return "digit"
    return "other"


def _shortest_period(value: str) -> str:
    """The unit a periodic string repeats ("abcabcab" → "abc"); the string itself otherwise."""
    for period in range(1, len(value) // 2 + 1):
        if value[period:] == value[:-period]:
            return value[:period]
    return value


def secret_weakness(value: str) -> str | None:
    """Why *value* cannot be a secret (fewer than 256 bits as a guesser would count), or None.

    The estimate is the brute-force one: length × log2(size of the character classes used), taken
    over the string's repeating unit (a repeated letter or pattern adds nothing), and refused
    outright when a few characters make up most of it (a low-variety key).
    """
    unit = _shortest_period(value)
    if len(set(unit)) < 8 or max(unit.count(c) for c in set(unit)) > max(2, len(unit) // 4):
        return "it repeats a few characters"
    used = {_character_class(c) for c in unit}
    pool = sum(size for name, size in _CHARACTER_CLASSES if name in used)
    bits = len(unit) * math.log2(pool)
    if bits < MIN_SECRET_BITS:
        return f"it carries about {int(bits)} bits of entropy, fewer than {MIN_SECRET_BITS}"
    return None


class InsecureSettingsError(RuntimeError):
    """Raised when a non-dev deployment still uses a development secret, or a role would start
    in a state that silently fails the people it watches (e.g. nobody can be called)."""


# Raw readings: since the hourly summaries (issue 15.3) the detector reads them only for the hours
# not yet rolled up and for the "looks away" suggestion's 8.5 days (anomaly.patterns); the roll-up
# also needs them to summarise a late backlog. Two weeks leave room for both.
READINGS_MIN_DAYS = 14
# What the detector and the household page derive from readings (switch-ons, the house level's
# half hours, hourly coverage): the detector's longest look back is 44 days (anomaly.patterns: 42
# days of daily use + 2) and the 30-day heatmap's usual week needs 58; shorter would starve them.
SUMMARIES_MIN_DAYS = 60
# Korea's standard of safety measures for personal information (개인정보의 안전성 확보조치 기준,
# art. 8) requires access records to be kept at least 2 years when sensitive (health) data is
# processed: the audit log may not be pruned sooner.
AUDIT_MIN_DAYS = 730

# A crisis line as it is said and dialled: a short code (109) or an E.164 number.
CRISIS_NUMBER = r"^\+?[0-9]{3,15}$"

# Units an ESPHome sensor may be configured with (W/kW = power, Wh/kWh = cumulative energy).
ESPHOME_UNITS = ("W", "kW", "Wh", "kWh")

# Tasmota's FullTopic tokens (https://tasmota.github.io/docs/MQTT/#mqtt-topic-definition). %prefix%
# and %topic% are required: the prefix tells telemetry from status, the topic names the device.
TASMOTA_FULLTOPIC_TOKENS = ("%prefix%", "%topic%", "%hostname%", "%id%")
_TOPIC_LEVEL_FORBIDDEN = re.compile(r"[+#%\s\x00-\x1f\x7f]")


def tasmota_fulltopic_levels(layout: str) -> tuple[str, ...]:
    """The topic levels of a Tasmota FullTopic such as ``%prefix%/%topic%/``, or ValueError saying why.

    Each token must be a whole level (``home-%topic%`` cannot be subscribed to with ``+``);
    other levels are literal. The trailing ``/`` Tasmota shows is optional.
    """
    body = layout.strip()
    body = body[:-1] if body.endswith("/") else body
    levels = tuple(body.split("/"))
    problems = []
    for level in levels:
        if level in TASMOTA_FULLTOPIC_TOKENS:
            continue
        if not level:
            problems.append("an empty topic level")
        elif "%" in level and any(token.strip("%") in level for token in TASMOTA_FULLTOPIC_TOKENS):
            problems.append(f"{level!r}: a token must be a whole topic level")
        elif _TOPIC_LEVEL_FORBIDDEN.search(level):
            problems.append(f"{level!r}: no %, +, # or whitespace in a literal level")
    for token in ("%prefix%", "%topic%"):
        if levels.count(token) != 1:
            problems.append(f"{token} must appear exactly once")
    for token in ("%hostname%", "%id%"):
        if levels.count(token) > 1:
            problems.append(f"{token} may appear at most once")
    if problems:
        raise ValueError(f"ANBU_MQTT_TASMOTA_FULLTOPIC {layout!r}: " + "; ".join(problems))
    return levels


class MqttEndpoint(BaseModel):
    """A parsed ``mqtt://`` / ``mqtts://`` URL."""

    host: str
    port: int
    tls: bool
    username: str | None = None
    password: str | None = None


def parse_mqtt_url(url: str) -> MqttEndpoint:
    parts = urlsplit(url)
    if parts.scheme not in {"mqtt", "mqtts"}:
        raise ValueError(f"MQTT URL must start with mqtt:// or mqtts://, got {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT URL has no host: {url!r}")
    tls = parts.scheme == "mqtts"
    return MqttEndpoint(
        host=parts.hostname,
        port=parts.port or (8883 if tls else 1883),
        tls=tls,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


class LogSettings(BaseSettings):
    """What logging needs, read before any command runs (and before the checks of :class:`Settings`)."""

    model_config = SettingsConfigDict(
        env_prefix="ANBU_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    log_format: Literal["text", "json"] = Field(
        "text", description="text = one readable line per record; json = one JSON object per line"
    )


class Settings(LogSettings):
    env: Literal["dev", "test", "prod"] = Field(
        "dev", description="dev allows demo secrets and the demo login"
    )
    data_dir: Path = Field(Path("var"), description="where the default SQLite file and logs live")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite:///<data_dir>/anbu.db (WAL mode)"
    )
    migrate_on_start: bool = Field(
        True,
        description="every role applies pending migrations at start (behind a database lock); "
        "false = only `anbu db upgrade` does",
    )
    secret_key: str = Field(DEV_SECRET_KEY, description="signs access tokens and status links")
    access_token_minutes: int = Field(60, ge=1, le=24 * 60, description="API token lifetime")
    metrics_token: str | None = Field(
        None,
        description="bearer token Prometheus sends for /metrics; outside dev, /metrics is off without it",
    )
    openapi: bool | None = Field(
        None, description="serve /api/v1/openapi.json; default: yes, except with ANBU_ENV=prod"
    )
    default_timezone: str = Field("Asia/Seoul", description="timezone for new households")

    http_host: str = Field("127.0.0.1", description="API/dashboard bind address")
    http_port: int = Field(8000, ge=1, le=65535, description="API/dashboard port")
    trusted_proxies: str = Field(
        "",
        description="comma-separated addresses or networks of reverse proxies whose X-Forwarded-For "
        "and X-Forwarded-Proto are believed; empty = none (the connecting address is the client)",
    )
    public_base_url: str | None = Field(
        None, description="URL Twilio uses to reach our webhooks; default http://<http_host>:<http_port>"
    )

    health_host: str = Field(
        "127.0.0.1", description="bind address of /healthz and /readyz when the gateway or worker runs alone"
    )
    health_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="their port; default 8001 for anbu gateway, 8002 for anbu worker; 0 = no health server",
    )

    mqtt_url: str | None = Field(None, description="external broker; unset = embedded broker")
    mqtt_tls_ca_file: Path | None = Field(
        None,
        description="CA certificate(s) (PEM) that signed the broker's, for mqtts://; default: the system's",
    )
    mqtt_tls_cert_file: Path | None = Field(
        None, description="client certificate (PEM) when the broker asks for one (require_certificate)"
    )
    mqtt_tls_key_file: Path | None = Field(None, description="the client certificate's private key (PEM)")
    mqtt_dynsec_url: str | None = Field(
        None,
        description="Mosquitto dynamic-security admin account mqtt[s]://anbu-admin:PASS@host:port; "
        "when set, device adds, rotations and revocations are applied to the broker at once",
    )
    mqtt_hook_secret: str | None = Field(
        None,
        min_length=16,
        description="shared secret the broker sends (X-Anbu-Hook-Secret) to the HTTP auth hooks "
        "/api/v1/mqtt/authn and /authz; unset = the hooks are off",
    )
    mqtt_device_url: str | None = Field(
        None,
        description="the broker as devices reach it (mqtt[s]://host:port), for their setup lines; "
        "default: ANBU_MQTT_URL's host and port",
    )
    mqtt_embedded_port: int = Field(
        11883, ge=1, le=65535, description="port of the embedded broker (loopback)"
    )
    mqtt_client_id: str = Field("anbu-gateway", description="stable client id of the gateway session")
    mqtt_share_group: str | None = Field(None, description="subscribe via $share/<group>/... for scale-out")
    mqtt_group_rescue_after_s: float = Field(
        30.0,
        ge=15.0,  # 3 status intervals: a live member writes its row every 5 s
        description="a share-group member whose status row stood still this long is dead: another "
        "member drains and retires its broker session (gateway/rescue.py)",
    )
    mqtt_session_expiry_s: int = Field(3600, ge=0, description="broker keeps our session this long offline")
    mqtt_protocol: Literal["auto", "5", "3.1.1"] = Field(
        "auto",
        description="MQTT version of the gateway: auto = 5, falling back to 3.1.1 when the broker refuses "
        "or does not answer it (the embedded broker: 3.1.1); 5 or 3.1.1 = that one only",
    )
    mqtt_auth: Literal["required", "off"] | None = Field(
        None,
        description="device authentication and topic ACLs on the embedded broker and the HTTP hooks; "
        "default required, off with ANBU_ENV=dev",
    )
    mqtt_max_payload_bytes: int = Field(65536, ge=64, description="larger payloads are rejected")
    pending_devices_max: int = Field(
        1000,
        ge=0,
        description="at most this many unknown devices await assignment; past it an unknown device's "
        "messages are rejected with the reason and no device row is made (gateway/flood.py)",
    )
    device_rate_per_min: float = Field(
        60.0,
        gt=0,
        description="messages a minute one device may send, sustained; more are rejected with the reason",
    )
    device_rate_burst: int = Field(
        600,
        ge=1,
        description="messages one device may send at once (a backlog after an outage) before its rate counts",
    )
    mqtt_native_prefix: str = Field("anbu", description="topic prefix of Anbu's native JSON format")
    mqtt_tasmota_prefix: str = Field("tele", description="Tasmota telemetry prefix (%prefix%)")
    mqtt_tasmota_fulltopic: str = Field(
        "%prefix%/%topic%/", description="the plugs' Tasmota FullTopic layout (%prefix%, %topic% required)"
    )
    mqtt_vendors: str = Field(
        "native,tasmota,shelly_gen1,shelly,zigbee2mqtt,esphome",
        description="comma-separated device formats the gateway subscribes to and decodes",
    )
    mqtt_shelly_gen1_prefix: str = Field("shellies", description="Shelly Gen1 topic root")
    mqtt_shelly_prefix: str = Field(
        "", description="Shelly Gen2+/Plus root before the device's topic prefix; empty = none"
    )
    mqtt_zigbee2mqtt_prefix: str = Field("zigbee2mqtt", description="Zigbee2MQTT base topic")
    mqtt_esphome_prefix: str = Field(
        "", description="ESPHome root before the node's topic prefix; empty = none"
    )
    mqtt_esphome_units: str = Field(
        "power=W,energy=Wh,total_energy=kWh",
        description="ESPHome sensor units: comma-separated [node/]object_id=W|kW|Wh|kWh",
    )

    transport: Literal["auto", "console", "twilio"] = Field(
        "auto",
        description="auto = twilio when credentials are set, else console (dev only); "
        "console outside dev must be chosen explicitly",
    )
    twilio_account_sid: str | None = Field(None, description="Twilio account SID")
    twilio_auth_token: str | None = Field(
        None, description="Twilio auth token (also checks webhook signatures)"
    )
    twilio_from_number: str | None = Field(None, description="caller id / SMS sender, E.164")
    twilio_api_base: str | None = Field(None, description="point the twilio library elsewhere (the emulator)")
    twilio_calls_per_second: float = Field(
        1.0, gt=0, le=1000, description="outbound calls per second per Twilio account, all workers together"
    )
    # The 24-hour suicide-prevention line a resident at risk is told of and connected to
    # (notifier/crisis.py, docs/calls.md "Self-harm protocol"), per call language.
    crisis_line_ko: str = Field(
        "109", pattern=CRISIS_NUMBER, description="suicide-prevention line said to Korean-speaking residents"
    )
    crisis_line_en: str = Field(
        "109", pattern=CRISIS_NUMBER, description="suicide-prevention line said to English-speaking residents"
    )
    crisis_dial_ko: str | None = Field(
        None,
        pattern=CRISIS_NUMBER,
        description="number <Dial> calls to connect a Korean-speaking resident to the line, when the "
        "spoken one cannot be dialled from the Twilio number (a short code); default: the line itself",
    )
    crisis_dial_en: str | None = Field(
        None, pattern=CRISIS_NUMBER, description="as crisis_dial_ko, for English-speaking residents"
    )
    inbound_message_retention_days: int = Field(
        30, ge=1, description="days an inbound text's MessageSid is kept to spot Twilio's repeated deliveries"
    )
    # Retention of personal data (notifier/retention.py, docs/privacy.md says why each default).
    retention_readings_days: int = Field(
        14,
        ge=READINGS_MIN_DAYS,
        description="days raw plug readings are kept (the detector reads hourly summaries; "
        "raw readings only for the last hours and the 'looks away' suggestion's 8.5 days)",
    )
    retention_summaries_days: int = Field(
        400,
        ge=SUMMARIES_MIN_DAYS,
        description="days the switch-ons, the house level's half hours and the hourly coverage "
        "derived from readings are kept (the detector reads 44 days; the day view looks back 400)",
    )
    retention_transcripts_days: int = Field(
        90,
        ge=1,
        description="days after a case closes (or after a call without a case) that what the resident "
        "said is kept: call transcripts, speech excerpts, SMS reply texts, check-in answers' words",
    )
    retention_messages_days: int = Field(
        90,
        ge=1,
        description="days after a case closes (or after sending) that the texts we sent and the "
        "numbers calls and texts went to are kept",
    )
    retention_rejected_days: int = Field(
        30, ge=1, description="days an unusable MQTT message's topic and payload excerpt are kept"
    )
    retention_receipts_days: int = Field(
        7,
        ge=1,
        description="days a gateway message receipt is kept (never less than twice the broker session expiry)",
    )
    retention_batch_rows: int = Field(
        1000, ge=10, le=10_000, description="rows per retention batch (one short transaction each)"
    )
    retention_max_batches: int = Field(
        50,
        ge=1,
        description="batches per kind and retention tick (every 5 min): 600,000 rows an hour, "
        "enough for ~2,500 households' readings at 3 plugs a minute",
    )
    retention_audit_days: int = Field(
        1095,
        ge=AUDIT_MIN_DAYS,
        description="days audit log entries are kept (PIPA: access records at least 2 years)",
    )

    sweep_interval_s: float = Field(5.0, gt=0, description="inactivity sweeper tick")
    escalation_interval_s: float = Field(2.0, gt=0, description="escalation engine tick")
    outbox_interval_s: float = Field(1.0, gt=0, description="outbox sender tick")
    connectivity_interval_s: float = Field(30.0, gt=0, description="connectivity sweep tick")
    offline_silence_factor: float = Field(
        3.0, ge=1.0, description="a device is offline after this many usual reporting intervals of silence"
    )
    offline_min_silence_s: float = Field(
        600.0, gt=0, description="never call a device silent sooner than this"
    )
    offline_default_interval_s: float = Field(
        300.0,
        gt=0,
        description="assumed reporting interval until one is learned (Tasmota TelePeriod default)",
    )
    gateway_queue_max: int = Field(
        10_000,
        ge=1,
        description="at most this many received messages wait to be stored; past it the gateway stops "
        "reading from the broker until the store catches up (backpressure: nothing is dropped)",
    )
    gateway_deaf_min_s: float = Field(
        60.0,
        gt=0,
        description="never call the gateway deaf (hearing no plug at all) sooner than this (gateway/hearing.py)",
    )
    inactivity_default_hours: float = Field(
        12.0, gt=0, description="first-cut rule: quiet hours before an inactivity case"
    )
    routine_refit_spread_h: float = Field(
        4.0,
        ge=0,
        le=20,
        description="nightly routine refits are spread over this many hours after each household's "
        "local midnight (a fixed per-household offset; 0 = all at midnight)",
    )
    routine_refit_budget_s: float = Field(
        45.0, gt=0, description="each routine tick (every minute) refits for at most about this long"
    )

    @field_validator("default_timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown timezone {value!r}") from exc
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        entries = [part.strip() for part in value.split(",") if part.strip()]
        for entry in entries:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(
                    f"ANBU_TRUSTED_PROXIES: {entry!r} is not an IP address or network "
                    "(name each proxy; '*' would let any client forge its address)"
                ) from None
        return ",".join(entries)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [entry for entry in self.trusted_proxies.split(",") if entry]

    @field_validator("mqtt_shelly_prefix", "mqtt_esphome_prefix", "mqtt_shelly_gen1_prefix")
    @classmethod
    def _topic_root(cls, value: str) -> str:
        if "+" in value or "#" in value:
            raise ValueError(f"a topic prefix cannot contain MQTT wildcards: {value!r}")
        return value.strip("/")

    @field_validator("mqtt_vendors")
    @classmethod
    def _known_vendors(cls, value: str) -> str:
        names = [part.strip() for part in value.split(",") if part.strip()]
        known = [vendor.value for vendor in DeviceVendor]
        unknown = [name for name in names if name not in known]
        if unknown or not names:
            raise ValueError(
                f"ANBU_MQTT_VENDORS: unknown {unknown or 'empty list'}; choose from {', '.join(known)}"
            )
        return ",".join(names)

    @property
    def enabled_vendors(self) -> frozenset[DeviceVendor]:
        return frozenset(DeviceVendor(name) for name in self.mqtt_vendors.split(","))

    @field_validator("mqtt_tasmota_fulltopic")
    @classmethod
    def _tasmota_fulltopic(cls, value: str) -> str:
        tasmota_fulltopic_levels(value)
        return value

    @property
    def tasmota_fulltopic_levels(self) -> tuple[str, ...]:
        return tasmota_fulltopic_levels(self.mqtt_tasmota_fulltopic)

    @field_validator("mqtt_esphome_units")
    @classmethod
    def _esphome_units(cls, value: str) -> str:
        for entry in filter(None, (part.strip() for part in value.split(","))):
            key, sep, unit = entry.partition("=")
            if not sep or not key.strip() or unit.strip() not in ESPHOME_UNITS:
                raise ValueError(
                    f"ESPHome unit entry {entry!r} must look like [node/]object_id=unit, "
                    f"unit one of {', '.join(ESPHOME_UNITS)}"
                )
        return value

    @field_validator("mqtt_url", "mqtt_device_url", "mqtt_dynsec_url")
    @classmethod
    def _valid_mqtt_url(cls, value: str | None) -> str | None:
        if value:
            parse_mqtt_url(value)
        return value or None

    @model_validator(mode="after")
    def _refuse_dev_secrets(self) -> Settings:
        if self.env == "dev":
            return self
        problems = []
        if self.secret_key == DEV_SECRET_KEY:
            problems.append(f"ANBU_SECRET_KEY must be set to a random value ({SECRET_HINT})")
        elif weakness := secret_weakness(self.secret_key):
            problems.append(f"ANBU_SECRET_KEY is too weak: {weakness} ({SECRET_HINT})")
        if self.metrics_token is not None and (weakness := secret_weakness(self.metrics_token)):
            problems.append(f"ANBU_METRICS_TOKEN is too weak: {weakness} ({SECRET_HINT})")
        if self.twilio_auth_token == DEV_TWILIO_AUTH_TOKEN:
            problems.append("ANBU_TWILIO_AUTH_TOKEN is the development token")
        if self.env == "prod" and not (self.public_base_url or "").startswith("https://"):
            problems.append(
                "ANBU_PUBLIC_BASE_URL must be the https:// address people and Twilio reach "
                f"(got {self.public_base_url or 'nothing'}): tokens and status links never travel in clear"
            )
        if problems:
            raise InsecureSettingsError(f"refusing to start with ANBU_ENV={self.env}: " + "; ".join(problems))
        return self

    # Derived values: one place that knows the defaults.
    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'anbu.db'}"

    @property
    def mqtt_endpoint(self) -> MqttEndpoint:
        if self.mqtt_url:
            return parse_mqtt_url(self.mqtt_url)
        return MqttEndpoint(host="127.0.0.1", port=self.mqtt_embedded_port, tls=False)

    @model_validator(mode="after")
    def _tls_files_go_together(self) -> Settings:
        if (self.mqtt_tls_cert_file is None) != (self.mqtt_tls_key_file is None):
            raise ValueError("ANBU_MQTT_TLS_CERT_FILE and ANBU_MQTT_TLS_KEY_FILE go together")
        return self

    @property
    def mqtt_device_endpoint(self) -> MqttEndpoint:
        return parse_mqtt_url(self.mqtt_device_url) if self.mqtt_device_url else self.mqtt_endpoint

    @property
    def mqtt_auth_required(self) -> bool:
        if self.mqtt_auth is not None:
            return self.mqtt_auth == "required"
        return self.env != "dev"

    @property
    def uses_embedded_broker(self) -> bool:
        return not self.mqtt_url

    @property
    def serves_openapi(self) -> bool:
        return self.openapi if self.openapi is not None else self.env != "prod"

    @property
    def serves_hsts(self) -> bool:
        """HSTS on every response when people reach us over https (always in prod)."""
        return self.effective_public_base_url.startswith("https://")

    @property
    def effective_public_base_url(self) -> str:
        return (self.public_base_url or f"http://{self.http_host}:{self.http_port}").rstrip("/")

    @property
    def effective_transport(self) -> Literal["console", "twilio"]:
        if self.transport != "auto":
            return self.transport
        return "twilio" if self.twilio_account_sid and self.twilio_auth_token else "console"

    @property
    def webhook_auth_token(self) -> str | None:
        """Token that signs Twilio webhooks; None (every webhook refused) when Twilio is not set up."""
        return self.twilio_auth_token or None

    def _missing_twilio_credentials(self) -> list[str]:
        values = (self.twilio_account_sid, self.twilio_auth_token, self.twilio_from_number)
        return [name for name, value in zip(TWILIO_CREDENTIALS, values, strict=True) if not value]

    def phone_problems(self) -> list[str]:
        """Why a role that calls people (``up``, ``api``, ``worker``) must not start; empty if fine.

        Outside dev, "no Twilio credentials" is never taken to mean "use the console": that would
        leave nobody called or texted, with a log line as the only trace. The console transport
        must then be chosen explicitly (``ANBU_TRANSPORT=console``).
        """
        missing = self._missing_twilio_credentials()
        if self.transport == "twilio" and missing:
            return [f"ANBU_TRANSPORT=twilio needs {', '.join(missing)}"]
        if self.transport == "auto" and missing and len(missing) < len(TWILIO_CREDENTIALS):
            return [f"Twilio credentials are only partly set: {', '.join(missing)} missing"]
        if self.env != "dev" and self.transport == "auto" and missing:
            return [
                f"no Twilio credentials ({', '.join(missing)}): set them, or choose "
                "ANBU_TRANSPORT=console explicitly (then nobody is called or texted and every "
                "Twilio webhook is refused)"
            ]
        return []

    def phone_status(self) -> dict[str, Any]:
        """What ``/healthz`` and ``/readyz`` say about the phone (calls and texts)."""
        can_call = self.effective_transport == "twilio"
        return {
            "phone": self.effective_transport,
            "can_call": can_call,
            "warnings": [] if can_call else [NOBODY_CALLED],
        }

    def refuse_unsafe_phone(self) -> None:
        """Raise :class:`InsecureSettingsError` when :meth:`phone_problems` finds anything."""
        problems = self.phone_problems()
        if problems:
            raise InsecureSettingsError(f"refusing to start with ANBU_ENV={self.env}: " + "; ".join(problems))


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment (and ``.env``), with explicit overrides on top."""
    return Settings(**overrides)  # type: ignore[arg-type]
