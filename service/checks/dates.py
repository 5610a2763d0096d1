"""NUMBER_ALTERED / NUMBER_MISSING for dates in words: a month or weekday the output changes or drops.

A translation that turns "Saturday, March 3" into "dimanche 3 mai" keeps every digit, so the
number check cannot see it. Month and weekday names are read per language from the lists below
(notation in `lexicon`); Chinese writes months with numerals ("3月", "三月") and weekdays as
"星期六", "周六". A month or weekday of the source that the output lacks is ALTERED when the
output has one of the same sort (month for month, weekday for weekday) that the source does not
have, paired in order, and MISSING otherwise. A month written with digits in the output
("29.9.", "29/09"), or left in the source's language (an untranslated sentence, which the echo
check reports), counts as kept. On the human references of bench/INTEGRITY.md none of the 30
translations of a sentence with a month or weekday name lacked it, so a lone absence is reported
(`checkers` leaves it to the OMISSION finding where the output drops text).

A word that is also something else counts only where its context makes it a date: "May" next to
a digit or after "in", "since"...; "mars" in Arabic (also a verb) next to a digit; a month that
its language writes in lower case, capitalised inside a sentence ("Domingo", "Mars"), next to a
digit only. On the output side any form counts as keeping the source's month; only confirmed
ones count as a different month.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache

from service.checks.findings import Finding, FindingKind, first_of_each, pair_with_strays
from service.checks.lexicon import Case, Lexicon, parse_forms

MONTHS = 12
WEEKDAYS = 7
# Units 0-11 are January-December, 12-18 Monday-Sunday.
UNIT_NAMES = (
    "January February March April May June July August September October November December "
    "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"
).split()

# Per language: the twelve months, then the seven weekdays from Monday, "|" between entries.
_CALENDAR: dict[str, str] = {
    "en": """
        January ?Jan | February ?Feb | March ?Mar | April ?Apr | ?May | June ?Jun | July ?Jul
        | August ?Aug | September ?Sep ?Sept | October ?Oct | November ?Nov | December ?Dec
        | Monday Mondays | Tuesday Tuesdays | Wednesday Wednesdays | Thursday Thursdays
        | Friday Fridays | Saturday Saturdays | Sunday Sundays
    """,
    "fr": """
        janvier | février | mars | avril | mai | juin | juillet | août | septembre | octobre
        | novembre | décembre
        | lundi lundis | mardi mardis | mercredi mercredis | jeudi jeudis | vendredi vendredis
        | samedi samedis | dimanche dimanches
    """,
    "de": """
        Januar Jänner | Februar Feber | März | April | Mai | Juni | Juli | August | September
        | Oktober | November | Dezember
        | Montag montags | Dienstag dienstags | Mittwoch mittwochs | Donnerstag donnerstags
        | Freitag freitags | Samstag samstags Sonnabend sonnabends | Sonntag sonntags
    """,
    "es": """
        enero | febrero | marzo | abril | mayo | junio | julio | agosto | septiembre setiembre
        | octubre | noviembre | diciembre
        | lunes | martes | miércoles | jueves | viernes | sábado sábados | domingo domingos
    """,
    "it": """
        gennaio | febbraio | marzo | aprile | maggio | giugno | luglio | agosto | settembre
        | ottobre | novembre | dicembre
        | lunedì | martedì | mercoledì | giovedì | venerdì | sabato sabati | domenica domeniche
    """,
    "pt": """
        janeiro | fevereiro | março | abril | maio | junho | julho | agosto | setembro | outubro
        | novembro | dezembro
        | segunda-feira segundas-feiras ?segunda | terça-feira terças-feiras ?terça
        | quarta-feira quartas-feiras ?quarta | quinta-feira quintas-feiras ?quinta
        | sexta-feira sextas-feiras ?sexta | sábado sábados | domingo domingos
    """,
    "nl": """
        januari | februari | maart | april | mei | juni | juli | augustus | september | oktober
        | november | december
        | maandag* | dinsdag* | woensdag* | donderdag* | vrijdag* | zaterdag* | zondag*
    """,
    "ru": """
        январь января январе | февраль февраля феврале | март марта марте | апрель апреля апреле
        | май мая мае | июнь июня июне | июль июля июле | август августа августе
        | сентябрь сентября сентябре | октябрь октября октябре | ноябрь ноября ноябре
        | декабрь декабря декабре
        | понедельник понедельника понедельнику понедельники
        | вторник вторника вторнику вторники | ?среда среду ?среды ?среде
        | четверг четверга четвергу четверги | пятница пятницу пятницы пятнице
        | суббота субботу субботы субботе | воскресенье воскресенья воскресеньям
    """,
    "ar": """
        يناير جانفي كانون_الثاني | فبراير فيفري شباط | ?مارس آذار | أبريل إبريل أفريل ?نيسان
        | مايو ?ماي أيار | يونيو يونيه جوان حزيران | يوليو يوليه جويلية تموز | أغسطس ?أوت ?آب
        | سبتمبر أيلول | أكتوبر تشرين_الأول | نوفمبر تشرين_الثاني | ديسمبر كانون_الأول
        | ?الاثنين | الثلاثاء | الأربعاء | الخميس | الجمعة | السبت | ?الأحد
    """,
}
# Words after which a weak form is a date: "in May", "يوم الاثنين".
_MARKERS: dict[str, tuple[str, ...]] = {
    "en": ("in", "since", "until", "till", "early", "late", "mid", "last", "next", "this", "during"),
    "ar": ("يوم", "شهر"),
    "ru": ("в", "во", "со", "до", "к"),
    "pt": ("na", "nesta", "desta", "próxima", "última", "até"),
}
# Parts of the day that German and Dutch join to a weekday: "Freitagmorgen", "zaterdagavond".
_DAY_PARTS: dict[str, tuple[str, ...]] = {
    "de": ("morgen", "vormittag", "mittag", "nachmittag", "abend", "nacht"),
    "nl": ("ochtend", "morgen", "middag", "avond", "nacht"),
}
# Languages that write months and weekdays in lower case, and the one that always capitalises them.
_CASES = {
    **dict.fromkeys(("fr", "es", "it", "pt", "nl", "ru"), Case.LOWER),
    "en": Case.REQUIRED,
}

_HAN_NUMERALS = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_ZH_MONTH = re.compile(
    r"(?<![\d〇零一二两三四五六七八九十百千])(\d{1,2}|十[一二]?|[一二三四五六七八九])\s?月"
)
_ZH_WEEKDAY = re.compile(r"(星期|礼拜|禮拜|周|週)([一二三四五六日天])(?![次遍回个個])")
# A day and month in digits, in either order: "29.9.", "29/09", "9/29"; and ISO "2018-09-29".
_NUMERIC_DATE = re.compile(r"(?<![\d.,/])(\d{1,2})\s?[./]\s?(\d{1,2})(?![\d,]|\.\d)|\d{4}-(\d{2})-\d{2}")
_ZH_DAYS = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}


@dataclass(frozen=True)
class CalendarMention:
    unit: int  # 0-11 a month, 12-18 a weekday
    start: int
    end: int
    text: str
    strong: bool

    @property
    def is_month(self) -> bool:
        return self.unit < MONTHS


@cache
def _lexicon(language: str) -> Lexicon | None:
    table = _CALENDAR.get(language)
    if table is None:
        return None
    cells = table.split("|")
    if len(cells) != MONTHS + WEEKDAYS:
        raise ValueError(f"the {language} calendar lists {len(cells)} entries")
    forms = [form for unit, cell in enumerate(cells) for form in parse_forms(str(unit), cell)]
    day_forms = [f for f in forms if int(f.key) >= MONTHS and len(f.parts) == 1 and not f.weak]
    forms += [
        replace(f, parts=(f.parts[0] + part,), stems=(True,))
        for f in day_forms
        for part in _DAY_PARTS.get(language, ())
    ]
    return Lexicon(forms, language, case=_CASES.get(language, Case.ANY), markers=_MARKERS.get(language, ()))


def calendar_languages() -> frozenset[str]:
    return frozenset(_CALENDAR) | {"zh"}


def _han_month(numeral: str) -> int:
    if numeral.isdigit():
        return int(numeral)
    if numeral.startswith("十"):
        return 10 + sum(_HAN_NUMERALS[ch] for ch in numeral[1:])
    return _HAN_NUMERALS[numeral]


def _find_chinese(text: str) -> list[CalendarMention]:
    found: list[CalendarMention] = []
    for match in _ZH_MONTH.finditer(text):
        month = _han_month(match.group(1))
        if 1 <= month <= MONTHS:
            found.append(CalendarMention(month - 1, match.start(), match.end(), match.group(), True))
    for match in _ZH_WEEKDAY.finditer(text):
        unit = MONTHS + _ZH_DAYS[match.group(2)]
        found.append(CalendarMention(unit, match.start(), match.end(), match.group(), True))
    return sorted(found, key=lambda m: m.start)


def find_dates(text: str, language: str) -> list[CalendarMention]:
    """Month and weekday names of `text`, in order; none for a language without a list."""
    if language == "zh":
        return _find_chinese(text)
    lexicon = _lexicon(language)
    if lexicon is None:
        return []
    return [CalendarMention(int(m.key), m.start, m.end, m.text, m.strong) for m in lexicon.find(text)]


_ZH_NUMERALS = "".join(_HAN_NUMERALS)  # 一 to 十, in order


def spell_unit(unit: int, language: str, like: str = "") -> str | None:
    """A form of a month or weekday that counts as one, spelt like `like` (a mention of another unit).

    Chinese keeps the numerals or the weekday word of `like`; other languages take the form in
    the same place of the list as `like`'s own (Russian "января" -> "марта"), capitalised like it.
    None where the language lists no confirmed form of the unit.
    """
    if language == "zh":
        if unit < MONTHS:
            n = unit + 1
            if any(ch.isdigit() for ch in like) or not like:
                return f"{n}月"
            return ("十" + _ZH_NUMERALS[n - 11] if n > 10 else _ZH_NUMERALS[n - 1]) + "月"
        match = _ZH_WEEKDAY.fullmatch(like)
        prefix = match.group(1) if match else "星期"
        return prefix + "一二三四五六日"[unit - MONTHS]
    lexicon = _lexicon(language)
    if lexicon is None:
        return None
    own = next((m.form for m in lexicon.find(like)), None)
    place = 0
    if own is not None:
        siblings = [f for f in lexicon.forms if f.key == own.key and not f.weak]
        place = siblings.index(own) if own in siblings else 0
    forms = [f for f in lexicon.forms if f.key == str(unit) and not f.weak and f.written]
    if not forms:
        return None
    word = forms[min(place, len(forms) - 1)].written
    return word[:1].upper() + word[1:] if like[:1].isupper() else word


def _unit(mention: CalendarMention) -> int:
    return mention.unit


def _digit_months(text: str) -> set[int]:
    units: set[int] = set()
    for match in _NUMERIC_DATE.finditer(text):
        for group in match.groups():
            if group and 1 <= int(group) <= MONTHS:
                units.add(int(group) - 1)
    return units


def check_dates(source: str, output: str, source_language: str, target_language: str) -> list[Finding]:
    """Each month and weekday name of the source must be in the output (see the module notes).

    NUMBER_ALTERED, spanned in the output, where the output has another month or weekday in its
    place; NUMBER_MISSING, spanned in the source, where it has none.
    """
    if target_language not in calendar_languages():
        return []
    in_source = find_dates(source, source_language)
    wanted = [m for m in in_source if m.strong]
    if not wanted:
        return []
    in_output = find_dates(output, target_language)
    kept = {m.unit for m in in_output} | _digit_months(output)
    if source_language != target_language:
        # Left in the source's words (an echoed sentence): kept, and for the echo check to report.
        kept |= {m.unit for m in find_dates(output, source_language)}
    named = {m.unit for m in in_source}
    missing = first_of_each((m for m in wanted if m.unit not in kept), _unit)
    strays = first_of_each((m for m in in_output if m.strong and m.unit not in named), _unit)
    findings: list[Finding] = []
    for months in (True, False):
        paired, _ = pair_with_strays(
            [m for m in missing if m.is_month is months],
            [m for m in strays if m.is_month is months],
            altered=FindingKind.NUMBER_ALTERED,
            missing=FindingKind.NUMBER_MISSING,
            gloss=lambda mention: UNIT_NAMES[mention.unit],
        )
        findings += paired
    return findings
