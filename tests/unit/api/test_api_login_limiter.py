"""The failed-login limiter on its own, driven by explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.login_limiter import AccountThrottle, LoginLimiter

T0 = datetime(2026, 3, 2, tzinfo=UTC)
KEY = LoginLimiter.key("admin", "10.0.0.1")


def test_limits_after_max_failures_and_reports_retry_after() -> None:
    limiter = LoginLimiter(max_failures=3, window=timedelta(minutes=5))
    for i in range(2):
        limiter.record_failure(KEY, T0 + timedelta(seconds=i))
        assert limiter.retry_after(KEY, T0 + timedelta(seconds=i)) is None
    limiter.record_failure(KEY, T0 + timedelta(seconds=2))
    assert limiter.retry_after(KEY, T0 + timedelta(seconds=2)) == 298
    assert limiter.retry_after(KEY, T0 + timedelta(seconds=299, microseconds=500_000)) == 1
    assert limiter.retry_after(KEY, T0 + timedelta(seconds=300)) is None


def test_keys_are_independent_and_reset_clears() -> None:
    limiter = LoginLimiter(max_failures=1)
    limiter.record_failure(KEY, T0)
    assert limiter.retry_after(KEY, T0) is not None
    assert limiter.retry_after(LoginLimiter.key("admin", "10.0.0.2"), T0) is None
    assert limiter.retry_after(LoginLimiter.key("other", "10.0.0.1"), T0) is None
    limiter.reset(KEY)
    assert limiter.retry_after(KEY, T0) is None


def test_memory_is_bounded_by_evicting_the_stalest_key() -> None:
    limiter = LoginLimiter(max_failures=1, max_keys=3)
    keys = [LoginLimiter.key(f"user{i}", "c") for i in range(4)]
    for i, key in enumerate(keys):
        limiter.record_failure(key, T0 + timedelta(seconds=i))
    now = T0 + timedelta(seconds=5)
    assert limiter.retry_after(keys[0], now) is None  # evicted
    assert all(limiter.retry_after(k, now) is not None for k in keys[1:])


def test_username_and_client_cannot_collide_through_the_separator() -> None:
    assert LoginLimiter.key("a|b", "c") != LoginLimiter.key("a", "b|c")


def test_an_account_guessed_from_many_addresses_waits_longer_and_longer() -> None:
    """Issue 13.5: rotating the address escaped a per-(user, address) limit; the account's own
    count does not care where the guesses come from."""
    throttle = AccountThrottle(
        free_failures=3, first_delay=timedelta(seconds=1), max_delay=timedelta(seconds=8)
    )
    now = T0
    assert [throttle.record_failure("admin", now) for _ in range(3)] == [False, False, False]
    assert throttle.retry_after("admin", now) is None
    waits = []
    for _ in range(6):
        assert throttle.record_failure("admin", now) is True
        waits.append(throttle.retry_after("admin", now))
    assert waits == [1, 2, 4, 8, 8, 8]  # doubling, then capped: the owner is never locked out for long
    assert throttle.retry_after("admin", now + timedelta(seconds=8)) is None
    assert throttle.retry_after("someone-else", now) is None
    throttle.reset("admin")
    assert throttle.retry_after("admin", now) is None


def test_old_account_failures_age_out_of_the_window() -> None:
    throttle = AccountThrottle(free_failures=1, window=timedelta(minutes=10))
    throttle.record_failure("admin", T0)
    throttle.record_failure("admin", T0)
    assert throttle.retry_after("admin", T0) == 1
    later = T0 + timedelta(minutes=10)
    assert throttle.record_failure("admin", later) is False  # the window forgot the first two
    assert throttle.retry_after("admin", later) is None


def test_the_default_delays_reach_fifteen_minutes() -> None:
    throttle = AccountThrottle()
    assert throttle.delay_after(10) == timedelta(0)
    assert throttle.delay_after(11) == timedelta(seconds=1)
    assert throttle.delay_after(20) == timedelta(seconds=512)
    assert throttle.delay_after(21) == throttle.delay_after(100) == timedelta(minutes=15)
