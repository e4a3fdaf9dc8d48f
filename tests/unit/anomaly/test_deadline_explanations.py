"""Why a deadline is when it is, word for word, in both languages (anomaly/deadlines.py).

The explanation is what a caseworker reads on the case page and in the alert SMS; each rule
(fixed window, check-in, routine, morning check, house left on, a plug left on, data gaps, a
silent gateway) says its own facts in the household's local time. Asserted whole: a clause
dropped, a number rounded differently or a time written without its leading zero is a wrong
explanation.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from anomaly.deadlines import (
    SignOfLife,
    appliance_name,
    compute_deadline,
    data_gap_pause,
    explain,
    explain_data_gap,
    explain_house_on,
    explain_long_on,
    explain_offline,
    explain_routine,
    explain_stages,
    known_appliances,
)
from anomaly.house_level import HouseModel
from anomaly.ladder import HOUSE_ON, Ladder, ladder
from anomaly.long_on import LongOn, Run
from anomaly.routine import HOURS_PER_WEEK, Routine
from core.enums import Language

SEOUL = "Asia/Seoul"
T0 = datetime(2026, 3, 1, 12, 10, tzinfo=UTC)  # 03-01 21:10 in Seoul
LAST = int(T0.timestamp())


def routine(first_min: int | None = 7 * 60 + 5, latest_min: int | None = 9 * 60 + 5) -> Routine:
    return Routine(
        SEOUL,
        fitted_at=LAST,
        days_used=14,
        days_excluded=[],
        p_active=[0.0] * 168,
        quiet_gap_h=[6.0] * 168,
        first_activity_min=first_min,
        first_activity_channel="kettle",
        first_activity_latest_min=latest_min,
    )


def stages(**facts: object) -> Ladder:
    return Ladder(LAST, LAST, LAST, LAST, usual_gap_h=6.5, **facts)  # type: ignore[arg-type]


# The heater went on at 20:09:59; its usual run is 1.75 h, so it is usually off by 21:54:59 (21:54).
LONG_ON = LongOn(alert=LAST, run=Run("heater", LAST - 3601, 1500.0), usual_h=1.75)

EXPECTED_EN = {
    "routine": "usually uses the kettle by 07:05; nothing since 03-01 21:10 (last: microwave); "
    "quietest usual gap at this hour: 6.5 h.",
    "morning": "usually uses the kettle by 07:05; every usual day had started by 09:05; "
    "nothing since 03-01 21:10 (last: microwave); quietest usual gap at this hour: 6.5 h.",
    "house_on": "The house has stayed on (lights, TV or heater) since 03-01 19:05 without any use: "
    "nothing since 03-01 21:10 (last: kettle); at this hour, quiet with the house on usually ends "
    "within 2 h.",
    "long_on": "heater has been on since 03-01 20:09 without a break; usually off by 21:54. "
    "Nothing else since 03-01 21:10 (last: kettle).",
    "offline": "No data from this household's plugs since 03-01 21:10: check the device or its "
    "Wi-Fi (not a sign about the resident).",
    "inactive": "No appliance use since 03-01 21:10 (last: TV). This household alerts after 6.5 h of quiet.",
    "checkin": "Last check-in at 03-01 21:10; no appliance use for 12 h since.",
    "gap": " The quiet clock does not count 1.5 h without any data from the plugs.",
}
EXPECTED_KO = {
    "routine": "평소 07:05까지 전기포트 사용; 03-01 21:10 이후 사용 없음 (마지막: 전자레인지); "
    "이 시간대 평소 가장 긴 공백: 6.5시간.",
    "morning": "평소 07:05까지 전기포트 사용; 평소에는 늦어도 09:05까지 하루 시작; "
    "03-01 21:10 이후 사용 없음 (마지막: 전자레인지); 이 시간대 평소 가장 긴 공백: 6.5시간.",
    "house_on": "03-01 19:05부터 집 안 전기(조명·TV·난방)가 켜진 채 아무 사용이 없습니다: "
    "03-01 21:10 이후 사용 없음 (마지막: 전기포트); 이 시간대에 켜진 채 조용한 시간은 보통 2시간 안에 끝납니다.",
    "long_on": "전기난로이(가) 03-01 20:09부터 쉬지 않고 켜져 있습니다. 평소에는 21:54까지 꺼집니다. "
    "03-01 21:10 이후 다른 사용 없음 (마지막: 전기포트).",
    "offline": "03-01 21:10 이후 이 가구의 플러그에서 데이터가 없습니다: 기기나 와이파이를 확인하세요 "
    "(거주자 상태와 무관).",
    "inactive": "03-01 21:10 이후 가전 사용이 없습니다 (마지막: TV). 이 가구는 6.5시간 동안 사용이 없으면 알립니다.",
    "checkin": "03-01 21:10에 마지막으로 안부를 확인했습니다. 이후 12시간 동안 가전 사용이 없습니다.",
    "gap": " 플러그 데이터가 전혀 없던 1.5시간은 조용한 시간에서 뺐습니다.",
}
LANGUAGES = [(Language.EN, EXPECTED_EN), (Language.KO, EXPECTED_KO)]


@pytest.mark.parametrize(("language", "expected"), LANGUAGES)
def test_each_rule_explains_itself_in_the_households_time_and_language(
    language: Language, expected: dict[str, str]
) -> None:
    assert explain_routine(LAST, "microwave", routine(), 6.5, SEOUL, language) == expected["routine"]
    assert (
        explain_routine(LAST, "microwave", routine(), 6.5, SEOUL, language, morning=True)
        == expected["morning"]
    )
    on_start = LAST - 2 * 3600 - 5 * 60
    assert explain_house_on(LAST, "kettle", on_start, 2.0, SEOUL, language) == expected["house_on"]
    assert explain_long_on(LAST, "kettle", LONG_ON, SEOUL, language) == expected["long_on"]
    assert explain_offline(LAST, SEOUL, language) == expected["offline"]
    assert explain(SignOfLife(T0, "appliance", "tv"), 6.5, SEOUL, language) == expected["inactive"]
    assert explain(SignOfLife(T0, "checkin", None), 12, SEOUL, language) == expected["checkin"]
    assert explain_data_gap(5400, language) == expected["gap"]


def test_korean_is_the_default_language_of_every_explanation() -> None:
    assert explain_routine(LAST, "microwave", routine(), 6.5, SEOUL) == EXPECTED_KO["routine"]
    on_start = LAST - 2 * 3600 - 5 * 60
    assert explain_house_on(LAST, "kettle", on_start, 2.0, SEOUL) == EXPECTED_KO["house_on"]
    assert explain_long_on(LAST, "kettle", LONG_ON, SEOUL) == EXPECTED_KO["long_on"]
    assert explain_offline(LAST, SEOUL) == EXPECTED_KO["offline"]
    assert explain(SignOfLife(T0, "appliance", "tv"), 6.5, SEOUL) == EXPECTED_KO["inactive"]
    assert explain_data_gap(5400) == EXPECTED_KO["gap"]
    assert explain_stages(LAST, "microwave", routine(), stages(), SEOUL) == EXPECTED_KO["routine"]
    assert appliance_name("kettle") == "전기포트"


def test_a_routine_without_a_usual_first_use_says_only_what_it_knows() -> None:
    bare = routine(first_min=None, latest_min=None)
    assert explain_routine(LAST, "microwave", bare, 6.0, SEOUL, Language.EN, morning=True) == (
        "nothing since 03-01 21:10 (last: microwave); quietest usual gap at this hour: 6 h."
    )
    # Without a routine at all: the fixed window's words, the usual gap as its length.
    assert explain_routine(LAST, "microwave", None, 6.0, SEOUL, Language.EN) == (
        "No appliance use since 03-01 21:10 (last: microwave). This household alerts after 6 h of quiet."
    )
    assert explain_routine(LAST, None, None, 6.0, SEOUL, Language.EN) == (
        "No appliance use since 03-01 21:10 (last: appliance). This household alerts after 6 h of quiet."
    )


def test_the_ladder_explains_the_rule_that_set_its_alert() -> None:
    on_start = LAST - 2 * 3600 - 5 * 60
    en = Language.EN
    assert (
        explain_stages(LAST, "kettle", routine(), stages(long_on=LONG_ON), SEOUL, en)
        == EXPECTED_EN["long_on"]
    )
    house_on = stages(on_start=on_start, usual_on_h=2.0)
    assert explain_stages(LAST, "kettle", routine(), house_on, SEOUL, en) == EXPECTED_EN["house_on"]
    # A plug left on outranks the house left on (both may hold at once).
    both = stages(long_on=LONG_ON, on_start=on_start, usual_on_h=2.0)
    assert explain_stages(LAST, "kettle", routine(), both, SEOUL, en) == EXPECTED_EN["long_on"]
    # The house-on rule needs both its facts; otherwise the routine's gap or morning explains.
    for partial in (stages(on_start=on_start), stages(usual_on_h=2.0)):
        assert explain_stages(LAST, "microwave", routine(), partial, SEOUL, en) == EXPECTED_EN["routine"]
    morning = stages(morning_alert=True)
    assert explain_stages(LAST, "microwave", routine(), morning, SEOUL, en) == EXPECTED_EN["morning"]


def test_a_data_gap_is_said_from_a_minute_on_in_tenths_of_an_hour() -> None:
    # (A counted gap is over two hours in practice, gateway/data_gaps.py; under a minute is none.)
    assert explain_data_gap(0, Language.EN) == ""
    assert explain_data_gap(59, Language.EN) == ""
    assert explain_data_gap(60, Language.EN) != ""
    # 1 h 27 min 1 s is 1.4503 h: said as 1.5 (tenths of an hour, rounded)
    assert explain_data_gap(5221, Language.EN) == (
        " The quiet clock does not count 1.5 h without any data from the plugs."
    )
    assert (
        explain_data_gap(7200, Language.EN)
        == " The quiet clock does not count 2 h without any data from the plugs."
    )


def test_data_gaps_pause_the_clock_only_for_the_sign_of_life_they_were_counted_after() -> None:
    sign = SignOfLife(T0, "appliance", "tv")
    assert data_gap_pause(sign, T0, 5400.0) == timedelta(seconds=5400)
    assert data_gap_pause(sign, T0 - timedelta(minutes=1), 5400.0) == timedelta(0)
    assert data_gap_pause(sign, None, 5400.0) == timedelta(0)


def test_a_paused_clock_moves_the_deadline_and_says_why_but_names_the_real_last_use() -> None:
    sign = SignOfLife(T0, "appliance", "tv")
    d = compute_deadline(
        sign, quiet_hours=6.5, timezone=SEOUL, language=Language.EN, paused=timedelta(seconds=5400)
    )
    assert d.alert_after == T0 + timedelta(hours=8)
    assert d.critical_after is None
    assert d.explanation == EXPECTED_EN["inactive"] + EXPECTED_EN["gap"]


def test_appliance_labels_are_named_in_the_language_or_shown_as_they_are() -> None:
    assert appliance_name("kettle", Language.EN) == "kettle"
    assert appliance_name("aquarium_pump", Language.KO) == "aquarium_pump"
    assert appliance_name(None, Language.KO) == "가전"
    assert appliance_name("", Language.EN) == "appliance"
    named = known_appliances(Language.EN)
    assert named["kettle"] == "kettle" and named["aggregate"] == "household power"
    assert "unknown" not in named and "appliance.kettle" not in named
    assert list(named) == sorted(named)
    assert known_appliances()["kettle"] == "전기포트"


def test_the_house_left_on_a_plug_left_on_and_the_ladders_parameters_reach_the_ladder() -> None:
    # Awake 07-22 (Seoul), a house usually quiet-while-on for 1 h, a heater usually on for 1 h.
    awake = [0.8 if 7 <= h % 24 < 22 else 0.02 for h in range(HOURS_PER_WEEK)]
    learned = Routine(
        SEOUL,
        fitted_at=0,
        days_used=28,
        days_excluded=[],
        p_active=awake,
        quiet_gap_h=[3.0] * HOURS_PER_WEEK,
        first_activity_min=8 * 60 + 30,
        first_activity_channel="kettle",
        house=HouseModel(base_w=150.0, on_quiet_h=[1.0] * 24, samples=50),
        long_on={"heater": [1.0] * HOURS_PER_WEEK},
    )
    noon = datetime(2026, 3, 2, 3, 10, tzinfo=UTC)  # 12:10 in Seoul
    last = int(noon.timestamp())
    sign = SignOfLife(noon, "appliance", "tv")

    def alert(**facts: object) -> datetime:
        return compute_deadline(sign, quiet_hours=12, timezone=SEOUL, routine=learned, **facts).alert_after  # type: ignore[arg-type]

    usual = alert()
    assert usual == datetime.fromtimestamp(ladder(last, learned).alert, UTC)
    # The house on since the last use, with the house-on rule's parameters: its own, earlier alert.
    house_on = alert(ladder_params=HOUSE_ON, on_since=noon)
    assert house_on == datetime.fromtimestamp(ladder(last, learned, HOUSE_ON, last).alert, UTC) < usual
    assert alert(ladder_params=HOUSE_ON) == usual  # the parameters alone change nothing here
    # A heater on since 11:40: the long-on rule's alert (11:40 + 1.5 x 1 h + 1 h = 14:10 local).
    heater = (Run("heater", last - 1800, 1500.0),)
    assert alert(runs=heater) == datetime(2026, 3, 2, 5, 10, tzinfo=UTC) < usual


def test_a_deadline_says_its_explanation_in_every_language_from_its_own_facts() -> None:
    """A new case stores the explanation in every language from the one deadline (issue 15: a
    second deadline per language cost the ladder again), word for word what each language's own
    deadline says, the data-gap clause included."""
    gap = timedelta(seconds=5400)
    fixed = compute_deadline(SignOfLife(T0, "appliance", "tv"), quiet_hours=6.5, timezone=SEOUL, paused=gap)
    assert fixed.explanation == EXPECTED_KO["inactive"] + EXPECTED_KO["gap"]
    for language, expected in LANGUAGES:
        assert fixed.explain_in(language) == expected["inactive"] + expected["gap"]
    learned = routine()
    sign = SignOfLife(T0, "appliance", "microwave")
    for language, _ in LANGUAGES:
        own = compute_deadline(sign, quiet_hours=12, timezone=SEOUL, routine=learned, language=language)
        for other, _ in LANGUAGES:
            theirs = compute_deadline(sign, quiet_hours=12, timezone=SEOUL, routine=learned, language=other)
            assert own.explain_in(other) == theirs.explanation
            assert own.explain_in(other).startswith(("usually", "평소"))
