"""Households that behave like people: a daily routine of appliance uses, in local time.

Everything here is a pure function of a :class:`HouseholdSpec` and a time. Each routine slot
(e.g. "kettle between 07:00 and 08:30, most days") is drawn per local day from an RNG seeded
by (household seed, code, slot, date), so any instant can be evaluated on its own and the
same district always behaves the same. Times are wall-clock times in the household's zone
(zoneinfo, so DST days are handled); durations are real elapsed seconds.

A household can stop at ``stop_at`` (the resident has collapsed): from then on nobody switches
anything on. How depends on ``collapse`` (issue 18: the detector tells the two apart):

* ``"in_bed"`` (the default): every plug shows only standby power, and a use under way at that
  moment ends there (they had switched things off: in bed, or gone out);
* ``"active"``: what a person leaves on stays on (a TV, a rice cooker keeping warm: the
  appliance's ``stays_on``) for the rest of the simulator's longest use (a day), and what ends by
  itself (a kettle, a microwave) finishes its use; nothing starts again.

:func:`demo_district` builds a small, fully fake district for the demo; :class:`HouseholdSpec`
is what the demo seeding reads to create Household/Resident/Contact/Device rows.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from simulator.appliances import APPLIANCE_LABELS_KO, ApplianceProfile, profile
from simulator.phone_scenarios import Behaviour, Reply
from simulator.plugs import VENDORS, Vendor

Language = Literal["ko", "en"]
Collapse = Literal["in_bed", "active"]  # how a stopper's resident collapses (module docstring)
ActivityEvent = tuple[str, datetime, float]  # (device external id, UTC time, watts)

# Invented 동 names for the demo households' addresses (the district overview groups by them).
DEMO_DONGS = ("가상1동", "가상2동", "가상3동")

EMERGENCY_REPLY_KO = "도와주세요, 넘어져서 못 일어나겠어요"
FAMILY_ACK_REPLY = "1 {code}"  # the acknowledgement our alert text asks for (notifier.ack_codes)
_LONGEST_USE = timedelta(days=1)


@dataclass(frozen=True)
class RoutineSlot:
    """One habitual use: ``device`` starts somewhere between ``earliest`` and ``latest`` (local)."""

    device: str  # DeviceSpec.external_id
    earliest: time
    latest: time  # may be before earliest: the window then crosses midnight
    probability: float = 1.0  # chance it happens on a given day
    duration_s: tuple[float, float] | None = None  # None: the appliance's typical range

    def __post_init__(self) -> None:
        if not 0.0 <= self.probability <= 1.0:
            raise ValueError(f"probability must be within 0..1, got {self.probability}")
        if self.duration_s is not None and not 0 < self.duration_s[0] <= self.duration_s[1]:
            raise ValueError(f"duration_s must be (min, max) with 0 < min <= max, got {self.duration_s}")


@dataclass(frozen=True)
class DeviceSpec:
    external_id: str  # Tasmota %topic%, or the native device_id: what appears in the MQTT topic
    vendor: Vendor
    appliance: str  # a key of simulator.appliances.PROFILES: kettle, tv, rice_cooker, microwave
    label: str = ""  # for people, e.g. "전기포트"
    on_threshold_w: float = 8.0  # above this the appliance is "in use" (standby stays below)

    def __post_init__(self) -> None:
        if self.vendor not in VENDORS:
            raise ValueError(f"vendor must be one of {sorted(VENDORS)}, got {self.vendor!r}")
        profile(self.appliance)  # raises for an unknown appliance


@dataclass(frozen=True)
class ContactSpec:
    name: str
    phone: str  # E.164
    relation: str = ""
    language: Language = "ko"
    tier: int = 1  # 1 is contacted first
    preferred_channel: Literal["sms", "call"] = "sms"
    phone_behaviour: Behaviour | None = None  # how their phone answers texts and calls (None: default)


@dataclass(frozen=True)
class HouseholdSpec:
    """A simulated household, and everything the demo needs to register it.

    Maps onto the tables: ``code``/``timezone``/``address`` → Household; ``resident_*``,
    ``language``, ``birth_year`` → Resident; ``contacts`` → Contact; ``devices`` → Device
    (``appliance``, ``on_threshold_w``; vendor "tasmota" or "native"). ``phone`` is how the
    resident answers the wellness call (give it to the Twilio emulator). ``is_stopper`` marks
    the household whose activity stops (at ``stop_at``, set by the runner or the caller).
    """

    code: str
    resident_name: str
    resident_phone: str
    devices: tuple[DeviceSpec, ...]
    routine: tuple[RoutineSlot, ...]
    timezone: str = "Asia/Seoul"
    language: Language = "ko"
    birth_year: int | None = None
    address: str = ""
    contacts: tuple[ContactSpec, ...] = ()
    phone: Behaviour = field(default_factory=Behaviour)
    seed: int = 0
    is_stopper: bool = False
    stop_at: datetime | None = None
    collapse: Collapse = "in_bed"

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # raises for an unknown zone
        ids = [d.external_id for d in self.devices]
        if len(set(ids)) != len(ids):
            raise ValueError(f"{self.code}: device external ids must be unique")
        unknown = {slot.device for slot in self.routine} - set(ids)
        if unknown:
            raise ValueError(f"{self.code}: routine uses unknown device(s) {sorted(unknown)}")
        if self.stop_at is not None and self.stop_at.tzinfo is None:
            raise ValueError(f"{self.code}: stop_at must be aware")

    def device(self, external_id: str) -> DeviceSpec:
        for device in self.devices:
            if device.external_id == external_id:
                return device
        raise KeyError(f"{self.code} has no device {external_id!r}")

    def stopping_at(self, moment: datetime | None, collapse: Collapse | None = None) -> HouseholdSpec:
        return replace(self, stop_at=moment, collapse=collapse or self.collapse)


@dataclass(frozen=True)
class Use:
    device: str
    start: datetime  # UTC
    end: datetime  # UTC, exclusive


# -- the routine, day by day -------------------------------------------------------------------


@lru_cache(maxsize=8192)
def uses_on_day(household: HouseholdSpec, local_day: date) -> tuple[Use, ...]:
    """The appliance uses that *start* on ``local_day`` (household time), sorted by start."""
    zone = ZoneInfo(household.timezone)
    uses = []
    for index, slot in enumerate(household.routine):
        drawn = _draw(household, index, slot, local_day)
        if drawn is None:
            continue
        offset_s, duration_s = drawn
        # Wall-clock arithmetic: "07:40 local" stays 07:40 local on a DST day.
        wall = datetime.combine(local_day, slot.earliest) + timedelta(seconds=offset_s)
        start = wall.replace(tzinfo=zone).astimezone(UTC)
        end = start + timedelta(seconds=duration_s)
        if household.stop_at is not None:
            if start >= household.stop_at:
                continue
            if end > household.stop_at:
                end = _end_at_collapse(household, slot.device, start, end)
        uses.append(Use(slot.device, start, end))
    return tuple(sorted(uses, key=lambda use: use.start))


def _draw(household: HouseholdSpec, index: int, slot: RoutineSlot, local_day: date) -> tuple[int, int] | None:
    """Slot ``index``'s use on ``local_day``: (seconds after ``earliest``, duration s), or None (not that day)."""
    rng = random.Random(f"{household.seed}|{household.code}|{index}|{local_day.isoformat()}")
    if rng.random() >= slot.probability:
        return None
    window_s = _seconds_of_day(slot.latest) - _seconds_of_day(slot.earliest)
    if window_s < 0:
        window_s += 86400
    offset_s = rng.randint(0, window_s)
    low, high = slot.duration_s or profile(household.device(slot.device).appliance).duration_s
    shortest = math.ceil(low)
    return offset_s, rng.randint(shortest, max(shortest, math.floor(high)))


def with_habit_at(
    household: HouseholdSpec, device: str, at: datetime, *, window: timedelta, duration: timedelta
) -> tuple[HouseholdSpec, datetime]:
    """``household`` whose ``device`` is used once a day, somewhere in a ``window`` around the time
    of day of ``at`` and for exactly ``duration``, placed so that one use starts at ``at`` (to the
    second): a habit the detector can learn from the days before, and the day's use where the demo
    needs it (anbu/demo.py). Returns the household and that use's start.

    The day's draw (which second of the window) does not depend on where the window lies, so the
    window is moved to put it on ``at``; when that would move it across midnight (a different day's
    draw), narrower windows are tried, down to none (the same second every day).
    """
    if device not in {d.external_id for d in household.devices}:
        raise KeyError(f"{household.code} has no device {device!r}")
    zone = ZoneInfo(household.timezone)
    local = _require_aware(at).astimezone(zone).replace(microsecond=0)
    tod = local.hour * 3600 + local.minute * 60 + local.second
    others = tuple(slot for slot in household.routine if slot.device != device)
    seconds = round(duration.total_seconds())
    widths = [round(window.total_seconds()) - k * 600 for k in range(6)] + [0]
    for width in (w for w in widths if w >= 0):
        for back in (0, 1):  # the use drawn on its own local day, or on the day before (past midnight)
            day = local.date() - timedelta(days=back)
            probe = RoutineSlot(device, time(0), _clock(width), 1.0, (seconds, seconds))
            drawn = _draw(replace(household, routine=(*others, probe)), len(others), probe, day)
            assert drawn is not None  # probability 1
            offset = drawn[0]
            if (offset <= tod) if back == 0 else (offset > tod):
                earliest = (tod - offset) % 86400
                slot = RoutineSlot(
                    device, _clock(earliest), _clock(earliest + width), 1.0, (seconds, seconds)
                )
                moved = replace(household, routine=(*others, slot))
                starts = [u.start for u in uses_on_day(moved, day) if u.device == device]
                assert starts == [local.astimezone(UTC)], (starts, local)
                return moved, starts[0]
    raise AssertionError("unreachable: a window of 0 s always fits")  # pragma: no cover


def _clock(seconds: int) -> time:
    seconds %= 86400
    return time(seconds // 3600, seconds // 60 % 60, seconds % 60)


def _end_at_collapse(household: HouseholdSpec, device: str, start: datetime, end: datetime) -> datetime:
    """When a use under way at the collapse (``stop_at``) ends: there, in bed; left on, while active."""
    assert household.stop_at is not None
    if household.collapse == "in_bed":
        return household.stop_at
    if profile(household.device(device).appliance).stays_on:
        return start + _LONGEST_USE - timedelta(seconds=1)  # on until nobody comes: the longest use
    return end  # ends by itself


def power_at(household: HouseholdSpec, device: DeviceSpec | str, t: datetime) -> float:
    """Watts drawn by ``device`` at instant ``t`` (aware)."""
    spec = household.device(device) if isinstance(device, str) else device
    local_day = _require_aware(t).astimezone(ZoneInfo(household.timezone)).date()
    uses = [
        use
        for day in (local_day - timedelta(days=1), local_day)  # last night's TV runs past midnight
        for use in uses_on_day(household, day)
        if use.device == spec.external_id
    ]
    return _power(profile(spec.appliance), uses, [use.start for use in uses], t)


def activity_events(
    household: HouseholdSpec, start: datetime, end: datetime, *, report_interval_s: float = 300.0
) -> Iterator[ActivityEvent]:
    """Readings in ``[start, end)``, in time order: every plug at each multiple of
    ``report_interval_s`` (Unix-time aligned) and at every change of power."""
    _require_aware(start)
    _require_aware(end)
    if report_interval_s <= 0:
        raise ValueError("report_interval_s must be positive")
    streams = [_device_events(household, d, start, end, report_interval_s) for d in household.devices]
    return heapq.merge(*streams, key=lambda event: (event[1], event[0]))


def _device_events(
    household: HouseholdSpec, device: DeviceSpec, start: datetime, end: datetime, interval_s: float
) -> Iterator[ActivityEvent]:
    zone = ZoneInfo(household.timezone)
    appliance = profile(device.appliance)
    first_day = start.astimezone(zone).date() - timedelta(days=1)
    days = (end.astimezone(zone).date() - first_day).days + 1
    uses = sorted(
        (
            use
            for offset in range(days)
            for use in uses_on_day(household, first_day + timedelta(days=offset))
            if use.device == device.external_id
        ),
        key=lambda use: use.start,
    )
    starts = [use.start for use in uses]
    points = set(_grid(start, end, interval_s))
    for use in uses:
        steps = [use.start + timedelta(seconds=s) for s in appliance.phase_offsets()]
        points.update(p for p in (use.start, *steps, use.end) if start <= p < end and p <= use.end)
    for ts in sorted(points):
        yield device.external_id, ts, _power(appliance, uses, starts, ts)


def _power(
    appliance: ApplianceProfile, uses: Sequence[Use], starts: Sequence[datetime], t: datetime
) -> float:
    j = bisect.bisect_right(starts, t) - 1
    while j >= 0 and uses[j].start > t - _LONGEST_USE:
        if t < uses[j].end:
            return appliance.power_during((t - uses[j].start).total_seconds())
        j -= 1
    return appliance.standby_w


def _grid(start: datetime, end: datetime, interval_s: float) -> Iterator[datetime]:
    k = math.ceil(start.timestamp() / interval_s)
    stop = end.timestamp()
    while k * interval_s < stop:
        yield datetime.fromtimestamp(k * interval_s, UTC)
        k += 1


def _seconds_of_day(moment: time) -> int:
    return moment.hour * 3600 + moment.minute * 60 + moment.second


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("times must be aware (UTC or with a zone)")
    return moment


# -- a demo district -------------------------------------------------------------------------------

_RESIDENTS_KO = (
    "김순자",
    "이영자",
    "박정순",
    "최옥자",
    "정말순",
    "강복순",
    "조영희",
    "윤금자",
    "장순례",
    "임분이",
)
_FAMILY_KO = (
    "김민준",
    "이서연",
    "박지훈",
    "최수아",
    "정현우",
    "강지민",
    "조은비",
    "윤도현",
    "장하늘",
    "임소율",
)
_RELATIONS_KO = ("딸", "아들", "며느리", "조카", "사위")
_OK_REPLIES_KO = ("네, 괜찮아요. 고마워요.", "네 잘 지내요.", "괜찮아요, 밥 먹었어요.")

# (appliance, earliest, latest, probability) — a typical day; each household shifts it a little.
_BASE_ROUTINE: tuple[tuple[str, time, time, float], ...] = (
    ("kettle", time(7, 0), time(8, 30), 0.95),
    ("kettle", time(14, 45), time(15, 15), 0.7),
    ("rice_cooker", time(11, 15), time(11, 45), 0.8),
    ("rice_cooker", time(17, 45), time(18, 15), 0.85),
    ("microwave", time(11, 50), time(12, 20), 0.6),
    ("tv", time(18, 50), time(19, 20), 0.9),
)


def demo_district(
    seed: int = 7,
    *,
    households: int = 8,
    stopper_index: int = 0,
    collapse: Collapse = "in_bed",
    active_index: int | None = None,
) -> list[HouseholdSpec]:
    """A small fake district in Seoul's Gangnam-gu: households "GANGNAM-001"…, every name, phone
    number (+8210 0000 xxxx) and address invented. The last household that is not a stopper speaks
    English. ``stopper_index`` is the household that stops, in bed or while active (``collapse``);
    ``active_index``, if given, a second stopper who collapses while active, with only a kettle and
    a TV (the TV is what they leave on; no rice cooker keeping warm beside it). Stoppers' residents
    answer the wellness call asking for help."""
    if households < 1:
        raise ValueError("households must be at least 1")
    if not 0 <= stopper_index < households:
        raise ValueError(f"stopper_index must be within 0..{households - 1}")
    if active_index is not None and (active_index == stopper_index or not 0 <= active_index < households):
        raise ValueError(f"active_index must be within 0..{households - 1} and not the stopper's")
    rng = random.Random(seed)
    stoppers = {stopper_index, active_index}
    english_index = next((i for i in reversed(range(households)) if i not in stoppers), None)
    taken: set[str] = set()
    return [
        _demo_household(
            i,
            rng,
            seed=seed,
            stopper=i in stoppers,
            english=i == english_index,
            taken=taken,
            tv_only=i == active_index,
        ).stopping_at(None, collapse if i == stopper_index else "active" if i == active_index else None)
        for i in range(households)
    ]


def _demo_household(
    i: int,
    rng: random.Random,
    *,
    seed: int,
    stopper: bool,
    english: bool,
    taken: set[str],
    tv_only: bool = False,
) -> HouseholdSpec:
    code = f"GANGNAM-{i + 1:03d}"
    language: Language = "en" if english else "ko"
    appliances = ["kettle", *rng.sample(["tv", "rice_cooker", "microwave"], k=rng.randint(1, 3))]
    if tv_only:
        appliances = ["kettle", "tv"]
    devices = tuple(
        _demo_device(appliance, rng, tasmota=(i + n) % 2 == 0, taken=taken)
        for n, appliance in enumerate(appliances)
    )
    shift = timedelta(minutes=rng.choice((-45, -30, -15, 0, 15, 30, 45)))
    by_appliance = {d.appliance: d.external_id for d in devices}
    routine = tuple(
        RoutineSlot(by_appliance[appliance], _shifted(earliest, shift), _shifted(latest, shift), probability)
        for appliance, earliest, latest, probability in _BASE_ROUTINE
        if appliance in by_appliance
    )
    resident = "Eleanor Park" if english else _RESIDENTS_KO[i % len(_RESIDENTS_KO)]
    contacts = tuple(
        ContactSpec(
            name="Daniel Park" if english else _FAMILY_KO[(i + k) % len(_FAMILY_KO)],
            phone=f"+82100000{2000 + i * 10 + k}",
            relation="son" if english else rng.choice(_RELATIONS_KO),
            language=language,
            tier=k + 1,
            # The first family member reads the alert text and takes it on with its code.
            phone_behaviour=Behaviour(sms_reply=FAMILY_ACK_REPLY) if k == 0 else None,
        )
        for k in range(rng.randint(1, 2))
    )
    return HouseholdSpec(
        code=code,
        resident_name=resident,
        resident_phone=f"+82100000{1001 + i}",
        devices=devices,
        routine=routine,
        language=language,
        birth_year=rng.randint(1932, 1950),
        # A neighbourhood by index, not by the generator: the district overview groups by it, and
        # drawing it would shift every random choice after it (and the evaluations seeded on them).
        address=f"서울특별시 강남구 가상로 {10 + i}길 {rng.randint(1, 99)} ({DEMO_DONGS[i % len(DEMO_DONGS)]}, 가상 주소)",
        contacts=contacts,
        phone=_demo_phone(rng, stopper=stopper, english=english),
        seed=seed * 1000 + i,
        is_stopper=stopper,
    )


def _demo_device(appliance: str, rng: random.Random, *, tasmota: bool, taken: set[str]) -> DeviceSpec:
    while True:
        suffix = f"{rng.getrandbits(24):06X}"
        external_id = f"tasmota_{suffix}" if tasmota else f"anbu-plug-{suffix.lower()}"
        if external_id not in taken:
            taken.add(external_id)
            break
    return DeviceSpec(
        external_id=external_id,
        vendor="tasmota" if tasmota else "native",
        appliance=appliance,
        label=APPLIANCE_LABELS_KO[appliance],
    )


def _demo_phone(rng: random.Random, *, stopper: bool, english: bool) -> Behaviour:
    if stopper:  # says it twice, in case the script asks again
        return Behaviour(replies=(Reply.say(EMERGENCY_REPLY_KO, 0.88), Reply.say(EMERGENCY_REPLY_KO, 0.9)))
    if english:
        return Behaviour(replies=(Reply.say("Yes, I'm fine, thank you.", 0.94),))
    return Behaviour(replies=(Reply.say(rng.choice(_OK_REPLIES_KO), round(rng.uniform(0.8, 0.97), 2)),))


def _shifted(moment: time, shift: timedelta) -> time:
    return (datetime.combine(date(2000, 1, 1), moment) + shift).time()


def phone_behaviours(households: Sequence[HouseholdSpec]) -> dict[str, Behaviour]:
    """Phone number → how its owner answers (residents, and family members who reply): hand
    this to the Twilio emulator."""
    behaviours = {h.resident_phone: h.phone for h in households}
    for household in households:
        behaviours.update({c.phone: c.phone_behaviour for c in household.contacts if c.phone_behaviour})
    return behaviours
