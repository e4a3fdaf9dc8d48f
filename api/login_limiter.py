"""Failed-login limiter: N failures per (username, client) within a window → 429 until one ages out.

Kept in memory per API process: it slows guessing, it is not an audit log, and losing it on
restart is harmless. Time comes from the injected clock.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from datetime import datetime, timedelta

MAX_FAILURES = 5
WINDOW = timedelta(minutes=5)
MAX_KEYS = 10_000  # bound memory under a spray of usernames


class LoginLimiter:
    def __init__(
        self, *, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW, max_keys: int = MAX_KEYS
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.max_keys = max_keys
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, client: str) -> str:
        return f"{username}\x00{client}"

    def retry_after(self, key: str, now: datetime) -> int | None:
        """Seconds until another attempt is allowed, or None when not limited."""
        with self._lock:
            failures = self._prune(key, now)
            if failures is None or len(failures) < self.max_failures:
                return None
            # Allowed again when the failure that completed the limit ages out of the window.
            oldest_relevant = failures[-self.max_failures]
            return max(1, math.ceil((oldest_relevant + self.window - now).total_seconds()))

    def record_failure(self, key: str, now: datetime) -> None:
        with self._lock:
            failures = self._prune(key, now)
            if failures is None:
                failures = deque(maxlen=self.max_failures)
                self._failures[key] = failures
                while len(self._failures) > self.max_keys:
                    self._failures.popitem(last=False)
            self._failures.move_to_end(key)
            failures.append(now)

    def reset(self, key: str) -> None:
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
