"""The classifier's rules: pure text tests, no model. What each one means for a verdict is in
:func:`notifier.classifier.apply_safety`; why each family exists is in docs/calls.md.

Korean rules are matched against the reply with spaces removed (:func:`joined`), because Korean
speech-to-text spaces words at random ("죽 고 싶 어", "수면 제"); English rules against the
normalised text with its word boundaries (:func:`normalise`).

Why each family exists (the error it prevents; each is also commented where it is defined):

* emergency phrases — a missed emergency is the worst error, and the model alone missed about
  one in five (docs/calls.md): the words a person uses to ask for help are never left to it;
* denied dangers (NEGATED_EMERGENCY) — "응급 아니야" named the danger only to deny it and raised
  an alarm; a false alarm wakes a caseworker and a family and wears out their trust;
* everyday phrases (EVERYDAY_*) — "자다가 깼어" is made of the same words as the wish not to wake;
* self-harm talk (SELF_HARM_*) — a resident who says they want to die must reach a person at once,
  whatever the model's confidence (issue 19);
* hyperbole and other people's deaths (HYPERBOLE_*, NOT_SELF_HARM_*) — "배고파 죽겠어" and "my
  friend died" are not the speaker's wish to die;
* short answers — a bare "응" once borrowed the weight of "응급"; a closed list decides them;
* ok must be said (NEGATED_WELLBEING, OK_CUES, DEATH_TALK) — calling someone fine who is not
  ends the check, so "fine" has to be said, and not negated.

Longer than most modules (about 600 lines), most of it phrase lists in two languages: the safety
rules are one ordered decision (a self-harm phrase outranks a denial, a denial outranks a danger
word), and spread over files their order would no longer be visible in one read.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

# ---------------------------------------------------------------- text normalisation

_KEEP = re.compile(r"[^\w\s?']")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Case-fold and strip punctuation that speech-to-text adds at random; keep '?' and apostrophes."""
    text = unicodedata.normalize("NFKC", text).lower().replace("’", "'").replace("‘", "'")
    text = _KEEP.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()


def joined(text: str) -> str:
    """The normalised reply without spaces: the view Korean rules read."""
    return normalise(text).replace(" ", "")


def _any(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# ---------------------------------------------------------------- emergencies (no risk named)

# Falls (and not getting up): emergencies like the rest, also named on their own so the case page
# can say "낙상·도움 요청" in words (api.case_story) from the same rules that raised the alarm.
FALL_PATTERNS_KO = (
    # (넘어젔, 이러나: how speech-to-text spells an older speaker's 넘어졌, 일어나; 몬, 일나: 경상)
    r"넘어(졌|젔|졋)|넘어(져|저)서|넘어(져|저)\s*있|쓰러(졌|젔|졋)|쓰러져|쓰러질\s*(것|거)\s*같|굴렀|미끄러(졌|져)|(침대|의자|계단|변기)에서\s*떨어졌",
    # 자빠지다, 고꾸라지다: everyday words for falling over; a broken bone (hip fractures kill)
    r"자빠(졌|젔|졋|져)|고꾸라(졌|젔|져)|꼬꾸라(졌|젔|져)|(다리|팔|뼈|엉덩이|고관절|허리|손목|발목|갈비)\s*(뼈)?\s*(가|이)?\s*부러",
    r"(못|몬)\s*(일어나|이러나|일나|인나)|(일어날|이러날)\s*수(가)?\s*없|일어나지(를)?\s*(못|몬)",
)
FALL_PATTERNS_EN = (
    r"\b(i'?ve|i have|i|just|had a)\s+(fallen|fell|fall)\b(?!\s+asleep)",
    r"\bfell (down|over)\b|\bfallen (down|over|out of|off)\b|\b(had|taken|took) a (tumble|fall)\b|\bcollaps(ed|ing)\b",
    r"\bon the floor\b|\bslipped (and|in|on|down|over)\b",
)

# Matched against normalise(text). Each pattern names a danger a caseworker must hear about now.
EMERGENCY_PATTERNS = _any(
    # Korean: asking for help / rescue ("도와줄 필요 없어요" must not match, so the verb ending is spelled out)
    r"살려(?!고|면)|살리\s*주",
    r"도와\s*(줘(?!도)|주세요|주십시오|주세여|주이소|주소|주랑께|주라|도라)",
    r"도움이?\s*(좀\s*)?(필요해|필요합니|필요하다|필요한데)",
    r"도움\s*좀\s*주",
    r"빨리\s*(좀\s*)?와\s*(주|줘|요|라)",
    r"119|일일구|구급차|앰뷸런스|엠뷸런스|응급|큰일\s*났|^(아이고\s*)?급해(요)?$|빨리.*급해|급해요?\s*빨리",
    *FALL_PATTERNS_KO,
    r"(못|몬)\s*움직|움직일\s*수(가)?\s*없|안\s*움직여|꼼짝(을|도)?\s*(못|안)",
    # breathing, chest, stroke signs, bleeding, consciousness
    r"숨이?\s*(좀\s*)?(차|가빠|막)",
    r"숨(을|이)?\s*(못|안)\s*쉬",
    r"숨\s*쉬기(가)?\s*(힘들|어렵|어려)|숨을?\s*쉴\s*수(가)?\s*없",
    r"가슴이?\s*((너무|많이|억수로|겁나게?|엄청|되게|몹시|갑자기|꽉|막|쫌|좀)\s*)?(아파|아프|아퍼|답답|조여|조이|터질|쥐어|찢어)",
    r"심장이?\s*((너무|많이|억수로|겁나게?|엄청|되게|몹시|갑자기|막)\s*)?(아파|아프|이상|빨리)",
    r"머리가\s*(깨질|터질|쪼개질)\s*(것|거)\s*같|정신이\s*(가물가물|흐려|흐릿|희미)",
    r"마비|말이\s*(잘\s*)?안\s*나와|앞이\s*안\s*보|한쪽\s*(팔|다리|손|얼굴|몸|이)|입이\s*돌아|힘이\s*안\s*들어가",
    r"발작|경련|쇼크|사람\s*(좀\s*)?불러|누구\s*(좀\s*)?불러",
    r"(?<!\S)피(가|를)?\s*(많이\s*)?(나|멈추지|토)|(?<!\S)피(가)?\s*(계속|자꾸|영)?\s*(안|못)\s*(멈|멎)",
    r"의식(을|이)?\s*(잃|없|흐|희미)|정신을\s*잃|기절",
    r"죽을\s*(것|거)\s*같|아파(서)?\s*죽(겠|겄)|나\s*죽(네|는다|겠)",
    # a medicine taken wrongly is a poisoning until a person has checked
    r"약을\s*너무\s*많이|약을?\s*잘못\s*먹|목에\s*(뭐가\s*)?걸렸",
    r"불이\s*(났|나요)|가스\s*냄새|연기가|도둑|누가\s*(집에\s*)?들어왔",
    # spoken key 2 ("이번" / "2번" / "둘" as the whole reply)
    r"^(2|이|둘)\s*번\s*(이요|요|입니다|이에요|누를게요|눌렀어요)?$|^둘$|헬프",
    # English
    *FALL_PATTERNS_EN,
    r"\b(can'?t|cannot|can not|couldn'?t|unable to)\s+(get up|move|breathe?|stand up|get my breath)",
    r"short of breath|catch my breath|trouble breathing|hard to breathe|difficulty breathing|struggling to breathe",
    r"(hardly|barely) breathe|hurts to breathe|(legs?|arms?) (won'?t|don'?t) (work|move)",
    r"\bchest\s+(pain|hurts|is tight|feels tight|feels heavy|tightness|pressure)|pain in my chest|heart attack|heart('?s| is) (racing|pounding|hurting)|heart hurts",
    r"\bstroke\b|\bnumb\b|can'?t feel my|slurred|drooping|seizure|hit my head|cut myself",
    r"\bbleeding\b|(there'?s|so much|lots of|covered in|coughing( up)?|vomiting|throwing up) blood|\burgent\b",
    r"ambulance|\b911\b|nine one one|\b119\b|emergency|\bsos\b|mayday|save me",
    # "dying" is an emergency, but "dying to see them" / "dying for a cup of tea" are not
    r"\bdying\b(?!\s+(to|for|of)\b)|going to die|gonna die|pass(ed|ing)? out|faint(ed)?\b|black(ed)? out|unconscious",
    r"\bfire\b|smell gas|gas leak|broke in|break-in|brok(?:e|en) into|breaking into|intruder|someone in my house",
    r"hurt (badly|bad)|badly hurt|seriously hurt|suddenly can'?t|can'?t see anything",
    r"\bchoking\b|too many pills|overdose|brok(e|en) my (hip|leg|arm|wrist|ankle)|broken (hip|leg|arm|wrist|ankle)",
    r"smoke everywhere|full of smoke|smell(ing)? smoke|burn(ed|t) myself badly",
    r"send (help|someone|somebody|(a|the) (doctor|nurse)|an ambulance)|come (right away|now|quick)|please come|\bhurry\b",
    r"^(2|two|number two|option two|press(ing|ed)? two|i'?ll press two)$",
)

# "help" is an emergency unless it is negated a few words before ("I don't need any help").
_HELP = re.compile(r"\bhelp\b")
_NEGATED_HELP = re.compile(r"(?:\b(?:no(?! one)|not|never|without)|n't)\b(?:\s+\S+){0,3}?\s+help\b")


# A reply that tells of a fall (normalised text), for naming the cause; not a classification.
FALL = _any(*FALL_PATTERNS_KO, *FALL_PATTERNS_EN)


# Speech-to-text splits words at random ("살 려 주 세 요", "am bulance"), so the commonest cries
# for help are also looked for with the spaces removed. Only stems that cannot be made by two
# ordinary words side by side (not "마비": "마 비가 와" is 경상 for "well, it's raining").
EMERGENCY_JOINED = _any(
    r"살려주|살려줘|도와주세|도와줘(?!도)|넘어(졌|젔)|넘어(져|저)서|쓰러(졌|젔|져)|구급차|일일구|앰뷸런스|숨이(차|막)|숨을?(못|안)쉬",
    r"(못|몬)(일어나|이러나|일나)|(일어날|이러날)수가?없",
    r"ambulance|emergency|heartattack|helpme|can'?tbreathe",
)


# A lone Latin letter other than "a" or "i" is never a word: speech-to-text split it off its
# neighbour ("hel p", "fel l"), so it is joined back before the English rules read the reply.
_STRAY_LETTER = re.compile(r"(?<=[a-z]) ([b-hj-z])\b")


# Why: "응급 아니야", "응급 상황은 아니고요", "119 부를 일은 아니야", "not an emergency", "no need
# for an ambulance" name the danger only to deny it, and the emergency words above fired on them
# (a false alarm wakes a caseworker and a family). The denied phrase is cut out before the
# emergency rules read the reply, so whatever else is said still counts: "응급은 아닌데 숨이 차요"
# stays an emergency. Only a denial that follows the danger word closely is read; anything
# looser ("응급실 갔다 왔는데 아니 또 아파") is left to the emergency rules, the safer error.
# Not a denial: a condition or a question ("응급 아니면 뭐야", "이거 응급 아니야?").
_DENIAL_KO = (
    r"(?:아니(?!면|라면|냐|니)|아녀|아냐|아닌(?!가)|아닙|아이다|아입|없|읎|필요\s*없|필요\s*읎)(?!\w*\s*\?)"
)
NEGATED_EMERGENCY = _any(
    # 응급 / 위급 / 급한 / 119 / 구급차 / 응급실, optionally "to call / to go / the kind", then 아니/없
    r"(?:응급|위급|급한|119|일일구|구급차|앰뷸런스|엠뷸런스)\s*(?:실|상황|환자|상태|일|거|건|것)?\s*"
    r"(?:은|는|이|가|도|까지|까진|까지는|에)?\s*"
    r"(?:(?:갈|부를|불러야\s*할|올|오실|와야\s*할)\s*(?:일|정도|것|거|건|필요)?\s*(?:은|는|이|가|도|까진|까지는)?\s*|"
    r"(?:필요|정도)\s*(?:는|은|가|도)?\s*)?" + _DENIAL_KO,
    # a fall denied: 안 넘어졌어, 넘어지진 않았어, 쓰러진 거 아니야
    r"안\s*(?:넘어|쓰러|자빠|고꾸라)(?:졌|젔|져)",
    r"(?:넘어|쓰러|자빠|고꾸라)(?:지진|지지는|지지도|지지|진\s*(?:거|건|게|것은))\s*(?:않|안|아니|아녀|아이다)",
    # breathing or chest trouble denied: 숨 차는 건 없어요, 가슴 아픈 건 없어
    r"(?:숨(?:이|가)?\s*(?:차|가쁘|막히)|가슴(?:이)?\s*(?:아프|아픈|답답))\w{0,2}\s*(?:건|거|게|것은|일은|데는|데)\s*"
    + _DENIAL_KO,
    # help denied: 살려 달라는 건 아니고, 도와 달라는 게 아니라
    r"(?:살려|도와)\s*(?:달라는|주라는|달라고\s*하는|달란)\s*(?:건|거|게|것은|말은|말이)?\s*(?:아니|아녀|아이다)",
    # English
    r"\b(?:no|not an?|isn'?t an?|not really an?|nothing)\s+(?:emergency|urgent)\b|\bno emergency\b",
    r"\b(?:no need (?:for|of|to call)|don'?t need|do not need|no call for)\s+(?:an?\s+|the\s+)?(?:ambulance|911|119|paramedics)\b",
    r"\bno (?:chest pain|pain in my chest|bleeding|trouble breathing|fall|falls)\b",
)


def without_denied_danger(text: str) -> str:
    """``normalise(text)`` with every denied danger ("응급 아니야", "not an emergency") cut out."""
    return NEGATED_EMERGENCY.sub(" ", normalise(text))


def denies_an_emergency(text: str) -> bool:
    """The reply names a danger only to deny it (see NEGATED_EMERGENCY)."""
    return NEGATED_EMERGENCY.search(normalise(text)) is not None


def has_emergency_phrase(text: str) -> bool:
    norm = _STRAY_LETTER.sub(r"\1", without_denied_danger(text))
    if EMERGENCY_PATTERNS.search(norm) or EMERGENCY_JOINED.search(norm.replace(" ", "")):
        return True
    return _HELP.search(_NEGATED_HELP.sub(" ", norm)) is not None


# Why: everyday phrases built from the same words as danger. "자다가 깼어" (I woke up) shares
# 자다가 with "자다가 안 깼으면" (the wish not to wake), "I woke up from a nap" shares "wake"
# with "I don't want to wake up", "숨 좀 돌리고" (catching my breath) shares 숨 with 숨이 막혀;
# the model, which sees words and pieces of words, called them emergencies. On these the
# model's emergency and self-harm votes are set aside (like hyperbole); a rule still decides:
# "자다 깼는데 숨이 막혀" is an emergency by the breathing rule.
EVERYDAY_KO = re.compile(
    r"(?:자다|잠|낮잠|잠결)(?:가|이|을|에서|자다가)?(?:깼|깨서|깨어났|깼는데|깼네|깨니|깨가|깨갖고|일어났)"
    r"|낮잠|숨(?:좀|을)?돌리"
)
EVERYDAY_EN = re.compile(
    r"\b(?:i|just|i just|i've just|you)\s+(?:woke|wake|got)\s+(?:up|me)\b(?!\s+(?:and|but)\b)"
    r"|\b(?:a|my|from a|from my|having a|had a|taking a|took a)\s+nap\b|\bjust woken\b"
    r"|\bout of breath (?:from|after|climbing|walking|carrying|with the)\b|\bcatching my breath after\b"
)


def is_everyday(text: str) -> bool:
    """An everyday phrase that looks like danger (see EVERYDAY_KO/EN); decides nothing alone."""
    return bool(EVERYDAY_KO.search(joined(text)) or EVERYDAY_EN.search(normalise(text)))


# ---------------------------------------------------------------- self-harm risk


@dataclass(frozen=True)
class Rule:
    """A pattern, and optionally what must NOT come just before a match (``unless_before`` is
    searched in the 12 characters ending where the match starts, so it should end with ``$``:
    it names what is said just before the phrase, not something said earlier)."""

    name: str
    pattern: re.Pattern[str]
    unless_before: re.Pattern[str] | None = None

    def search(self, text: str) -> bool:
        for match in self.pattern.finditer(text):
            before = text[max(0, match.start() - 12) : match.start()]
            if self.unless_before is None or not self.unless_before.search(before):
                return True
        return False


def _rule(name: str, *patterns: str, unless_before: str | None = None) -> Rule:
    return Rule(name, _any(*patterns), re.compile(unless_before) if unless_before else None)


# Endings of "-고 싶다" (want to): standard, STT spellings, 전라 잡/자퍼, 제주 -고정, old -고파.
_WISH = r"(?:싶|시퍼|시프|십|잡|자퍼|자파|파|프|정(?!말|신|도|리))"
# Someone other than the speaker as the subject: "남편이 죽었으면" is not the speaker's wish.
_OTHER_SUBJECT = (
    r"(?:남편|아내|마누라|영감|할멈|아들|딸|며느리|사위|그놈|그년|저놈|걔|쟤|그인간|그사람|그양반|"
    r"이웃|옆집사람|시어머니|시아버지|형|동생|누구)(?:이|가|은|는|도)?(?:그냥|차라리|확|콱|빨리)?$"
)
# A thing, not the speaker, going away: "통증이 없어졌으면 좋겠어" wishes the pain gone.
_THING_SUBJECT = (
    r"(?:통증|아픔|기침|열|두통|가려움|냄새|소리|얼룩|빚|걱정|근심|부기|붓기|염증|혹|가래|콧물|벌레|모기|"
    r"쥐|이것|그것|저것|이거|그거|저거|병|증상|고통|어지럼증|잡념|기억)(?:이|가|은|는|도|만|좀|다|싹|빨리|어서)*$"
)

# Korean, matched against joined(text). Families follow gatekeeper training (보고듣고말하기):
# wanting to die or disappear, hopelessness tied to death, burden tied to being gone, means and
# plans, goodbyes and putting affairs in order, wanting to follow someone who has died.
SELF_HARM_KO: tuple[Rule, ...] = (
    _rule(
        "wish_to_die",
        # "죽고 싶지 않아" (I don't want to die) is excluded here on purpose (docs/calls.md).
        rf"(?:죽[고구]|주꼬)만?{_WISH}(?!지(?:는|도)?(?:않|안)|진(?:않|안))",
        r"자살|목숨(?:을|도)?끊|생을마감|삶을마감|인생을?마감|극단적(?:인)?선택|세상(?:을)?등지|스스로목숨",
        r"죽는(?:게|것이|편이|거|것도)(?:낫|나아|나을|더나)|사느니(?:차라리|그냥)?(?:죽|없어|사라)",
        r"죽어(?:버리|버릴|버려|삐|삘|뿌|뿔|불|부러|부릴|부리|부려)(?:고|까|야|겠|것|겄|래|랑께|란다|련다|께|자|든지|지뭐)",
        r"죽어(?:버렸|삐맀|불었|부렀|뿌렀)으면",
        r"(?:콱|확|차라리)(?:그냥)?죽",
        r"죽(?:으려|을려|을라|으러|을생각|을결심|을궁리|을방법|을까생각|을까싶|을래|을란다|을랑께)",
        rf"세상(?:을)?떠나(?:고{_WISH}|고만|야|려|버리|면좋|고말)",
        r"(?:외로워|외롭|쓸쓸|우울|슬퍼|괴로워|괴롭|마음이아파|속상해|사는게힘들|살기힘들|허전해|서러워|서럽)\w{0,3}?"
        r"(?:죽겠|죽것|죽겄|죽을것같|죽을거같|죽고)",
    ),
    _rule(
        "wish_dead",
        r"죽었으면(?:좋|싶|해|하|한다|바라)|죽어야(?:지|제|겠|것|겄|하는데|되는데|돼|된다|할텐데)",
        unless_before=_OTHER_SUBJECT,
    ),
    _rule(
        "disappear",
        rf"(?:없어지|사라지)(?:고{_WISH}|고만|고말|는(?:게|것이|편이)(?:낫|나아|나을))",
        r"(?:없어져|사라져)(?:버리|버렸으면|버릴|삐|불|야)|(?:없어졌|사라졌)으면(?:좋|싶|해|하|한다)",
        unless_before=_THING_SUBJECT,
    ),
    _rule(
        "not_wake",
        r"(?:자다가|잠든채로?|자는듯이?|잠자듯이?|자는채로|잠결에)(?:그냥|조용히|편하게|편히|확|그대로|이대로)?"
        # (깼 is 깨었, contracted: 안 깼으면)
        rf"(?:안깨|안깼|못깨|못깼|깨지않|깨지말|안일어나|눈감|죽|가|갔|떠나|떠났)\w{{0,3}}?(?:으면|면|고{_WISH}|길|기를|는게|버리)",
        r"눈(?:을)?(?:안|못)(?:떴으면|뜨면|떠졌으면|뜨게)|눈(?:을)?뜨지(?:않|말|못)았?으면|(?:영영|영원히)(?:눈(?:을)?감|잠들|자고)",
        r"(?:빨리|얼른|어서|하루빨리|차라리|그만|제발)(?:나(?:를|좀|도)?)?(?:좀)?데려(?:가|갔)\w{0,2}?"
        r"(?:으면|면|줬으면|주면|주지|주세요|주소|가라|가소|가이소|주시|셨으면|갔음)",
        r"(?:하느님|하나님|영감|할멈|할아범|남편|마누라|집사람|조상님|저승사자|부처님|예수님|주님)(?:이|가|께서|님)?"
        r"(?:빨리|얼른|어서|제발)?(?:나(?:를|좀|도)?)?(?:좀)?데려(?:가|갔)\w{0,2}?(?:으면|면|주면|주지|주세요|가라|셨으면|갔음)",
        r"저승사자(?:는|가|야)?(?:뭐|안|빨리|왜|얼른)",
        r"(?:아침에|내일|다음날|영영|다시는)(?:아침에)?(?:안|못)일어났으면|(?:아침에|내일)(?:눈을?)?안뜨",
        rf"(?:저세상|하늘나라|저승)(?:으로|에)?(?:가고{_WISH}|갔으면|가야|가버리|가면좋|가고만|가련|갈란|갈래)",
    ),
    _rule(
        "hopeless_living",
        r"살아(?:서|가|가지고|갖고|봐야|봤자|본들|도|있어서|있어봐야|있으면)?(?:뭐|뭣|뭔|머|모|무엇|무슨)"
        r"(?:해|하|허|할|혀|한당가|하겄)",
        r"살앙(?:뭐|무시|뭣)",
        rf"살고{_WISH}(?:지|진)(?:않|안)|살고싶은(?:마음|생각|맘)(?:이|은|도)?(?:하나도|전혀|조금도|이제)?(?:없|안)",
        r"살기(?:가|도)?(?:싫|지겹)|사는(?:게|것이|거|것도)(?:싫|지겹|지긋지긋|지겨)",
        r"살(?:이유|의미|가치|힘)(?:가|이|도)?(?:하나도|전혀|이제|더는|더)?(?:없|안)",
        r"사는(?:이유|의미|보람)(?:가|를|도)?(?:없|모르)|사는게(?:아무)?의미(?:가)?없",
        r"더는?못살겠|더이상못살|그만살(?:고|래|란다|아야|어야|까)|살만큼살|살만치살|오래살기싫",
    ),
    _rule(
        "burden_gone",
        r"(?:내가|나만|나는|나하나|나같은\w{0,2}|나도)(?:없어지|없어져|없으면|죽으면|죽어야|가면|사라지면|사라져야|떠나면|"
        r"죽고나면|없어야)\w{0,2}?(?:다|다들|모두|자식들?|애들|식구들?|가족들?|걔들)?(?:이|은|도|가)?(?:편|좋|홀가분|행복|낫)",
        r"짐(?:만|이|밖에|덩어리)?(?:되|돼)\w{0,6}(?:죽|없어지|사라지|가야|떠나)",
    ),
    _rule(
        "means",
        r"(?:수면제|수면약|잠약|약|알약|안정제|진통제|혈압약|당뇨약)(?:을|를|들|도|만|좀)?"
        r"(?:몇\w{0,2}치|한달치|잔뜩|많이|계속|몰래|조금씩|하나둘|차곡차곡)?(?:모아|모았|모으|모아놓|모아둔|사모|쌓아)",
        r"(?:약|수면제|알약|약통|약병)(?:을|를)?(?:한꺼번에|몽땅|통째로|한번에|한통|한움큼|왕창|한주먹|다털어|털어)"
        r"(?:다)?(?:먹|넣|삼키|털어)",
        r"농약(?:을|이라도|이나|을좀|이나마|도)?(?:먹|마시|마실|마셔|마셨|마신|들이키|들이켜|털어)",
        # bought or kept first, the intent after it ("농약 사다 놨어유 먹을라구")
        r"농약\w{0,8}?(?:먹을|먹으려|먹을라|마실|마시려|마실라|묵을|들이킬|먹고죽|마시고죽)",
        r"번개탄(?:을|이라도|좀|도)?(?:사|샀|피우|피울|피워|준비)",
        r"(?:밧줄|노끈)(?:을|도|좀|하나)?(?:준비|사놨|사뒀|사다|샀|매달|걸어|묶어)",
        r"뛰어내리(?:고|려|ㄹ|자|겠|면|기)|뛰어내릴|뛰어내려\w{0,2}(?:버릴|야|죽)|투신",
        r"(?:한강|강|바다|물|저수지|댐|다리|호수)(?:에|에서|로|으로)?(?:뛰어들|빠져(?:죽|버리|삐|불|야)|몸을던)",
        r"(?:손목|동맥)(?:을)?(?:긋|그어|그을|끊|그었)|칼로(?:내|제|자기|나)?(?:몸|손목|목|배)(?:을|를)?(?:긋|찌르|그어|찔러)",
    ),
    # "목을 매다" is hanging; "일에 목매다" (to cling to) takes 에, so a 에 just before is not.
    _rule("hanging", r"목(?:을)?(?:매|맬|맸|맨)", unless_before=r"에$"),
    _rule(
        "goodbye",
        r"^(?:이제|나|나는|인자)?(?:다|모두|전부|싹|싹다)정리(?:했|해놨|해뒀|해놓|됐|끝|해버렸|하고|할게|할거|했다)",
        r"(?:신변|주변|삶|인생|재산|세상|살림|유품|가진거|남은거)(?:을|를|도|은|는)?(?:이제)?(?:다|모두|전부|싹|싹다)?"
        r"정리(?:를)?(?:다|모두|전부)?(?:했|해놨|해뒀|해놓|됐|끝|해버렸|하고있|하는중|할게)",
        r"(?:물건|옷|살림|재산|가진거)(?:을|를|도)?(?:다|모두|전부|싹)?(?:나눠줬|나눠주|줘버렸|처분했)",
        r"(?:그동안|그간|여태|여태껏|지금까지|평생)(?:정말|참|너무|많이|진짜|참말로|억수로)?"
        r"(?:고마|감사|신세(?:를)?(?:많이)?졌|미안했)",
        r"마지막(?:전화|통화|인사|부탁|목소리|으로인사|으로전화|으로한마디)|(?:이게|이번이)마지막|마지막일(?:거|것|겁)",
        r"(?:미안하다고|미안했다고|사랑한다고|고마웠다고|용서해달라고)(?:좀|꼭)?(?:전해|말해|알려)",
        r"유서(?:를|도|까지)?(?:써|썼|쓰|남겨|남겼|준비|적어)",
        r"먼저(?:간다|갈게|가네|갈란다|가께|갑니다|떠날게|떠난다)",
    ),
    _rule(
        "follow_the_dead",
        r"(?:영감|할멈|할아범|남편|아내|마누라|집사람|바깥양반|애아버지|애아빠|애엄마|먼저간\w{0,4}|죽은\w{0,4}|떠난\w{0,4})"
        r"(?:을|를|이|가|님)?(?:따라|곁으로|곁에|옆으로|있는곳으로|있는데로|한테로)(?:가|갔|갈)\w{0,2}?"
        r"(?:싶|잡|파|정|으면|면|야|래|란다|련다|겠|것|지)",
    ),
)

# English, matched against normalise(text).
_NOT = r"(?<!n't )(?<!not )(?<!never )(?<!dont )"
SELF_HARM_EN: tuple[Rule, ...] = (
    _rule(
        "wish_to_die",
        # "I don't want to die" is excluded on purpose (docs/calls.md); "going to die" is a
        # medical emergency, so "going" only counts with killing oneself.
        _NOT
        + r"\b(?:want|wanna|wants|wanted|wish|wishing|ready|need|longing)\s+(?:to\s+|ta\s+)?(?:die|be dead)\b",
        r"\b(?:want|wanna|wants|wanted|wish|ready|going|gonna|planning|plan|plans|decided|trying|tried|thinking|thought|think|"
        r"might)\s+(?:about\s+|of\s+)?(?:to\s+|ta\s+)?(?:kill(?:ing)? (?:my|him|her|them) ?sel(?:f|ves)|"
        r"end(?:ing)? (?:it|my life|my own life|everything|things)|tak(?:e|ing) my (?:own )?life)\b",
        r"\b(?:kill(?:ing|s|ed)?|top(?:ping)?|off(?:ing)?) (?:my|him|her|them) ?sel(?:f|ves)\b|suicid|self harm",
        # speech-to-text writes "die" as "dye"; dyeing has an object ("dye my hair"), the wish none
        r"\b(?:want|wanna|wish|ready|going|gonna)\s+(?:to\s+)?dye\b"
        r"(?!\s+(?:my|the|it|her|his|them|this|that|some|a|your|our|their|wool|cloth|fabric|eggs)\b)",
        r"\bend(?:ing)? it all\b|\bend it (?:tonight|today|soon|now)\b",
        r"better off dead|rather be dead|(?:i'?d|i would|would) (?:much )?rather (?:just )?die|(?:be|rather) dead than|"
        r"\bwish(?:ed)? (?:i|i'd|id) (?:was|were|had|could|would|'d)?\s*(?:be |have )?(?:dead|die|died|gone|never been born|not wake)",
        r"(?:lonely|depressed|miserable|hopeless|empty|heartbroken|sad)\b.{0,20}\b(?:could die|want to die|wanna die|wish i was dead)",
        r"(?:want|wanna|going|gonna|might|could|thinking (?:about|of)|thought (?:about|of)|afraid i'?ll|scared i'?ll|"
        r"urge to|feel like)\s+(?:to\s+)?(?:hurt|harm|hurting|harming|cut|cutting)\s+my ?self",
    ),
    _rule(
        "disappear",
        r"\b(?:want|wanna|wish|wishing|wish i could|like)\s+(?:to\s+)?(?:just\s+)?(?:disappear|vanish|fade away|not exist|"
        r"stop existing|cease to exist|go to sleep and (?:never|not) wake|sleep forever|not wake up)",
        r"\b(?:hope|wish|pray|praying)\s+(?:that\s+)?i\s+(?:don't|do not|never|won't|will not|wont)\s+wake",
        r"\b(?:wish|hope|pray|praying|want|asking|ask)\b.{0,25}\b(?:god|lord|jesus|almighty)\b.{0,12}\b(?:take|takes|call|calls) me\b",
        r"\b(?:god|lord|jesus) (?:can|could|should|may|please)? ?(?:just )?(?:take|have) me\b",
        r"ready to (?:go (?:and )?)?(?:be with|join|meet (?:my|the) maker|go to heaven|die)",
    ),
    _rule(
        "hopeless_living",
        r"\b(?:don't|do not|dont|no longer|never)\s+(?:really\s+)?(?:want|wanna|wish|care)\s+(?:to\s+)?"
        r"(?:live|be alive|go on|wake up|exist|carry on|keep going|keep living|see tomorrow|be here any ?(?:more|longer)|be around)"
        r"(?!\s+(?:in|with|at|there|near|alone|on my own|by myself|here)\b)",
        r"\b(?:no|not any|nothing|no more|not much) (?:point|reason|purpose|use)\s*(?:in|to|of|for)?\s*"
        r"(?:living|live|life|going on|being alive|carrying on|being here|getting up)",
        r"nothing (?:left )?to live for|no reason to live|"
        r"(?:what'?s|what is) the (?:point|use) (?:of|in)?\s*(?:living|going on|life|being alive|carrying on|anything|it all|any ?more)",
        r"\b(?:tired|sick|weary) of (?:living|life|being alive|it all)|done with (?:living|life)|had enough of (?:life|living|it all)",
        r"can'?t (?:go on|carry on|keep going)\s*(?:any ?more|any longer|living|like this any ?more)|can'?t (?:go on|carry on)$",
    ),
    _rule(
        "burden_gone",
        r"(?:better|happier|easier) (?:off )?(?:without me|if i (?:was|were|wasn't|weren't|died|was gone|were gone|wasn't here|weren't here|wasn't around))",
        r"nobody would (?:miss|notice) (?:me|if i)",
    ),
    _rule(
        "means",
        r"\b(?:saving|saved|stockpiling|stockpiled|hoarding|hoarded|collecting|collected|stashing|stashed|squirrell?ing)\s+"
        r"(?:up\s+|away\s+)*(?:my\s+|all\s+my\s+|some\s+|enough\s+|a lot of\s+)?(?:sleeping\s+)?"
        r"(?:pills|tablets|medication|meds|painkillers)",
        r"\b(?:pills|tablets|meds|medication|painkillers)\s+(?:put by|put away|saved up|stashed|hidden away|tucked away)",
        r"\b(?:going to|gonna|want to|wanna|might|thinking (?:about|of)|could|will)\s+(?:just\s+)?(?:take|swallow|taking|swallowing)\s+"
        r"(?:all|all of|the whole|a whole|the lot)\b",
        r"\b(?:took|swallowed)\s+(?:all|the whole|a whole)\b.{0,20}\b(?:at once|in one go|all together|bottle|packet|box)",
        r"\b(?:take|took|taken) an overdose",
        r"\b(?:got|have|bought|buy|found|tied|getting|put up|set up)\b.{0,20}\brope\b|\brope\b.{0,15}\b(?:ready|set up|round my neck|around my neck)|\bnoose\b",
        r"\b(?:hang|hanging|shoot|shooting|drown|drowning|poison|poisoning|starve|starving|gas|gassing) my ?self\b",
        r"\b(?:going to|gonna|want to|wanna|might|thinking (?:about|of)|thought (?:about|of)|could|will)\s+(?:just\s+)?"
        r"(?:jump|jumping|throw myself|throwing myself|step|stepping)\s+(?:off|from|in front of|out of|under|into)",
        r"\bjump(?:ing)? off (?:the|a) (?:bridge|roof|building|cliff|balcony)|throw(?:ing)? myself (?:off|in front|under)",
        r"\b(?:cut|slit|slash|cutting|slitting|slashing) my wrists",
    ),
    _rule(
        "goodbye",
        r"\b(?:put|putting|sorted|sorting|got|getting)\s+(?:all\s+)?(?:my\s+)?affairs\b|\baffairs (?:are )?in order",
        r"\b(?:said|saying|say) (?:my )?goodbyes?\b|this is goodbye|goodbye (?:forever|for good|for ever)",
        r"\b(?:given|giving|gave|give) (?:away )?(?:all )?(?:of )?(?:my )?(?:things|stuff|belongings|possessions)(?: away)?\b",
        r"\b(?:won't|will not|wont|shan't)\s+be\s+(?:around|here)\s+(?:much\s+)?(?:longer|for long|any ?more|any longer)",
        r"\b(?:won't|will not|wont|shan't)\s+(?:need|have)\s+to\s+(?:call|ring|phone|check on|worry about)\s+(?:me\s+)?(?:any ?more|again|any longer)",
        r"thank(?:s| you) for everything\b.{0,30}\b(?:goodbye|bye|farewell)",
        r"\b(?:wrote|written|writing|left|leaving)\s+(?:a\s+|my\s+)?(?:note|notes|letter|letters|goodbye letters?)\s+(?:for|to)\s+(?:my\s+)?"
        r"(?:kids|children|family|son|daughter|grandchildren)",
        r"\btell (?:my )?(?:children|kids|son|daughter|family|husband|wife|grandchildren)\b.{0,15}\b(?:i'?m sorry|i am sorry|i love them|goodbye)",
    ),
    _rule(
        "follow_the_dead",
        r"\b(?:be|join|rejoin|go to)\s+(?:with\s+)?(?:my\s+)?(?:late|dead|departed)\s+\w+",
        r"\b(?:be with|join|rejoin)\s+(?:my\s+)?\w+\s+(?:again|in heaven|on the other side|up there)",
    ),
)


def self_harm_rule(text: str) -> str | None:
    """The name of the first self-harm family the reply says, or None."""
    korean, english = joined(text), normalise(text)
    for rule in SELF_HARM_KO:
        if rule.search(korean):
            return rule.name
    for rule in SELF_HARM_EN:
        if rule.search(english):
            return rule.name
    return None


# Why: everyday hyperbole made the model hear the wish to die. "배고파 죽겠어" (starving), "심심해 죽겠어" (bored stiff), "dying to see
# them", "bored to death", "my back is killing me". Said with emotional pain (외로워, 우울해) it
# is NOT here: that is self-harm talk (SELF_HARM_KO "wish_to_die").
HYPERBOLE_KO = re.compile(
    r"(?:배고파|배고프|심심해|심심|더워|더운|추워|추운|졸려|귀찮아|보고싶어|좋아|웃겨|짜증나|피곤해|피곤|바빠|궁금해|"
    r"부러워|미워|가려워|목말라|배불러|힘들어|답답해|지겨워|지루해)(?:서)?(?:죽겠|죽것|죽겄|죽는|죽을)"
)
HYPERBOLE_EN = re.compile(
    r"\b(?:dying|die) (?:to|for|of (?:boredom|laughter|curiosity))|\bto death\b|killing me|killed me"
)


def is_hyperbole(text: str) -> bool:
    """An idiom built on 죽다/die that means "very": neither self-harm nor, by itself, an emergency."""
    return bool(HYPERBOLE_KO.search(joined(text)) or HYPERBOLE_EN.search(normalise(text)))


# Why: the model's self-harm guess fired on talk of death that is NOT the speaker's wish to die: another person's death, a past brush with
# death, "I don't want to die", everyday hyperbole ("배고파 죽겠어", "dying to see them"), and
# 죽 the rice porridge. A model guess of self-harm is not believed on these (a rule still is).
NOT_SELF_HARM_KO = _any(
    r"(?:친구|동생|형|언니|오빠|누나|남편|아내|영감|할멈|마누라|아들|딸|며느리|사위|손자|손녀|이웃|옆집|누가|사람|"
    r"할머니|할아버지|아저씨|아줌마|개|강아지|고양이|엄마|아버지|어머니|아빠|친척|동창|부모님|형님)\w{0,6}"
    r"(?:죽었|돌아가셨|돌아가심|세상(?:을)?떠났|숨졌|숨을거뒀|별세|사망|장례)",
    r"죽을(?:뻔|고비)|죽다(?:가)?살|죽을병",
    # tidying up, not putting one's affairs in order
    r"(?:빨래|설거지|청소|방|옷|옷장|냉장고|부엌|서랍|이불|마당|밭|집안|책상|짐|통장|서류|사진|창고|신발장|그릇|장롱|베란다)"
    r"(?:을|를|도|은|는)?(?:다|좀|싹)?정리",
    r"죽기(?:는|가)?싫|죽고(?:싶|시)(?:지|진)(?:는|도)?(?:않|안)|살고싶(?:어|다|습니다|어요|네)",
    # fear of dying is the wish to live
    r"죽는(?:게|건|것이|것은|거)(?:무서|겁나|두려|무섭)|죽을까(?:봐)?(?:무서|겁나|두려)",
    r"죽(?:을|이|도|만|좀)?(?:먹|끓|쒀|쑤|드|데워|데웠|사왔)|(?:호박|전복|흰|팥|야채|깨)죽",
)
# Someone other than the speaker, in English.
_OTHER_PERSON_EN = r"(?:he|she|they|friend|neighbou?r|wife|husband|sister|brother|son|daughter|dog|cat|mum|mom|dad|mother|father)"
NOT_SELF_HARM_EN = _any(
    rf"\b{_OTHER_PERSON_EN}\b.{{0,20}}\b(?:died|passed|is dead|passed away|has died)",
    r"\b(?:nearly|almost|could have|could've|near) died|near death",
    r"\b(?:don't|do not|dont) (?:want|wanna) (?:to )?die",
)


def is_other_death_talk(text: str) -> bool:
    """Death talk that is deliberately not self-harm (see NOT_SELF_HARM_*, HYPERBOLE_*)."""
    return bool(
        is_hyperbole(text)
        or NOT_SELF_HARM_KO.search(joined(text))
        or NOT_SELF_HARM_EN.search(normalise(text))
    )


# Words of dying, living, ending or leaving. Self-harm talk uses one; low mood without them
# ("I've been better", "사는 게 힘들어요", "우울해요") is unwell, so a model guess of self-harm on a
# reply without any of these is not believed (docs/calls.md, "Self-harm risk").
LIFE_OR_DEATH_KO = re.compile(
    r"죽|주꼬|자살|목숨|세상|저승|하늘나라|없어지|없어져|없어졌|사라지|사라져|사라졌|끝내|끝낼|마감|그만살|살기|살고|"
    r"살이유|살의미|살아서|살아가|살아봐|살아도|살앙|사느니|뭐하|뭐해|가야지|가야겠|따라가|곁으로|데려|안깨|눈안|유서|"
    r"마지막|고마웠|감사했|신세|정리|먼저간|짐만|짐이"
)
LIFE_OR_DEATH_EN = re.compile(
    r"\b(?:die|died|dead|death|dying|kill|killing|suicid\w*|end|ending|life|live|living|alive|wake|disappear|"
    r"(?:was|were|am|be|i'?m|being) gone|"
    r"goodbye|goodbyes|farewell|affairs|heaven|god|lord|maker|burden|better off|point|anymore|any more|longer|"
    r"join|be with|exist|over)\b"
)


def mentions_life_or_death(text: str) -> bool:
    return bool(LIFE_OR_DEATH_KO.search(joined(text)) or LIFE_OR_DEATH_EN.search(normalise(text)))


# Any talk of a death or a brush with death: a call that hears it does not close as "fine".
DEATH_TALK_KO = re.compile(
    r"죽었|죽을뻔|죽을고비|죽다(?:가)?살|돌아가셨|돌아가심|세상(?:을)?떠났|숨졌|별세|사망|장례|초상"
)
DEATH_TALK_EN = re.compile(
    r"\bdied\b|passed away|passed on|\bfuneral\b|nearly died|almost died|near death|\b(?:is|was) dead\b|"
    # "my wife passed" (but not "passed out", "passed the test")
    rf"\b{_OTHER_PERSON_EN}\s+(?:has\s+|had\s+|just\s+)?passed\b(?!\s+(?:out|the|a|an|my|by|it|his|her|their|over|through)\b)"
)


def has_death_talk(text: str) -> bool:
    return bool(DEATH_TALK_KO.search(joined(text)) or DEATH_TALK_EN.search(normalise(text)))


# ---------------------------------------------------------------- short answers

# One word of yes or no (or a few, repeated): "응", "응응", "그래", "yeah yeah", "아니", "nope".
# A closed list on purpose: these are decided by a rule, never by the model's n-grams.
_YES = (
    r"(?:응|어|네|예|으응)+|넵|녜|(?:ㅇ|\u110b){2,}|(?:그래)+(?:요)?|(?:그럼)+(?:요)?|맞아(?:요)?|그렇지(?:요)?|그렇죠|그려|그랴|오야|오냐|"
    r"암|암요|아무렴|yes|yeah|yep|yup|ya|yah|yea|sure|aye|uh huh|mhm|mm hmm|mmhmm"
)
_NO = (
    r"아니+|아니요|아니오|아뇨|아녀|아니여|아니야|아니에요|아녜요|아닌디|아니라우|아이다|아입니더|아이요|"
    r"no+|nope|nah|naw|uh uh"
)
_YES_WORD = re.compile(rf"^(?:{_YES})$")
_NO_WORD = re.compile(rf"^(?:{_NO})$")
_UH_HUH = re.compile(r"\b(uh|mm) (huh|hmm|uh)\b")

ShortAnswer = Literal["yes", "no", "mixed"]


def short_answer(text: str) -> ShortAnswer | None:
    """Whether the whole reply is bare yes/no words: ``yes``, ``no``, ``mixed`` (both), else None."""
    norm = _UH_HUH.sub(lambda m: m.group(0).replace(" ", "_"), normalise(text))
    words = [w.replace("_", " ") for w in norm.split()]
    if not words:
        return None
    kinds = set()
    for word in words:
        if _YES_WORD.match(word):
            kinds.add("yes")
        elif _NO_WORD.match(word):
            kinds.add("no")
        else:
            return None
    if kinds == {"yes"}:
        return "yes"
    if kinds == {"no"}:
        return "no"
    return "mixed"


# ---------------------------------------------------------------- ok must be said

# "I'm fine" negated, or "fine, but ..." with a complaint: the resident is telling us they are NOT fine.
NEGATED_WELLBEING = _any(
    # (괜찬치, 갠차치: speech-to-text spellings of 괜찮지)
    r"안\s*(괜찮|괜찬|갠찮|괜차|갠차)|(괜찮|괜찬|갠찮|괜차|갠차)(지|치)\s*(가|는|도)?\s*(않|못|안)|괜찮은\s*(게|것이)?\s*아니",
    r"괜찮다고\s*(할|하기)\s*(수는|수|는)?\s*(없|어렵)",
    r"안\s*좋|좋지\s*(가|는|도)?\s*않|좋진\s*않|잘\s*못\s*지내|안\s*멀쩡",
    r"아픈데\s*괜찮|아프지만|아프긴|괜찮(은데|긴|지만).{0,20}(아프|아파|어지러|힘들|안\s*좋|쑤시|열이)",
    r"\b(but|except)\b.{0,30}\b(hurts?|pain|dizzy|sick|fever|weak|cough(ing)?|ill)\b",
    r"(?:n't|\bnot)\s+(say|call it|think|claim|pretend)\s+(that\s+)?(i'?m|i am|it'?s)\s+(ok|okay|fine|good|great|well|alright|all right)\b",
    r"(?:\bnot|n't|\bnever)\s+(feeling\s+|feel\s+|doing\s+|been\s+|be\s+)?"
    r"(so\s+|too\s+|very\s+|quite\s+|that\s+|all\s+that\s+)?(ok|okay|fine|good|great|well|alright|all right)\b",
)


def has_negated_wellbeing(text: str) -> bool:
    norm = normalise(text)
    return any(NEGATED_WELLBEING.search(view) for view in (norm, norm.replace(" ", "")))


# An "ok" must be said: the reply has to contain a way of saying "I'm fine". Replies like
# "I went to the market" are probably fine too, but the call asks again rather than guess.
OK_CUES = _any(
    r"괜찮|괜찬|갠찮|괜차|개안|좋아|좋습|좋네|좋다|좋지|잘\s*(지내|있|잤|먹|지냅|이수|이서|이우)",
    r"별일|별\s*탈|일\s*없|아무\s*(일|렇지|이상|도움)|이상\s*없|문제\s*없|건강|멀쩡|튼튼|편안|펜안|무탈|무사",
    r"안\s*아파|아프지\s*않|아픈\s*(데|곳|거)\s*없|다친\s*(데|곳)\s*없|나쁘지\s*않|걱정\s*(마|하지|안)|암시랑",
    r"^(네|예|녜|넵|응|(ㅇ|\u110b){2}|네네|예예|네에|오냐)$|(?<!\S)(1|일)\s*번(이요|요)?(?!\S)|^하나(요)?$",
    r"\b(fine|ok|okay|okey|good|gud|great|well|alright|all right|grand|healthy|safe|perfect|perfectly)\b",
    r"\bnot (too |so |that |all that )?bad\b|\bno (problems?|pain|worries)\b|\bnothing('s)? (wrong|hurts)\b|\bnot (hurt|sick|in pain)\b",
    r"can't complain|never better|couldn't be better|right as rain|fit as a fiddle|don't worry|no need to worry",
    r"^(yes|yeah|yep|yup|k|one|number one|option one)$|\b(press(ing)?|i'll press) one\b|don't need (any )?help",
)


def has_ok_cue(text: str) -> bool:
    norm = normalise(text)
    return OK_CUES.search(norm) is not None or OK_CUES.search(norm.replace(" ", "")) is not None


# The resident *said* the key: "1번", "일번이요", "number one", "I'll press one".
SPOKEN_ONE = re.compile(
    r"^(네\s*|예\s*)?(1|일|하나)\s*(번|번이요|번요|번입니다|번\s*누를게요|번\s*눌렀어요|요)?$"
    r"|^(number |option |press(ing|ed)? |i'?ll press |i pressed )?one$"
)
