"""A process that serves the webhooks starts its ticks only once the API answers.

``anbu up`` and ``anbu demo`` used to start the ticks first: the first call could be placed
while the API was still starting (importing, training the reply classifier), so the phone
network's webhooks for it were refused and the call was lost.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from anbu import runtime
from core.clock import SYSTEM_CLOCK
from core.db import make_engine
from core.migrate import upgrade
from core.settings import Settings
from notifier import classifier
from tests.e2e.harness import free_port


def test_on_serving_runs_once_the_api_listens_and_has_trained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'anbu.db'}"
    upgrade(url)
    engine = make_engine(url)
    port = free_port()
    settings = Settings(_env_file=None, http_port=port, database_url=url)
    monkeypatch.setattr(classifier, "_model", None)
    stop = threading.Event()
    seen: dict[str, bool] = {}

    def on_serving() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            seen["listening"] = True
        seen["trained"] = classifier._model is not None
        stop.set()

    server = threading.Thread(
        target=runtime.serve_api,
        args=(settings, engine, SYSTEM_CLOCK),
        kwargs={"stop_event": stop, "on_serving": on_serving},
    )
    server.start()
    server.join(60)
    engine.dispose()
    assert not server.is_alive()
    assert seen == {"listening": True, "trained": True}
