"""Failed logins are limited two ways; both answer 429 with ``Retry-After``.

* :class:`LoginLimiter`: N failures per (username, client address) within a window, until one
  ages out (one address guessing one account).
* :class:`AccountThrottle`: per account, from any address. After a few free failures each further
  one makes the next attempt wait twice as long as the last (1 s, 2 s, 4 s … at most 15 min):
  guessing spread over many addresses slows to a crawl, while the account's owner is never
  locked out for longer than the cap.

Kept in memory per API process: they slow guessing, they are not an audit log (the audit log
records every login), and losing them on restart is harmless. Time comes from the injected clock.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=5)
MAX_KEYS = 10_000  # bound memory under a spray of usernames

ACCOUNT_FREE_FAILURES = 10
ACCOUNT_WINDOW = timedelta(hours=1)
ACCOUNT_FIRST_DELAY = timedelta(seconds=1)
ACCOUNT_MAX_DELAY = timedelta(minutes=15)


class _FailureLog:
    """Recent failure times per key within a window: at most *keep* per key, at most *max_keys*
    keys (the stalest forgotten first). Thread-safe; readers get a copy."""

    def __init__(self, *, window: timedelta, keep: int, max_keys: int) -> None:
        self.window = window
        self.keep = keep
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    def recent(self, key: str, now: datetime) -> tuple[datetime, ...]:
        with self._lock:
            return tuple(self._prune(key, now) or ())

    def add(self, key: str, now: datetime) -> tuple[datetime, ...]:
        """Record a failure; the key's recent failures including it."""
        with self._lock:
            failures = self._prune(key, now)
            if failures is None:
                failures = deque(maxlen=self.keep)
                self._failures[key] = failures
                while len(self._failures) > self.max_keys:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(key)
            failures.append(now)
            return tuple(failures)

    def forget(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _prune(self, key: str, now: datetime) -> deque[datetime] | None:
        failures = self._failures.get(key)
        if failures is None:
            return None
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        if not failures:
            del self._failures[key]
            return None
        return failures


def _seconds_until(moment: datetime, now: datetime) -> int | None:
    return max(1, math.ceil((moment - now).total_seconds())) if moment > now else None


class LoginLimiter:
    def __init__(
        self, *, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW, max_keys: int = MAX_KEYS
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self._log = _FailureLog(window=window, keep=max_failures, max_keys=max_keys)

    @staticmethod
    def key(username: str, client: str) -> str:
        return f"{username}\x00{client}"

    def retry_after(self, key: str, now: datetime) -> int | None:
        """Seconds until another attempt is allowed, or None when not limited."""
        failures = self._log.recent(key, now)
        if len(failures) < self.max_failures:
            return None
        # Allowed again when the failure that completed the limit ages out of the window.
        return _seconds_until(failures[-self.max_failures] + self.window, now)

    def record_failure(self, key: str, now: datetime) -> None:
        self._log.add(key, now)

    def reset(self, key: str) -> None:
        self._log.forget(key)


class AccountThrottle:
    """Growing delays per account (the normalised username, known or not: no oracle)."""

    def __init__(
        self,
        *,
        free_failures: int = ACCOUNT_FREE_FAILURES,
        window: timedelta = ACCOUNT_WINDOW,
        first_delay: timedelta = ACCOUNT_FIRST_DELAY,
        max_delay: timedelta = ACCOUNT_MAX_DELAY,
        max_accounts: int = MAX_KEYS,
    ) -> None:
        self.free_failures = free_failures
        self.first_delay = first_delay
        self.max_delay = max_delay
        # Enough failures kept for the delay to reach its cap (then more change nothing).
        doublings = max(1, math.ceil(math.log2(max(max_delay / first_delay, 1.0))) + 1)
        self._log = _FailureLog(window=window, keep=free_failures + doublings, max_keys=max_accounts)

    def delay_after(self, failures: int) -> timedelta:
        """How long the account waits after its *failures*-th failure within the window."""
        over = failures - self.free_failures
        if over <= 0:
            return timedelta(0)
        delay: timedelta = self.first_delay * (2 ** min(over - 1, 40))  # no overflow past the cap
        return min(delay, self.max_delay)

    def retry_after(self, account: str, now: datetime) -> int | None:
        """Seconds until the account may try again, or None when it may now."""
        failures = self._log.recent(account, now)
        if not failures:
            return None
        return _seconds_until(failures[-1] + self.delay_after(len(failures)), now)

    def record_failure(self, account: str, now: datetime) -> bool:
        """Count a failure; True when the account must now wait before its next attempt."""
        return self.delay_after(len(self._log.add(account, now))) > timedelta(0)

    def reset(self, account: str) -> None:
        self._log.forget(account)
