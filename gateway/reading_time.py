"""When a reading happened, whatever the device's clock (pure; docs/devices.md, "Device clocks").

A reading's ``ts`` is one of three things:

- **the device's time**, when the device sent one and its clock is right (its learned offset is
  within ``CLOCK_TOLERANCE``): kept exactly as sent, and it is also the reading's identity (the
  ``(device, channel, ts)`` key makes a redelivery harmless);
- **the device's time corrected**, when its clock is wrong (a Tasmota that never synced NTP counts
  from 1970; a clock days behind or ahead): its time plus the device's learned offset, marked
  ``clock_suspect``;
- **the arrival time**, when the message has no time at all (Shelly Gen1, most Zigbee2MQTT,
  ESPHome, Shelly's ``status/switch:N``).

The last two are *estimated*: the gateway made them up, so they cannot tell a redelivery from a
new reading (``gateway/receipts.py`` does that) and they are made unique per channel instead
(in arrival order, 1 µs apart when they would tie).

The offset of a device's clock = our receive time − its time, learned from its own traffic
(:func:`clock_offsets`):

- it is never more than the smallest lag seen since the clock last stepped (a reading cannot
  be later than its arrival): a smaller lag lowers it at once (a clock that jumped ahead, or a
  Tasmota that finally synced NTP);
- when the device's time goes back by more than ``STEP_BACK`` from one message to the next, its
  clock stepped back: the new offset keeps the two messages as far apart as we heard them; when
  it runs ahead of ours by more than ``FORWARD_JUMP_S``, the clock jumped ahead (synced at last);
- the first time a device sends a time, a time no more than ``MAX_FIRST_BEHIND`` behind arrival
  is believed (a backlog from a right clock is a backlog); beyond it, the freshest message of
  the batch is taken as just sent.

Within a batch, each clock era (the messages between two steps or jumps) gets the smallest lag
of all its messages, so a backlog keeps its spacing: 30 queued readings from a 1970 clock land
one minute apart, the last one at arrival. Redelivered messages (DUP) are placed but teach nothing:
they are old by definition.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

# A clock within this of ours is right; beyond it, its readings are corrected and staff told.
CLOCK_TOLERANCE_S = 300.0
CLOCK_TOLERANCE = timedelta(seconds=CLOCK_TOLERANCE_S)
# The device's time going back by more than this between two messages is a clock that stepped back.
STEP_BACK = timedelta(seconds=60)
# A device heard for the first time with a time up to this far behind is believed: a broker keeps
# a gateway's session (and its backlog) for hours, and a right clock must not be "corrected".
MAX_FIRST_BEHIND_S = 2 * 86400.0
MAX_FIRST_BEHIND = timedelta(seconds=MAX_FIRST_BEHIND_S)
# The device's time running ahead of ours by more than this from one message to the next is a
# clock that jumped ahead. Less is a backlog: queued messages arrive together, each later in
# device time by the plug's reporting interval (Tasmota's TelePeriod is at most an hour).
FORWARD_JUMP_S = 2 * 3600.0
TIE_BREAK = timedelta(microseconds=1)

_NEVER = float("inf")


@dataclass(slots=True)
class DeviceClock:
    """What the gateway remembers of a device's clock (the ``Device.clock_*`` columns)."""

    offset_s: float | None = None  # our time − the device's time; None until it sent a time
    device_ts: datetime | None = None  # the device's time in its last live message
    lag_s: float | None = None  # how late (by our clock) we heard that message


# One message with a device time, in arrival order: (device time, lag = received − device time in
# seconds, live). A redelivery (DUP) is not live: it is placed but teaches nothing. A plain tuple:
# one is built per message on the gateway's hot path.
ClockSample = tuple[datetime, float, bool]


def clock_offsets(clock: DeviceClock, samples: Sequence[ClockSample]) -> tuple[list[float], DeviceClock]:
    """The offset (s) to add to each sample's device time, and the device's clock afterwards."""
    offset, last_ts, last_lag = clock.offset_s, clock.device_ts, clock.lag_s
    eras: list[tuple[int, float]] = []  # (first sample, offset) per clock era
    start, era_min = 0, _NEVER
    for i, (device_ts, lag, live) in enumerate(samples):
        if not live:
            continue
        if last_ts is not None and last_lag is not None:
            if device_ts < last_ts - STEP_BACK:
                settled = _era_offset(offset, era_min)
                eras.append((start, settled))
                # The clock stepped back: keep the two messages as far apart as we heard them.
                offset = settled + lag - last_lag
                start, era_min = i, _NEVER
            elif lag < last_lag - FORWARD_JUMP_S:
                # The clock jumped ahead (a Tasmota that synced NTP at last): what came before
                # keeps the offset of its own era.
                offset = _era_offset(offset, era_min)
                eras.append((start, offset))
                start, era_min = i, _NEVER
        if lag < era_min:
            era_min = lag
        last_ts, last_lag = device_ts, lag
    settled = _era_offset(offset, era_min)
    eras.append((start, settled))
    offsets: list[float] = []
    for n, (first, era_offset) in enumerate(eras):
        end = eras[n + 1][0] if n + 1 < len(eras) else len(samples)
        if era_offset == _NEVER:  # nothing live from a device never heard: each on its own
            offsets.extend(_era_offset(None, lag) for _ts, lag, _live in samples[first:end])
        else:
            offsets.extend([era_offset] * (end - first))
    return offsets, DeviceClock(None if settled == _NEVER else settled, last_ts, last_lag)


def _era_offset(carried: float | None, era_min: float) -> float:
    if carried is None:
        if era_min == _NEVER:
            return _NEVER  # only redeliveries so far: nothing learned
        # First heard: a time not too far behind is believed (0), one ahead is corrected.
        return min(0.0, era_min) if era_min <= MAX_FIRST_BEHIND_S else era_min
    return carried if carried <= era_min else era_min


def clock_is_wrong(offset_s: float | None) -> bool:
    """Whether readings with this offset are corrected (and staff told the clock is wrong)."""
    return offset_s is not None and not -CLOCK_TOLERANCE_S <= offset_s <= CLOCK_TOLERANCE_S


def corrected(device_ts: datetime, offset_s: float, received: datetime) -> datetime:
    """A wrong clock's time at our clock: never after the reading arrived."""
    placed = device_ts + timedelta(seconds=offset_s)
    return placed if placed <= received else received
