"""Self-harm risk: every family of phrasing is an emergency with ``risk == "self_harm"``.

Korea's older people have the highest suicide rate in the OECD; a resident who tells the wellness
call they want to die must reach a person at once, not be filed as "unwell". The families follow
the verbal warning signs taught in gatekeeper training (보고듣고말하기, QPR): wanting to die or
disappear, hopelessness tied to death, feeling a burden tied to being gone, plans or means,
goodbyes, and wanting to follow someone who has died. The deliberate exclusions (other people's
deaths, a past brush with death, idioms, negations) are at the bottom and documented in
docs/calls.md ("Self-harm risk").
"""

from __future__ import annotations

import re

import pytest

from core.enums import Intent, Risk
from notifier.classifier import Classification, apply_safety, classify, classify_lines
from notifier.classifier_rules import (
    Rule,
    is_other_death_talk,
    mentions_life_or_death,
    self_harm_rule,
)

FAMILIES: dict[str, list[str]] = {
    "ko_wish_to_die": [
        "죽고 싶어요",
        "그냥 죽었으면 좋겠어",
        "차라리 죽는 게 낫겠어요",
        "자살하고 싶어",
        "죽어 버리고 싶다",
        "요즘은 그냥 죽고만 싶어",
        "죽고싶어요",  # STT without spaces
        "죽고 시퍼요",  # STT spelling
    ],
    "ko_disappear_or_not_wake": [
        "없어지고 싶어",
        "그냥 사라지고 싶어요",
        "자다가 안 깨어났으면 좋겠어",
        "아침에 눈 안 떴으면 좋겠다",
        "빨리 데려갔으면 좋겠어",
        "이제 그만 살고 싶어",
    ],
    "ko_hopeless_about_living": [
        "살아서 뭐해",
        "더 살고 싶지 않아",
        "살 이유가 없어요",
        "사는 게 아무 의미가 없어",
        "살 만큼 살았어",
        "살기 싫어",
        "늙으면 빨리 죽어야지",
    ],
    "ko_burden_and_gone": [
        "내가 없어져야 자식들이 편하지",
        "짐만 되는데 빨리 죽어야지",
    ],
    "ko_plans_and_means": [
        "수면제를 모아 뒀어",
        "수면 제 모아 놨어요",  # STT spacing
        "약을 한꺼번에 다 먹어 버릴까 봐",
        "농약 마시고 싶어",
        "번개탄 사다 놨어",
        "목을 매고 싶어",
        "옥상에서 뛰어내리고 싶어",
        "한강에 뛰어들까 생각했어",
    ],
    "ko_goodbyes": [
        "다 정리했어",
        "그동안 고마웠다",
        "그동안 정말 감사했어요",
        "이게 마지막 전화야",
        "애들한테 미안하다고 전해 줘",
        "신변 정리 다 했어요",
    ],
    "ko_following_the_dead": [
        "영감 따라 가고 싶어",
        "먼저 간 남편 곁으로 가고 싶어요",
    ],
    "ko_dialect": [
        "마 죽어삐고 싶다",  # 경상
        "살아가 뭐하노",  # 경상
        "죽고 잡어",  # 전라
        "콱 죽어불고 싶당께",  # 전라
        "죽고 싶어유",  # 충청
        "살기 싫어유",  # 충청
        "죽고 싶수다",  # 제주
        "살앙 뭐 허코",  # 제주
    ],
    "ko_past_or_negated_suicide": [
        "예전에 죽고 싶었던 적도 있었지만 지금은 괜찮아요",  # past ideation: flagged
        "자살할 생각은 없어요",  # the topic raised unprompted: flagged
        "남편이 자꾸 죽고 싶대요",  # someone else at risk in the home: flagged
    ],
    "en_wish_to_die": [
        "I want to die",
        "I wish I were dead",
        "I want to kill myself",
        "I'm thinking about suicide",
        "I'd be better off dead",
        "I just wanna die",
    ],
    "en_disappear_or_not_wake": [
        "I don't want to be here anymore",
        "I just want to disappear",
        "I hope I don't wake up tomorrow",
        "I wish God would take me",
    ],
    "en_hopeless_about_living": [
        "there's no point in living",
        "I have nothing left to live for",
        "I'm tired of living",
        "I don't want to live anymore",
        "I can't go on anymore",
    ],
    "en_burden_and_gone": [
        "everyone would be better off without me",
        "my kids would be better off if I was gone",
    ],
    "en_plans_and_means": [
        "I've been saving up my sleeping pills",
        "I've got a rope ready",
        "I'm going to jump off the bridge",
        "I'm going to take all my pills",
        "I want to end it all",
    ],
    "en_goodbyes": [
        "I've put my affairs in order",
        "this is goodbye",
        "thank you for everything, goodbye",
        "I won't be around much longer",
        "I've given away all my things",
    ],
    "en_following_the_dead": [
        "I just want to be with my late wife again",
        "I want to join my husband in heaven",
    ],
    "en_past_or_negated_suicide": [
        "I'm not going to kill myself, don't worry",
        "my husband keeps saying he wants to die",
    ],
}

ALL = [(family, text) for family, texts in FAMILIES.items() for text in texts]


@pytest.mark.parametrize(("family", "text"), ALL)
def test_self_harm_phrasing_is_an_emergency_with_its_risk(family: str, text: str) -> None:
    result = classify(text)
    assert (result.intent, result.risk) == (Intent.EMERGENCY, Risk.SELF_HARM), (family, result)


@pytest.mark.parametrize(("family", "text"), ALL)
def test_self_harm_phrasing_wins_even_over_a_confident_ok_model(family: str, text: str) -> None:
    confident_ok = {Intent.OK: 0.97, Intent.UNWELL: 0.01, Intent.EMERGENCY: 0.01, Intent.UNCLEAR: 0.01}
    result = apply_safety(text, confident_ok)
    assert (result.intent, result.risk) == (Intent.EMERGENCY, Risk.SELF_HARM), (family, result)


# Deliberate exclusions: these mention death but are not the resident's own wish to die. None is
# self-harm; none is ``ok`` either (a call that heard about a death does not close as "fine").
NOT_SELF_HARM = [
    "친구가 죽었어",
    "옆집 할머니가 돌아가셨어요",
    "죽을 뻔했다가 괜찮아졌어",
    "작년에 죽을 고비를 넘겼어요",
    "죽고 싶지 않아요",
    "My friend died last week",
    "I nearly died last year but I'm fine now",
    "I don't want to die",
    "my wife passed but I'm fine",
]


@pytest.mark.parametrize("text", NOT_SELF_HARM)
def test_other_deaths_past_brushes_and_negated_wishes_are_not_self_harm(text: str) -> None:
    result = classify(text)
    assert result.risk is None, result
    assert result.intent not in (Intent.OK, Intent.EMERGENCY), result


# Everyday idioms built on 죽다/die, and harmless uses of the words a means-of-harm rule looks for.
IDIOMS_AND_LOOKALIKES = [
    "배고파 죽겠어",
    "심심해 죽겠어요",
    "더워 죽겠네",
    "손주 보고 싶어 죽겠어",
    "수면제 먹고 푹 잤어요",
    "농약 치고 왔어",
    "옥상에 빨래 널었어",
    "다리가 좀 아파요",
    "I'm dying to see my grandchildren",
    "I was bored to death",
    "I took a sleeping pill and slept well",
]


@pytest.mark.parametrize("text", IDIOMS_AND_LOOKALIKES)
def test_idioms_and_lookalikes_are_neither_self_harm_nor_emergency(text: str) -> None:
    result = classify(text)
    assert result.risk is None, result
    assert result.intent != Intent.EMERGENCY, result


@pytest.mark.parametrize(
    "text", ["아파 죽겠어요", "죽을 것 같아요", "넘어졌어요 못 일어나요", "I can't breathe", "help"]
)
def test_other_emergencies_carry_no_self_harm_risk(text: str) -> None:
    result = classify(text)
    assert (result.intent, result.risk) == (Intent.EMERGENCY, None)


def test_a_physical_emergency_said_with_a_wish_to_die_is_self_harm() -> None:
    # Both at once: the self-harm protocol is the stronger one (it also says to call 119).
    result = classify("죽고 싶어서 약을 너무 많이 먹었어")
    assert (result.intent, result.risk) == (Intent.EMERGENCY, Risk.SELF_HARM)


def test_risk_is_part_of_the_result_and_of_classify_lines() -> None:
    assert Classification(Intent.OK, 0.9).risk is None
    rows = classify_lines(["죽고 싶어요", "괜찮아요"])
    assert rows[0]["risk"] == "self_harm" and rows[0]["intent"] == "emergency"
    assert rows[1]["risk"] is None


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("남편이 죽었으면 좋겠어", None),  # another person as the subject
        ("걔가 죽었으면 좋겠어", None),  # ... from the reply's first letter
        ("죽었으면 좋겠어", "wish_dead"),
        ("통증이 없어졌으면 좋겠어", None),  # a thing going away
        ("없어졌으면 좋겠어", "disappear"),
        ("일에 목매고 살았지", None),  # 일에 목매다: to cling to one's work
        ("목을 매고 싶어", "hanging"),
    ],
)
def test_a_rule_does_not_fire_on_what_its_exclusion_names_just_before(text: str, rule: str | None) -> None:
    assert self_harm_rule(text) == rule


# The model's worst case for the guards below: it hears the wish to die, and no rule does.
SURE_OF_SELF_HARM = {Intent.EMERGENCY: 0.9, Intent.UNWELL: 0.05, Intent.OK: 0.03, Intent.UNCLEAR: 0.02}


@pytest.mark.parametrize(
    "text",
    [
        "친구가 죽었어",  # Korean only: the English rules find nothing in it
        "죽을 뻔했어",
        "배고파 죽겠어",  # hyperbole only: not another's death
        "My friend died last week",  # English only
        "I nearly died last year",
    ],
)
def test_another_persons_death_or_a_brush_with_death_is_death_talk_that_is_not_self_harm(text: str) -> None:
    # Each language's list decides alone, and so does hyperbole: none needs another to agree.
    assert is_other_death_talk(text)


@pytest.mark.parametrize(
    "text", ["친구가 죽었어", "죽을 뻔했어", "My friend died last week", "I nearly died last year"]
)
def test_the_models_self_harm_guess_is_not_believed_on_another_persons_death(text: str) -> None:
    # The words of dying are there (so the low-mood guard below does not apply): only the
    # other-death rule keeps the model's guess from calling a caseworker about a self-harm risk.
    assert mentions_life_or_death(text)
    result = apply_safety(text, SURE_OF_SELF_HARM, self_harm=0.9)
    assert result.risk is None and result.intent != Intent.EMERGENCY, result


@pytest.mark.parametrize("text", ["세상 사는 게 허무해", "life feels pointless these days"])
def test_the_models_self_harm_guess_stands_on_talk_of_living_or_dying_that_no_rule_names(text: str) -> None:
    # No rule fires, but the reply speaks of life itself (세상, "life"), in one language only:
    # the model's guess is believed, and a person hears of the risk at once.
    assert self_harm_rule(text) is None
    assert mentions_life_or_death(text)
    assert apply_safety(text, SURE_OF_SELF_HARM, self_harm=0.9) == Classification(
        Intent.EMERGENCY, 0.9, "model", Risk.SELF_HARM
    )


@pytest.mark.parametrize("text", ["우울해요", "사는 게 힘들어요", "I've been feeling low"])
def test_low_mood_that_says_nothing_of_dying_is_not_self_harm_on_the_models_word(text: str) -> None:
    assert not mentions_life_or_death(text)
    result = apply_safety(text, SURE_OF_SELF_HARM, self_harm=0.9)
    assert (result.intent, result.risk) == (Intent.UNWELL, None), result


def test_an_exclusion_is_read_in_the_twelve_letters_before_the_match_and_no_further() -> None:
    # Rule.search looks back a bounded distance: an exclusion names what comes just before the
    # phrase (a subject and its particles), not something said earlier in the reply.
    rule = Rule("probe", re.compile("X"), re.compile("A"))
    assert not rule.search("A" + "b" * 11 + "X")  # the 12th letter back: read
    assert rule.search("A" + "b" * 12 + "X")  # the 13th: not read, the phrase counts
