"""Identity and TLS for Anbu's own MQTT clients (the gateway, its rescues, the dynamic-security
control client): credentials, and ``mqtts://``.

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


def authenticate(client: mqtt.Client, settings: Settings, credentials: tuple[str, str] | None) -> None:
    """Log in as *credentials* (username, password) or else ANBU_MQTT_URL's user; TLS for mqtts://."""
    endpoint = settings.mqtt_endpoint
    if credentials is not None:
        client.username_pw_set(*credentials)
    elif endpoint.username:
        client.username_pw_set(endpoint.username, endpoint.password)
    if endpoint.tls:
        configure_tls(client, settings)  # ANBU_MQTT_TLS_* or the system CAs; hostname checked


def member_credentials(
    settings: Settings, own: tuple[str, str] | None, member: str
) -> tuple[str, str] | None:
    """How to log in to take over group *member*'s session (gateway/rescue.py).

    Where the broker makes a client's id its username (Mosquitto's ``use_username_as_clientid``,
    as ``anbu broker mosquitto-config`` writes it), our username *is* our client id, and the dead
    member's session is reached only by logging in as it: with the group's shared password (ours).
    Elsewhere the client id is free and our own login serves.
    """
    endpoint = settings.mqtt_endpoint
    username, password = own if own is not None else (endpoint.username, endpoint.password)
    if username and password and username == settings.mqtt_client_id:
        return member, password
    return own


def topic_of(msg: mqtt.MQTTMessage) -> str:
    """The message's topic; one that is not UTF-8 is kept readable and rejected by ingest later."""
    try:
        return msg.topic
    except UnicodeDecodeError:
        return msg._topic.decode("utf-8", errors="backslashreplace")
