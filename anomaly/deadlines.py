"""Pure deadline maths: when does a quiet household become overdue, and why.

With a fitted routine (issue #4), ``alert_after`` is the *alert* stage of the severity
ladder (anomaly/ladder.py). Without one (a new household, too few usual days) the first-cut
rule applies: a per-household quiet window (``Household.quiet_hours``, default
``ANBU_INACTIVITY_DEFAULT_HOURS``) after the last sign of life.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from anomaly.ladder import Ladder, LadderParams, ladder
from anomaly.long_on import LongOn, Run
from anomaly.routine import Routine
from core.enums import Language
from core.i18n import Catalogue

# Re-exported: the sign of life and local time are shared with notifier/ (core.localtime).
from core.localtime import SignOfLife as SignOfLife
from core.localtime import format_local as format_local
from core.localtime import household_zone
from core.localtime import latest_sign_of_life as latest_sign_of_life

MESSAGES = Catalogue(Path(__file__).with_name("messages"))


@dataclass(frozen=True)
class Deadline:
    alert_after: datetime
    explanation: str  # in the language asked for
    # The same explanation in any language, from the facts this deadline was worked out from: a
    # new case wants every language, and a second deadline for each cost the ladder again (half
    # the Python of a sweeper tick opening 500 cases, issue 15) and could read the house anew.
    explain_in: Callable[[Language], str] = field(compare=False, repr=False)
    # Routine ladder only: when an open inactivity case becomes critical (None = never raised).
    critical_after: datetime | None = None


def data_gap_pause(sign: SignOfLife, gap_after: datetime | None, gap_s: float) -> timedelta:
    """How long the quiet clock stood still for data gaps since ``sign`` (``Watch.data_gap_*``).

    The gaps were counted after one sign of life; a different (newer) one starts afresh.
    """
    if gap_after is None or gap_after != sign.at:
        return timedelta(0)
    return timedelta(seconds=gap_s)


def quiet_allowance(quiet_hours: float) -> timedelta:
    return timedelta(hours=quiet_hours)


def compute_deadline(
    sign: SignOfLife,
    *,
    quiet_hours: float,
    timezone: str,
    language: Language = Language.KO,
    routine: Routine | None = None,
    ladder_params: LadderParams | None = None,
    paused: timedelta = timedelta(0),
    on_since: datetime | None = None,
    runs: Sequence[Run] = (),
) -> Deadline:
    """``alert_after`` = the routine ladder's *alert* stage, or the fixed window without a routine.

    ``paused``: data gaps since the sign of life (:func:`data_gap_pause`); the clock runs from
    ``sign.at + paused`` (replay's shifted anchor), the explanation still names ``sign.at``.
    ``on_since``: the house has been on (not at base load) since then (``house_state``): the
    quiet-with-the-house-on deadline applies too (anomaly/house_level.py). ``runs``: the plugs on
    now since their switch-on (``channel_state``): the long-on deadline applies too (anomaly/long_on.py).
    """
    anchor = sign.at + paused
    if routine is None:

        def fixed(language: Language) -> str:
            return explain(sign, quiet_hours, timezone, language) + explain_data_gap(
                paused.total_seconds(), language
            )

        return Deadline(
            alert_after=anchor + quiet_allowance(quiet_hours), explanation=fixed(language), explain_in=fixed
        )
    on = None if on_since is None else int(on_since.timestamp())
    stages = ladder(int(anchor.timestamp()), routine, ladder_params, on, runs)
    appliance = sign.appliance if sign.source == "appliance" else None

    def routed(language: Language) -> str:
        return explain_stages(
            int(sign.at.timestamp()), appliance, routine, stages, timezone, language
        ) + explain_data_gap(paused.total_seconds(), language)

    return Deadline(
        alert_after=datetime.fromtimestamp(stages.alert, UTC),
        critical_after=datetime.fromtimestamp(stages.critical, UTC),
        explanation=routed(language),
        explain_in=routed,
    )


def explain_stages(
    last: int,
    appliance: str | None,
    routine: Routine | None,
    stages: Ladder,
    timezone: str,
    language: Language = Language.KO,
) -> str:
    """Why the ladder's alert is when it is: a plug or the house left on, or the usual gap / morning."""
    if stages.long_on is not None:
        return explain_long_on(last, appliance, stages.long_on, timezone, language)
    if stages.on_start is not None and stages.usual_on_h is not None:
        return explain_house_on(last, appliance, stages.on_start, stages.usual_on_h, timezone, language)
    return explain_routine(
        last, appliance, routine, stages.usual_gap_h, timezone, language, morning=stages.morning_alert
    )


def explain_data_gap(paused_s: float, language: Language = Language.KO) -> str:
    """The clause saying how long the quiet clock stood still for missing data ("" if not at all),
    so a deadline later than "last use + usual gap" explains itself."""
    if paused_s < 60:
        return ""
    return MESSAGES.text("explain.data_gap", language, gap_h=f"{paused_s / 3600:.1f}".removesuffix(".0"))


def explain_routine(
    last: int,
    appliance: str | None,
    routine: Routine | None,
    usual_gap_h: float,
    timezone: str,
    language: Language = Language.KO,
    *,
    morning: bool = False,
) -> str:
    """ "usually uses the kettle by 08:30; nothing since 03-01 21:10 (last: TV); quietest usual gap ...".

    ``morning``: the alert is the morning check's, so say by when every usual day had started.
    """
    since_local = format_local(datetime.fromtimestamp(last, UTC), timezone)
    if routine is None:
        sign = SignOfLife(datetime.fromtimestamp(last, UTC), "appliance", appliance)
        return explain(sign, usual_gap_h, timezone, language)
    usual = ""
    if routine.first_activity_min is not None:
        usual = MESSAGES.text(
            "explain.routine_usual",
            language,
            appliance=appliance_name(routine.first_activity_channel, language),
            usual_time=f"{routine.first_activity_min // 60:02d}:{routine.first_activity_min % 60:02d}",
        )
    latest = routine.first_activity_latest_min
    if morning and latest is not None:
        usual += MESSAGES.text(
            "explain.routine_morning", language, latest_time=f"{latest // 60:02d}:{latest % 60:02d}"
        )
    return MESSAGES.text(
        "explain.routine",
        language,
        usual=usual,
        since_local=since_local,
        appliance=appliance_name(appliance, language),
        gap_h=f"{usual_gap_h:.1f}".removesuffix(".0"),
    )


def explain_house_on(
    last: int,
    appliance: str | None,
    on_start: int,
    usual_on_h: float,
    timezone: str,
    language: Language = Language.KO,
) -> str:
    """The house-on rule's alert: "the house has stayed on since 21:40 without any use; ..."."""
    return MESSAGES.text(
        "explain.house_on",
        language,
        on_local=format_local(datetime.fromtimestamp(on_start, UTC), timezone),
        since_local=format_local(datetime.fromtimestamp(last, UTC), timezone),
        appliance=appliance_name(appliance, language),
        usual_h=f"{usual_on_h:.1f}".removesuffix(".0"),
    )


def explain_long_on(
    last: int, appliance: str | None, long_on: LongOn, timezone: str, language: Language = Language.KO
) -> str:
    """The long-on rule's alert: "TV has been on since 21:40 without a break; usually off by 23:30"."""
    run = long_on.run
    usual_end = datetime.fromtimestamp(run.start + round(long_on.usual_h * 3600), UTC)
    return MESSAGES.text(
        "explain.long_on",
        language,
        channel=appliance_name(run.channel, language),
        on_local=format_local(datetime.fromtimestamp(run.start, UTC), timezone),
        usual_end=usual_end.astimezone(household_zone(timezone)).strftime("%H:%M"),
        since_local=format_local(datetime.fromtimestamp(last, UTC), timezone),
        appliance=appliance_name(appliance, language),
    )


def explain_offline(last_data: int, timezone: str, language: Language = Language.KO) -> str:
    since_local = format_local(datetime.fromtimestamp(last_data, UTC), timezone)
    return MESSAGES.text("explain.offline", language, since_local=since_local)


def explain(sign: SignOfLife, quiet_hours: float, timezone: str, language: Language = Language.KO) -> str:
    since_local = format_local(sign.at, timezone)
    hours = f"{quiet_hours:g}"
    if sign.source == "checkin":
        return MESSAGES.text("explain.inactive_checkin", language, since_local=since_local, quiet_hours=hours)
    return MESSAGES.text(
        "explain.inactive",
        language,
        since_local=since_local,
        appliance=appliance_name(sign.appliance, language),
        quiet_hours=hours,
    )


def known_appliances(language: Language = Language.KO) -> dict[str, str]:
    """Appliance labels the catalogue names, with their names (``aggregate``: the whole-house meter)."""
    prefix = "appliance."
    return {
        key.removeprefix(prefix): MESSAGES.text(key, language)
        for key in sorted(MESSAGES.keys(language))
        if key.startswith(prefix) and key != "appliance.unknown"
    }


def appliance_name(label: str | None, language: Language = Language.KO) -> str:
    key = f"appliance.{label}" if label else "appliance.unknown"
    if key not in MESSAGES.keys(language):
        return label or MESSAGES.text("appliance.unknown", language)
    return MESSAGES.text(key, language)
