"""TLS for Anbu's own MQTT clients (the gateway, the dynamic-security control client): ``mqtts://``.

The broker's certificate is checked against ``ANBU_MQTT_TLS_CA_FILE`` (a private CA) or the
system's CAs, hostname included; ``ANBU_MQTT_TLS_CERT_FILE``/``_KEY_FILE`` give a client
certificate to brokers that require one.
"""

from __future__ import annotations

import paho.mqtt.client as mqtt

from core.settings import Settings


def configure_tls(client: mqtt.Client, settings: Settings) -> None:
    def path(value: object) -> str | None:
        return str(value) if value is not None else None

    client.tls_set(
        ca_certs=path(settings.mqtt_tls_ca_file),
        certfile=path(settings.mqtt_tls_cert_file),
        keyfile=path(settings.mqtt_tls_key_file),
    )
