"""Which deliveries are acked after a commit: current connection only, QoS 1 only, arrival order."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.ingest import InboundMessage
from gateway.service import _Delivery, ackable

_MSG = InboundMessage(topic="t", payload=b"{}", received_at=datetime(2026, 3, 2, tzinfo=UTC))


def _d(mid: int, generation: int, qos: int = 1) -> _Delivery:
    return _Delivery(_MSG, mid, qos, generation)


def test_acks_keep_arrival_order_not_packet_id_order() -> None:
    assert ackable([_d(9, 2), _d(3, 2), _d(65535, 2), _d(1, 2)], 2) == ([9, 3, 65535, 1], 0)


def test_messages_from_an_earlier_connection_are_skipped_not_acked() -> None:
    mids, skipped = ackable([_d(1, 1), _d(2, 2), _d(3, 1), _d(4, 2)], 2)
    assert (mids, skipped) == ([2, 4], 2)


def test_nothing_is_acked_while_disconnected() -> None:
    assert ackable([_d(1, 2), _d(2, 2)], None) == ([], 2)


def test_qos0_needs_no_ack_and_is_not_counted_as_skipped() -> None:
    assert ackable([_d(0, 2, qos=0), _d(5, 2)], 2) == ([5], 0)
