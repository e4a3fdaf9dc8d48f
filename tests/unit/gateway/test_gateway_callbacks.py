"""Gateway callbacks without a broker: acks only for the current connection, in order; refusals."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from core.clock import ManualClock
from core.db import make_engine
from core.settings import Settings
from gateway.adapters import subscription_filters
from gateway.service import Gateway


class FakeClient:
    def __init__(self, protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5) -> None:
        self.protocol = protocol
        self.acks: list[tuple[int, int]] = []
        self.subscriptions: list[Any] = []
        self.disconnects = 0
        self.unsubscribed: list[str] = []
        self.answer_unsubscribe: Any = None  # set to the gateway's callback to answer at once
        self.reconnect_delays: list[tuple[int, int]] = []
        self.published: list[tuple[str, bytes, int]] = []

    def subscribe(self, topics: Any) -> tuple[int, int]:
        self.subscriptions.append(topics)
        return mqtt.MQTT_ERR_SUCCESS, len(self.subscriptions)

    def ack(self, mid: int, qos: int) -> int:
        self.acks.append((mid, qos))
        return mqtt.MQTT_ERR_SUCCESS

    def disconnect(self) -> int:
        self.disconnects += 1
        return mqtt.MQTT_ERR_SUCCESS

    def unsubscribe(self, topic: str) -> tuple[int, int]:
        self.unsubscribed.append(topic)
        mid = 100 + len(self.unsubscribed)
        if self.answer_unsubscribe:  # the UNSUBACK beats unsubscribe() returning: the racy case
            self.answer_unsubscribe(self, None, mid, [], None)
        return mqtt.MQTT_ERR_SUCCESS, mid

    def loop_stop(self) -> int:
        return mqtt.MQTT_ERR_SUCCESS

    def reconnect_delay_set(self, min_delay: int = 1, max_delay: int = 120) -> None:
        self.reconnect_delays.append((min_delay, max_delay))

    def publish(self, topic: str, payload: bytes, qos: int = 0) -> None:
        self.published.append((topic, payload, qos))

    def socket(self) -> None:
        return None


def _gateway(**overrides: Any) -> tuple[Gateway, FakeClient]:
    settings = Settings(_env_file=None, mqtt_url="mqtt://127.0.0.1:1", mqtt_client_id="t", **overrides)
    gateway = Gateway(settings, make_engine("sqlite://"), ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    client = FakeClient()
    gateway._client = client  # type: ignore[assignment]
    return gateway, client


def _connect(gateway: Gateway, client: FakeClient) -> None:
    flags = mqtt.ConnectFlags(session_present=True)
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), None)  # type: ignore[arg-type]


def _disconnect(gateway: Gateway, client: FakeClient) -> None:
    flags = mqtt.DisconnectFlags(is_disconnect_packet_from_server=False)
    gateway._on_disconnect(client, None, flags, ReasonCode(PacketTypes.DISCONNECT, identifier=0), None)  # type: ignore[arg-type]


def _receive(gateway: Gateway, client: FakeClient, mid: int, qos: int = 1) -> None:
    msg = mqtt.MQTTMessage(mid=mid, topic=b"anbu/d1/reading")
    msg.payload = b'{"v":1,"power_w":1}'
    msg.qos = qos
    gateway._on_message(client, None, msg)  # type: ignore[arg-type]


def test_acks_go_out_in_arrival_order_for_the_current_connection() -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    for mid in (7, 3, 9):
        _receive(gateway, client, mid)
    _receive(gateway, client, 0, qos=0)
    batch = gateway._take_batch()
    gateway._ack_in_order(batch)
    assert client.acks == [(7, 1), (3, 1), (9, 1)]  # QoS 0 needs no ack
    assert gateway.metrics()["acked"] == 3


def test_messages_from_an_earlier_connection_are_never_acked() -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    _receive(gateway, client, 1)
    _receive(gateway, client, 2)
    _disconnect(gateway, client)
    _connect(gateway, client)  # packet ids 1 and 2 may now name other messages
    _receive(gateway, client, 1)
    gateway._ack_in_order(gateway._take_batch())
    assert client.acks == [(1, 1)]  # only the one received on this connection
    metrics = gateway.metrics()
    assert (metrics["stale_acks_skipped"], metrics["generation"], metrics["received"]) == (2, 3, 3)


def test_nothing_is_acked_while_disconnected() -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    _receive(gateway, client, 4)
    _disconnect(gateway, client)
    gateway._ack_in_order(gateway._take_batch())
    assert client.acks == []
    assert gateway.metrics()["connected"] is False


def test_subscribes_on_every_connect_and_is_ready_after_suback() -> None:
    gateway, client = _gateway(mqtt_share_group="anbu")
    _connect(gateway, client)
    assert not gateway.wait_connected(0)  # connected, but SUBACK not seen yet
    topics = [t for t, _opts in client.subscriptions[0]]
    assert topics[0] == "$share/anbu/anbu/+/reading"
    # Device filters shared; the delivery probe's topic is the gateway's own, subscribed through
    # the share group too, so a probe that comes back proves the group delivers (issue 15.4).
    assert topics == [f"$share/anbu/{f}" for f in subscription_filters(gateway._settings)] + [
        "$share/anbu/anbu-gateway/probe/t"
    ]
    granted = [ReasonCode(PacketTypes.SUBACK, identifier=1)] * 7
    gateway._on_subscribe(client, None, 1, granted, None)  # type: ignore[arg-type]
    assert gateway.wait_connected(0)
    _disconnect(gateway, client)
    assert not gateway.wait_connected(0)
    _connect(gateway, client)
    assert len(client.subscriptions) == 2


@pytest.mark.parametrize(("code", "text"), [(134, "bad user name or password"), (135, "not authorized")])
def test_auth_refusal_is_fatal(code: int, text: str) -> None:
    gateway, client = _gateway()
    flags = mqtt.ConnectFlags(session_present=False)
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=code), None)  # type: ignore[arg-type]
    assert gateway.fatal_error is not None and text in gateway.fatal_error
    assert client.disconnects == 1  # stops paho's reconnect loop
    assert gateway.wait_connected(1) is False


def test_unsupported_protocol_requests_a_311_fallback() -> None:
    gateway, client = _gateway()
    flags = mqtt.ConnectFlags(session_present=False)
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=132), None)  # type: ignore[arg-type]
    assert gateway._fallback_requested and client.disconnects == 1
    assert gateway.fatal_error is None


def test_a_chosen_mqtt_5_is_not_given_up_for_311() -> None:
    # ANBU_MQTT_PROTOCOL=5: a broker that refuses 5 is a configuration error, said once, not a
    # silent switch; nor does an unanswered CONNECT make it fall back.
    gateway, client = _gateway(mqtt_protocol="5")
    assert gateway._protocol == MQTTProtocolVersion.MQTTv5
    flags = mqtt.ConnectFlags(session_present=False)
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=132), None)  # type: ignore[arg-type]
    assert not gateway._fallback_requested and client.disconnects == 1
    assert gateway.fatal_error is not None and "ANBU_MQTT_PROTOCOL" in gateway.fatal_error
    gateway._awaiting_connack_since = time.monotonic() - gateway.v5_connack_timeout_s - 1
    gateway._supervise()
    assert not gateway._fallback_requested and gateway._protocol == MQTTProtocolVersion.MQTTv5


def test_a_chosen_mqtt_311_is_spoken_from_the_start_with_a_persistent_session() -> None:
    gateway, _client = _gateway(mqtt_protocol="3.1.1")
    client = gateway._make_client(gateway._protocol)
    assert client.protocol == mqtt.MQTTv311 and client._clean_session is False


def test_an_unanswered_mqtt_5_connect_falls_back_to_311_by_default() -> None:
    gateway, _client = _gateway()
    gateway._awaiting_connack_since = time.monotonic() - gateway.v5_connack_timeout_s - 1
    gateway._supervise()
    assert gateway._protocol == MQTTProtocolVersion.MQTTv311
    gateway.stop(timeout=0.05)


def test_a_temporary_refusal_is_left_to_paho_to_retry() -> None:
    gateway, client = _gateway()
    flags = mqtt.ConnectFlags(session_present=False)
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=136), None)  # type: ignore[arg-type]
    assert client.disconnects == 0 and gateway.fatal_error is None and not gateway._fallback_requested
    # The broker answers but refuses: paho backs off up to 30 s, not the 2 s used while it is away...
    assert client.reconnect_delays == [(1, 30)]
    gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=136), None)  # type: ignore[arg-type]
    assert client.reconnect_delays == [(1, 30)]  # (set once: paho's doubling is not reset each time)
    _connect(gateway, client)
    assert client.reconnect_delays == [(1, 30), (1, 2)]  # ...and once it takes us, fast again


def test_reconnect_backoff_is_capped_low_while_the_broker_is_away() -> None:
    # Issue 14 item 7: a broker restarted after a crash must find the gateway back within ~2 s.
    settings = Settings(_env_file=None, mqtt_url="mqtt://127.0.0.1:1", mqtt_client_id="t")
    gateway = Gateway(settings, make_engine("sqlite://"), ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    client = gateway._make_client(gateway._protocol)
    assert (client._reconnect_min_delay, client._reconnect_max_delay) == (1, 2)


def test_embedded_broker_means_mqtt_311() -> None:
    settings = Settings(_env_file=None, mqtt_url=None, mqtt_client_id="t")
    gateway = Gateway(settings, make_engine("sqlite://"), ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    client = gateway._make_client(gateway._protocol)
    assert client.protocol == mqtt.MQTTv311
    assert client._clean_session is False
    assert client._manual_ack is True


def test_share_group_is_ignored_with_the_embedded_broker() -> None:
    settings = Settings(_env_file=None, mqtt_url=None, mqtt_share_group="anbu")
    gateway = Gateway(settings, make_engine("sqlite://"), ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    assert not any(f.startswith("$share") for f in gateway.topic_filters())


def test_stop_waits_for_the_broker_to_confirm_the_last_acks(caplog: pytest.LogCaptureFixture) -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    client.answer_unsubscribe = gateway._on_unsubscribe
    gateway.stop(timeout=1)
    assert client.unsubscribed == ["anbu-gateway/ack-barrier"]
    assert "did not confirm" not in caplog.text
    assert client.disconnects == 1


def test_stop_without_confirmation_still_disconnects(caplog: pytest.LogCaptureFixture) -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    gateway.stop(timeout=0.05)
    assert "did not confirm" in caplog.text
    assert client.disconnects == 1


def test_bulk_delivery_queues_every_message_in_order_with_its_connection() -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    gateway._on_qos1_publishes([(b"anbu/d1/reading", b"1", 11, 0x32), (b"anbu/\xff/reading", b"2", 12, 0x32)])
    _disconnect(gateway, client)
    _connect(gateway, client)
    gateway._on_qos1_publishes([(b"anbu/d2/reading", b"3", 13, 0x3A)])
    batch = gateway._take_batch()
    assert [(d.message.topic, d.message.payload, d.mid, d.qos) for d in batch] == [
        ("anbu/d1/reading", b"1", 11, 1),
        ("anbu/\\xff/reading", b"2", 12, 1),  # invalid UTF-8: kept (and rejected by ingest), not lost
        ("anbu/d2/reading", b"3", 13, 1),
    ]
    assert batch[0].message.received_at == datetime(2026, 3, 2, tzinfo=UTC)  # the gateway's clock
    # Packet id, the broker's DUP flag, and each message's place in its socket read, for ingest's
    # receipts; the next read's instants start after the first read's two (the clock stood still).
    assert [(m.packet_id, m.redelivered, m.arrival) for m in (d.message for d in batch)] == [
        (11, False, 0),
        (12, False, 1),
        (13, True, 0),
    ]
    assert batch[2].message.received_at == datetime(2026, 3, 2, 0, 0, 0, 2, tzinfo=UTC)
    gateway._ack_in_order(batch)
    assert client.acks == [(13, 1)]  # 11 and 12 came on the earlier connection: redelivered, not acked
    assert gateway.metrics()["received"] == 3


def test_the_buffered_client_hands_qos1_runs_to_the_gateway_in_bulk() -> None:
    settings = Settings(_env_file=None, mqtt_url="mqtt://127.0.0.1:1", mqtt_client_id="t")
    gateway = Gateway(settings, make_engine("sqlite://"), ManualClock(datetime(2026, 3, 2, tzinfo=UTC)))
    client = gateway._make_client(MQTTProtocolVersion.MQTTv5)
    assert getattr(client, "on_qos1_publishes", None) == gateway._on_qos1_publishes


def test_the_batch_wait_counts_from_when_a_message_arrived(monkeypatch: pytest.MonkeyPatch) -> None:
    # gateway/batching.py closes a partial batch once its first message is BATCH_WAIT_S old, counted
    # from arrival: the gateway must stamp each delivery on the network thread and pass it on.
    import time

    from gateway import batching

    gateway, client = _gateway()
    _connect(gateway, client)
    before = time.monotonic()
    gateway._on_qos1_publishes([(b"anbu/d1/reading", b"1", 11, 0x32)])
    after = time.monotonic()
    seen: dict[str, Any] = {}
    real = batching.take_batch

    def spy(source: Any, **kwargs: Any) -> Any:
        seen.update(kwargs)
        return real(source, **kwargs)

    monkeypatch.setattr("gateway.service.take_batch", spy)
    batch = gateway._take_batch()
    assert before <= batch[0].arrived <= after
    assert seen["arrived_at"](batch[0]) == batch[0].arrived


def test_a_lost_session_is_logged_at_warning_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    _disconnect(gateway, client)
    flags = mqtt.ConnectFlags(session_present=False)  # the broker restarted without our session
    with caplog.at_level(logging.INFO, logger="gateway.service"):
        gateway._on_connect(client, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), None)  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "LOST OUR SESSION" in r.message]
    assert len(warnings) == 1
    assert gateway.metrics()["sessions_lost"] == 1
    assert gateway._session_lost_at == gateway._clock.now()
    assert len(client.subscriptions) == 2  # resubscribed all the same


def test_session_taken_over_reason_is_named(caplog: pytest.LogCaptureFixture) -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    flags = mqtt.DisconnectFlags(is_disconnect_packet_from_server=True)
    with caplog.at_level(logging.WARNING, logger="gateway.service"):
        gateway._on_disconnect(client, None, flags, ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E), None)  # type: ignore[arg-type]
    assert gateway.metrics()["session_takeovers"] == 1
    assert any("took the gateway's session" in r.message for r in caplog.records)


def test_probe_echo_is_not_device_data_and_is_never_queued() -> None:
    gateway, client = _gateway()
    _connect(gateway, client)
    gateway._on_subscribe(client, None, 1, [ReasonCode(PacketTypes.SUBACK, identifier=1)], None)  # type: ignore[arg-type]
    gateway._watch_link()  # after every SUBACK: a probe goes out
    assert [(t, q) for t, _p, q in client.published] == [("anbu-gateway/probe/t", 0)]
    heard = gateway._last_arrival
    msg = mqtt.MQTTMessage(mid=0, topic=b"anbu-gateway/probe/t")
    msg.payload = client.published[0][1]
    gateway._on_message(client, None, msg)  # type: ignore[arg-type]
    assert gateway.metrics()["delivery_verified"] is True
    assert gateway._queue.qsize() == 0 and gateway.metrics()["received"] == 0
    assert gateway._last_arrival == heard  # a probe proves delivery, not that plugs are heard


def test_a_session_back_after_an_absence_lets_that_absence_s_backlog_through() -> None:
    """gateway/flood.py: the rate limiter's cap grows by what the absence allowed (issue 12.6)."""
    gateway, client = _gateway(device_rate_per_min=6, device_rate_burst=600)
    limiter = gateway._processor._limiter
    gateway._absent_at_start_s = 7200.0  # the previous process stopped writing its row 2 h ago
    _connect(gateway, client)
    assert limiter.cap(time.monotonic()) == 600 + 720
    # A reconnect without a kept session brings no backlog: no allowance.
    gateway2, client2 = _gateway(device_rate_per_min=6, device_rate_burst=600)
    gateway2._absent_at_start_s = 7200.0
    flags = mqtt.ConnectFlags(session_present=False)
    gateway2._on_connect(client2, None, flags, ReasonCode(PacketTypes.CONNACK, identifier=0), None)  # type: ignore[arg-type]
    assert gateway2._processor._limiter.cap(time.monotonic()) == 600
