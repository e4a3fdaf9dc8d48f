"""The failed-login limiter on its own, driven by explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api.login_limiter import LoginLimiter

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
