"""The generated Mosquitto configuration is sized for its fleet (issue 14.7, gateway/auth/mosquitto_config.py).

Mosquitto 2.0 rewrites its whole database on every save, so saving after every message costs in
proportion to the backlog (benchmarks/no_loss.py: 2.1 ms of broker CPU a message with 10,000
queued). A save about every second of the fleet's traffic bounds both what a crash loses and
what the saves cost; a small fleet still saves after every change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.auth.mosquitto_config import (
    MAX_QUEUED_MESSAGES,
    Listener,
    autosave_every,
    durability_lines,
    mosquitto_conf,
    queue_limit,
)


@pytest.mark.parametrize(
    ("plugs", "every"), [(1, 1), (60, 1), (61, 2), (500, 9), (6000, 100), (278_000, 4634)]
)
def test_a_save_comes_about_every_second_of_the_fleets_traffic(plugs: int, every: int) -> None:
    assert autosave_every(plugs) == every


def test_the_queue_holds_six_hours_of_the_fleet_and_never_less_than_before() -> None:
    assert queue_limit(1) == MAX_QUEUED_MESSAGES == 200_000
    assert queue_limit(500) == MAX_QUEUED_MESSAGES  # 180,000 needed: the old floor stays
    assert queue_limit(6000) == 6000 * 60 * 6


def test_the_configuration_carries_the_sizing(tmp_path: Path) -> None:
    lines = mosquitto_conf(
        directory=tmp_path, listeners=[Listener("127.0.0.1", 1883)], plugs=6000
    ).splitlines()
    assert "autosave_on_changes true" in lines
    assert "autosave_interval 100" in lines
    assert "max_queued_messages 2160000" in lines
    assert f"persistence_location {tmp_path.resolve() / 'data'}/" in lines
    small = mosquitto_conf(directory=tmp_path, listeners=[Listener("127.0.0.1", 1883)]).splitlines()
    assert "autosave_interval 1" in small and "max_queued_messages 200000" in small


def test_an_interval_below_one_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        durability_lines(tmp_path, every=0)
