"""One household's detection, fed readings in time order: the engine of ``anbu replay`` and ``anbu eval``.

Causal by construction: each call sees only the readings so far. It learns as a new
deployment would: automatic loads and the routine are refitted at every local midnight
from the last weeks of its own history; until the routine has enough usable days, the
conservative fixed rule (``fallback_hours``) applies.

Whole-house steps are detected on the aggregate minus the sub-metered channels
(:func:`anomaly.activity.residual_w`), so a metered appliance's cycle is judged on its own channel.

Data gaps are not inactivity: a gap longer than ``offline_after_s`` opens a device/data
case (kind ``device_offline``, for staff) and pauses the inactivity clock for the gap.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from anomaly.activity import (
    AGGREGATE,
    AutomaticParams,
    PowerEvent,
    StepDetector,
    StepParams,
    is_human,
    learn_automatic,
    residual_w,
)
from anomaly.deadlines import explain_data_gap, explain_offline, explain_stages
from anomaly.house_level import ON_APPLIANCES, Bucket, HouseLevel, HouseParams, fit_house, on_since
from anomaly.ladder import Ladder, LadderParams, ladder
from anomaly.long_on import Run, fit_long_on, programme_runs, switch_stream
from anomaly.routine import FitParams, Routine, add_coverage, fit_routine
from core.enums import CaseKind, Language, Severity


@dataclass(frozen=True)
class DetectorParams:
    fallback_hours: float = 12.0  # first-cut fixed rule while the routine is not ready
    use_routine: bool = True
    filter_automatic: bool = True
    # Whole-house steps are looked for in what the sub-metered channels do not explain, so a
    # metered water heater's step is that channel's event, not a second, "human" one.
    aggregate_residual: bool = True
    offline_after_s: int = 2 * 3600
    coverage_gap_s: int = 5 * 60  # readings closer than this cover the time between them
    ladder: LadderParams = field(default_factory=LadderParams)
    fit: FitParams = field(default_factory=FitParams)
    step: StepParams = field(default_factory=StepParams)
    automatic: AutomaticParams = field(default_factory=AutomaticParams)
    house: HouseParams = field(default_factory=HouseParams)


@dataclass(frozen=True)
class Alert:
    """A case that starts escalation (inactivity) or asks staff to check a device (offline)."""

    household_id: str
    at: int
    kind: str
    severity: str
    explanation: str

    def to_json(self) -> dict[str, object]:
        return {
            "household_id": self.household_id,
            "at": self.at,
            "kind": self.kind,
            "severity": self.severity,
            "explanation": self.explanation,
        }


def minute_residual(ts: int, readings: Mapping[str, float], detectors: Mapping[str, StepDetector]) -> float:
    """This minute's aggregate minus each sub-meter's reading of the minute, or its last one within
    ``max_gap_s`` (a plug that skipped a minute is still on). The live gateway subtracts each
    channel's latest reading the same way (:func:`anomaly.activity.residual_w`)."""
    sub_meters = [
        readings[channel] if channel in readings else detector.latest(ts)
        for channel, detector in detectors.items()
        if channel != AGGREGATE
    ]
    sub_meters += [w for channel, w in readings.items() if channel != AGGREGATE and channel not in detectors]
    return residual_w(readings[AGGREGATE], sub_meters)


class HouseholdDetector:
    def __init__(
        self,
        household_id: str,
        timezone: str,
        params: DetectorParams | None = None,
        language: Language = Language.EN,
    ) -> None:
        self.household_id = household_id
        self.timezone = timezone
        self.zone = ZoneInfo(timezone)
        self.params = params or DetectorParams()
        self.language = language
        self.detectors: dict[str, StepDetector] = {}
        self.events: list[PowerEvent] = []  # every switch-on, human or not (for learning)
        self.coverage: dict[int, int] = {}  # UTC hour start -> seconds of data
        self.automatic: dict[str, set[int]] = {}
        self.routine: Routine | None = None
        self.first_ts: int | None = None
        self.last_data_ts: int | None = None
        self.last_human: int | None = None
        self.last_channel: str | None = None
        self.anchor: int | None = None  # last_human shifted by data gaps since
        self.current: Ladder | None = None
        self.alerted = False
        # Staff-only warning stage (never escalates, not written by replay): kept so the
        # evaluation can say how early, and how often wrongly, staff would have been told.
        self.warned = False
        self.warnings: list[int] = []
        self.next_fit: int | None = None
        self.alerts: list[Alert] = []
        # Quiet with the house on (anomaly/house_level.py): closed half hours and the on-clock.
        self.house = HouseLevel(self.params.house)
        self.buckets: list[Bucket] = []
        self.on_since: int | None = None
        # On far longer than usual (anomaly/long_on.py): each plug's current programme (its
        # switch-on) and every switch-off, to learn how long its runs usually last.
        self.programmes: dict[str, PowerEvent] = {}
        self.switch_offs: list[tuple[int, str]] = []

    # ------------------------------------------------------------------ feeding

    def feed(self, ts: int, readings: dict[str, float]) -> None:
        """All channels' readings of one minute (``ts`` unix s, strictly increasing)."""
        if self.last_data_ts is not None and ts <= self.last_data_ts:
            return  # late or repeated minute: never rewrite the past
        self._advance(ts)
        if self.first_ts is None:
            self.first_ts = ts
        add_coverage(self.coverage, self.last_data_ts, ts, self.params.coverage_gap_s)
        self.last_data_ts = ts
        level: float | None = None
        if AGGREGATE in readings:
            # The whole house first: when it and a plug step in the same minute, the plug (the
            # more telling name) is the "last activity", as in the live gateway.
            level = readings[AGGREGATE]
            if self.params.aggregate_residual:
                level = minute_residual(ts, readings, self.detectors)
            self._feed_channel(AGGREGATE, ts, level)
        for channel, power in readings.items():
            if channel != AGGREGATE:
                self._feed_channel(channel, ts, power)
        if self.params.use_routine:
            self._feed_house(ts, level)

    def _feed_house(self, ts: int, level: float | None) -> None:
        lamps = [d.is_on for ch, d in self.detectors.items() if ch in ON_APPLIANCES]
        bucket = self.house.feed(ts, level, any(lamps) if lamps else None)
        if bucket is None:
            return
        last = self.buckets[-1] if self.buckets else None
        self.buckets.append(bucket)
        house = self.routine.house if self.routine is not None else None
        was = self.on_since
        self.on_since = on_since(was, last, bucket, house.base_w if house else None, self.params.house)
        if self.on_since != was and house is not None:
            self._rearm()

    def _feed_channel(self, channel: str, ts: int, power_w: float) -> None:
        detector = self.detectors.get(channel)
        if detector is None:
            detector = self.detectors[channel] = StepDetector(channel, self.params.step)
        was_on = detector.is_on
        event = detector.feed(ts, power_w)
        if event is not None:
            if not detector.is_aggregate:
                self.programmes[channel] = event
            self._on_event(event)
        elif was_on != detector.is_on and not detector.is_aggregate:
            if not detector.is_on:
                self.switch_offs.append((ts, channel))
            if self._judges_runs(channel):
                self._rearm()  # switched off, or back on within its programme: the long-on rule changes

    def _judges_runs(self, channel: str) -> bool:
        return self.routine is not None and channel in self.routine.long_on and channel in self.programmes

    def runs(self) -> list[Run]:
        """The plugs on now, since their switch-on (live: ``anomaly.watch.plug_runs``)."""
        return [
            Run(channel, event.ts, event.level_w)
            for channel, event in self.programmes.items()
            if self.detectors[channel].is_on
        ]

    def finish(self, end: int) -> None:
        """Run the clock to ``end`` without new data (end of a recording)."""
        self._advance_to(end)

    # ------------------------------------------------------------------ internals

    def _advance(self, ts: int) -> None:
        """Move the clock to ``ts``: data-gap cases, then midnight refits and due alerts in time order."""
        prev = self.last_data_ts
        if prev is not None and ts - prev > self.params.offline_after_s:
            offline_at = prev + self.params.offline_after_s
            self._advance_to(offline_at)
            self._emit(
                offline_at,
                CaseKind.DEVICE_OFFLINE,
                Severity.WARNING,
                explain_offline(prev, self.timezone, self.language),
            )
            if self.anchor is not None:  # no data is not no activity: pause the quiet clock
                self.anchor += ts - prev
                self._rearm()
        self._advance_to(ts)

    def _advance_to(self, ts: int) -> None:
        if self.next_fit is None:
            self.next_fit = self._next_local_midnight(ts)
        while self.next_fit <= ts:
            self._check_due(self.next_fit)
            self._refit(self.next_fit)
            self.next_fit = self._next_local_midnight(self.next_fit + 1)
        self._check_due(ts)

    def _check_due(self, ts: int) -> None:
        if self.current is not None and not self.warned and ts >= self.current.warning:
            self.warned = True
            self.warnings.append(max(self.current.warning, ts))  # known now, not before
        if self.current is not None and not self.alerted and ts >= self.current.alert:
            self.alerted = True
            self._emit(self.current.alert, CaseKind.INACTIVITY, Severity.ALERT, self._explain())

    def _on_event(self, event: PowerEvent) -> None:
        if self.params.filter_automatic and not is_human(event, self.automatic):
            self.events.append(event)
            return
        self.events.append(event)
        self.last_human = self.anchor = event.ts
        self.last_channel = event.channel
        self.alerted = self.warned = False  # activity resumed: a new quiet episode starts
        self._rearm()

    def _rearm(self) -> None:
        if self.anchor is None:
            self.current = None
            return
        if self.params.use_routine and self.routine is not None:
            self.current = ladder(self.anchor, self.routine, self.params.ladder, self.on_since, self.runs())
        else:
            alert = self.anchor + int(self.params.fallback_hours * 3600)
            crit = alert + int(self.params.ladder.critical_after_h * 3600)
            self.current = Ladder(alert, alert, alert, crit, self.params.fallback_hours)

    def _refit(self, now: int) -> None:
        window_start = now - self.params.fit.window_days * 86400
        self.events = [e for e in self.events if e.ts >= window_start]
        self.switch_offs = [o for o in self.switch_offs if o[0] >= window_start]
        self.coverage = {h: s for h, s in self.coverage.items() if h >= window_start}
        # Half hours wholly before the refit, as the live fit reads them (anomaly.training.house_buckets).
        self.buckets = [b for b in self.buckets if b.start >= window_start]
        closed = [b for b in self.buckets if b.start + self.params.house.bucket_s <= now]
        assert self.first_ts is not None
        days = (now - max(self.first_ts, window_start)) / 86400
        if self.params.filter_automatic:
            self.automatic = learn_automatic(
                self.events, days=days, timezone=self.timezone, params=self.params.automatic
            )
        if not self.params.use_routine:
            return
        human = [(e.ts, e.channel) for e in self.events if is_human(e, self.automatic)]
        fitted = fit_routine(
            human,
            self.coverage,
            now=now,
            timezone=self.timezone,
            automatic=self.automatic,
            params=self.params.fit,
        )
        if fitted is not None:
            house = fit_house(
                closed,
                (ts for ts, _ch in human),
                now=now,
                timezone=self.timezone,
                params=self.params.house,
            )
            switches = switch_stream(self.events, self.switch_offs)
            long_on = fit_long_on(programme_runs(switches, now=now), self.automatic, timezone=self.timezone)
            fitted = replace(fitted, house=house, long_on=long_on)
        # Through JSON, as the live path stores and loads it, so both compute identical ladders.
        self.routine = Routine.from_json(fitted.to_json()) if fitted is not None else None
        self._rearm()

    def _next_local_midnight(self, ts: int) -> int:
        local = datetime.fromtimestamp(ts, UTC).astimezone(self.zone)
        midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), self.zone)
        return int(midnight.timestamp())

    def _explain(self) -> str:
        assert self.last_human is not None and self.current is not None and self.anchor is not None
        return explain_stages(
            self.last_human,
            self.last_channel,
            self.routine if self.params.use_routine else None,
            self.current,
            self.timezone,
            self.language,
        ) + explain_data_gap(self.anchor - self.last_human, self.language)

    def _emit(self, at: int, kind: CaseKind, severity: Severity, explanation: str) -> None:
        self.alerts.append(Alert(self.household_id, at, kind.value, severity.value, explanation))
