"""gateway/link.py: lost sessions, takeovers, flapping and delivery probes, on a made-up clock."""

from __future__ import annotations

from gateway.link import SESSION_TAKEN_OVER, Action, LinkWatch, probe_topic


def _up(watch: LinkWatch, now: float, *, present: bool = True) -> bool:
    lost = watch.connected(now, session_present=present, persistent=True)
    watch.subscribed(now)
    return lost


def test_probe_topic_is_the_gateways_own_and_a_valid_topic() -> None:
    assert probe_topic("anbu-gateway") == "anbu-gateway/probe/anbu-gateway"
    assert probe_topic("gw/+#1") == "anbu-gateway/probe/gw___1"  # no wildcard, no extra level
    assert probe_topic("") == "anbu-gateway/probe/_"


def test_a_missing_session_is_lost_only_when_one_was_expected() -> None:
    first_ever = LinkWatch(session_expiry_s=3600)
    assert first_ever.connected(0, session_present=False, persistent=True) is False
    first_ever.disconnected(10, reason=None, requested=False)
    # Reconnected 2 s later: the broker should have kept it (expiry 1 h) and did not.
    assert first_ever.connected(12, session_present=False, persistent=True) is True
    first_ever.disconnected(20, reason=None, requested=False)
    assert first_ever.connected(22, session_present=True, persistent=True) is False
    assert first_ever.sessions_lost == 1


def test_a_session_expired_while_away_is_not_lost() -> None:
    watch = LinkWatch(session_expiry_s=60)
    watch.connected(0, session_present=False, persistent=True)
    watch.disconnected(10, reason=None, requested=False)
    assert watch.connected(100, session_present=False, persistent=True) is False  # away 90 s > 60 s


def test_a_previous_process_session_is_expected_at_the_first_connect() -> None:
    watch = LinkWatch(expect_session=True, session_expiry_s=3600)
    assert watch.connected(0, session_present=False, persistent=True) is True
    non_persistent = LinkWatch(session_expiry_s=3600)
    non_persistent.connected(0, session_present=False, persistent=False)  # expiry 0: nothing kept
    non_persistent.disconnected(1, reason=None, requested=False)
    assert non_persistent.connected(2, session_present=False, persistent=False) is False


def test_session_taken_over_is_recognised_and_counted() -> None:
    watch = LinkWatch()
    _up(watch, 0)
    assert watch.disconnected(5, reason=SESSION_TAKEN_OVER, requested=False) is True
    _up(watch, 6)
    assert watch.disconnected(7, reason=0x80, requested=False) is False  # a plain drop
    assert (watch.session_takeovers, watch.disconnects) == (1, 2)


def test_flapping_needs_three_unrequested_drops_within_the_window_and_ends_when_stable() -> None:
    watch = LinkWatch(flap_window_s=60, flap_count=3)
    for t in (0, 10, 20):
        _up(watch, t)
        watch.disconnected(t + 1, reason=None, requested=True)  # our own stops do not count
    assert watch.flapping(25) is False
    changes = []
    for t in (30, 40, 50):
        _up(watch, t)
        watch.disconnected(t + 1, reason=None, requested=False)
        changes.append(watch.flapping_changed(t + 1))
    assert changes == [None, None, True]
    assert watch.flapping(80) is True
    assert watch.flapping(90) is True
    assert watch.flapping_changed(91.5) is False  # the drop at 31 left the window: two remain
    assert watch.flapping_changed(92) is None


def test_a_probe_is_sent_after_every_subscribe_and_when_quiet() -> None:
    watch = LinkWatch(probe_idle_s=30, probe_timeout_s=5)
    assert watch.supervise(0, last_heard=0) is Action.NONE  # not connected yet
    _up(watch, 0)
    assert watch.supervise(0, last_heard=0) is Action.PROBE
    watch.probe_sent(0, b"a")
    assert watch.supervise(1, last_heard=0) is Action.NONE  # waiting for it
    assert watch.probe_echoed(1, b"x") is False  # not ours
    assert watch.probe_echoed(1, b"a") is True
    assert watch.figures(1).delivery_verified is True
    assert watch.supervise(20, last_heard=15) is Action.NONE
    assert watch.supervise(44, last_heard=15) is Action.NONE  # 29 s quiet
    assert watch.supervise(46, last_heard=15) is Action.PROBE  # 31 s quiet


def test_a_probe_that_stops_coming_back_means_reconnect() -> None:
    watch = LinkWatch(probe_idle_s=30, probe_timeout_s=5)
    _up(watch, 0)
    watch.probe_sent(0, b"a")
    watch.probe_echoed(0.1, b"a")
    watch.probe_sent(40, b"b")  # quiet: probe; someone took the session meanwhile
    assert watch.supervise(44, last_heard=0) is Action.NONE
    assert watch.supervise(46, last_heard=0) is Action.RECONNECT
    assert (watch.probe_failures, watch.delivery_reconnects) == (1, 1)
    watch.disconnected(46, reason=None, requested=True)
    _up(watch, 47, present=False)
    assert watch.supervise(47, last_heard=0) is Action.PROBE
    watch.probe_sent(47, b"c")
    assert watch.probe_echoed(47.2, b"c") is True
    assert watch.figures(48).delivery_verified is True


def test_a_probe_the_broker_never_delivers_is_given_up_after_two_fresh_connections() -> None:
    # An ACL that forbids the probe topic must not make the gateway reconnect for ever.
    watch = LinkWatch(probe_idle_s=30, probe_timeout_s=5)
    _up(watch, 0)
    watch.probe_sent(0, b"a")
    assert watch.supervise(6, last_heard=0) is Action.RECONNECT
    watch.disconnected(6, reason=None, requested=True)
    _up(watch, 7)
    watch.probe_sent(7, b"b")
    assert watch.supervise(13, last_heard=0) is Action.NONE
    assert watch.probe_supported() is False
    assert watch.supervise(100, last_heard=0) is Action.NONE  # no more idle probes
    assert watch.delivery_reconnects == 1


def test_a_dropped_connection_cancels_the_probe_in_flight() -> None:
    watch = LinkWatch(probe_timeout_s=5)
    _up(watch, 0)
    watch.probe_sent(0, b"a")
    watch.disconnected(1, reason=None, requested=False)
    assert watch.supervise(10, last_heard=0) is Action.NONE
    assert watch.probe_failures == 0
    assert watch.probe_echoed(10, b"a") is False


def test_a_probe_queued_behind_a_backlog_is_waited_for_while_messages_keep_arriving() -> None:
    # After a reconnect the broker first sends what it queued for us; the probe comes after it.
    # Messages arriving on this connection prove it delivers: no reconnect (which would make the
    # broker send the backlog again) and no "probes are forbidden" verdict after two of them.
    watch = LinkWatch(probe_idle_s=30, probe_timeout_s=5)
    _up(watch, 0)
    watch.probe_sent(0, b"a")
    for now in range(1, 60):
        assert watch.supervise(now, last_heard=now - 0.5) is Action.NONE  # the drain goes on
    assert watch.probe_echoed(60, b"a") is True  # its turn came
    assert (watch.probe_failures, watch.delivery_reconnects, watch.probe_supported()) == (0, 0, True)
    # A drain that stops without the probe: nothing at all for the probe's timeout is a failure.
    watch.probe_sent(100, b"b")
    assert watch.supervise(104, last_heard=101) is Action.NONE
    assert watch.supervise(106.5, last_heard=101) is Action.RECONNECT
