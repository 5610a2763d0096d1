"""NUMBER_MISSING / NUMBER_ALTERED: numbers of the source that the output drops or changes.

Numbers are read with each language's conventions, and where a spelling is ambiguous every
reading is kept: "26,750" (English), "26.750" (German), "26 750" (French) and "26,750" in an
Arabic text all stand for 26750; "1.500" may be 1500 or 1.5. Digits of other scripts (Arabic-Indic,
full-width) count as digits. A scale word after a number adds the multiplied value ("1.2 billion"
= "12亿" = "1 200 millions"), and on the output side number words count too ("cinquante",
"fünfzigste", "пятидесятой", "الخمسين", "五十"), so that a translator writing a number out is not
taken for one who dropped it. Only digits of the source are checked: number words of the source
are too often idioms ("one of the", "a couple").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.checks.findings import Finding, FindingKind, pair_with_strays
from service.checks.script import fold, tokens

# Digits and separators of other scripts, mapped one to one so that offsets stay valid.
_DIGITS = str.maketrans(
    {
        **{chr(0x0660 + i): str(i) for i in range(10)},  # Arabic-Indic
        **{chr(0x06F0 + i): str(i) for i in range(10)},  # Extended Arabic-Indic (Persian, Urdu)
        **{chr(0xFF10 + i): str(i) for i in range(10)},  # full-width
        "\u066b": ".",  # Arabic decimal separator
        "\u066c": ",",  # Arabic thousands separator
        "\uff0c": ",",
        "\uff0e": ".",
    }
)
# Languages whose decimal separator is a point; the others use a comma.
_DECIMAL_POINT = frozenset({"en", "zh", "ja", "ko", "he", "th", "hi", "bn", "ur", "ms", "id"})
# Languages that group thousands with a plain space ("26 750"); thin and no-break spaces and the
# apostrophe ("26'750", Swiss) group thousands everywhere.
_SPACE_GROUPING = frozenset(
    {"fr", "es", "ru", "uk", "bg", "pl", "cs", "sk", "sv", "no", "da", "fi", "et", "lv", "lt", "hu", "pt"}
)

# Scale words that multiply the number before them, by folded stem. Some differ between languages
# ("billion" is 10^9 in English and 10^12 in French and German): both readings are kept.
_SCALES: dict[str, tuple[float, ...]] = {
    "thousand": (1e3,),
    "million": (1e6,),
    "billion": (1e9, 1e12),
    "trillion": (1e12,),
    "bn": (1e9,),
    "mille": (1e3,),
    "milliard": (1e9,),
    "tausend": (1e3,),
    "mio": (1e6,),
    "mrd": (1e9,),
    "millon": (1e6,),
    "billon": (1e12,),
    "mila": (1e3,),
    "milion": (1e6,),
    "miliard": (1e9,),
    "milh": (1e6,),
    "bilh": (1e9,),
    "тыс": (1e3,),
    "млн": (1e6,),
    "миллион": (1e6,),
    "млрд": (1e9,),
    "миллиард": (1e9,),
    "трлн": (1e12,),
    "الف": (1e3,),
    "مليون": (1e6,),
    "ملايين": (1e6,),
    "مليار": (1e9,),
    "千": (1e3,),
    "万": (1e4,),
    "萬": (1e4,),
    "亿": (1e8,),
    "億": (1e8,),
}

# Number words by folded stem, per language. A word counts when it starts with a stem; the
# longest stem wins ("dreizehn" is 13, not 3). Ordinals share the stems of their cardinals.
_WORDS: dict[str, dict[str, float]] = {
    "en": {
        "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
        "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
        "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
        "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100,
        "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
        "eighth": 8, "ninth": 9, "tenth": 10, "twelfth": 12, "twentieth": 20, "thirtieth": 30,
        "fortieth": 40, "fiftieth": 50, "hundredth": 100, "dozen": 12,
    },
    "fr": {
        "zero": 0, "un": 1, "une": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7,
        "huit": 8, "neuf": 9, "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14,
        "quinze": 15, "seize": 16, "vingt": 20, "trente": 30, "quarante": 40, "cinquante": 50,
        "soixante": 60, "cent": 100, "premier": 1, "premiere": 1, "second": 2, "tiers": 3, "quart": 4,
        "douzaine": 12, "vingtaine": 20, "centaine": 100, "deuxiem": 2, "troisiem": 3, "quatriem": 4,
        "cinquiem": 5, "sixiem": 6, "septiem": 7, "huitiem": 8, "neuviem": 9, "dixiem": 10, "vingtiem": 20,
        "trentiem": 30, "quarantiem": 40, "cinquantiem": 50, "centiem": 100,
    },
    "de": {
        "null": 0, "ein": 1, "erst": 1, "zwei": 2, "zweit": 2, "drei": 3, "dritt": 3, "vier": 4, "funf": 5,
        "sechs": 6, "sieben": 7, "sieb": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwolf": 12,
        "dreizehn": 13, "vierzehn": 14, "funfzehn": 15, "sechzehn": 16, "siebzehn": 17, "achtzehn": 18,
        "neunzehn": 19, "zwanzig": 20, "dreissig": 30, "vierzig": 40, "funfzig": 50, "sechzig": 60,
        "siebzig": 70, "achtzig": 80, "neunzig": 90, "hundert": 100, "dutzend": 12,
    },
    "es": {
        "cero": 0, "un": 1, "uno": 1, "una": 1, "primer": 1, "dos": 2, "segund": 2, "tres": 3, "tercer": 3,
        "cuatro": 4, "cuart": 4, "cinco": 5, "quint": 5, "seis": 6, "sext": 6, "siete": 7, "septim": 7,
        "ocho": 8, "octav": 8, "nueve": 9, "noven": 9, "diez": 10, "decim": 10, "once": 11, "doce": 12,
        "trece": 13, "catorce": 14, "quince": 15, "dieciseis": 16, "diecisiete": 17, "dieciocho": 18,
        "diecinueve": 19, "veinte": 20, "veinti": 20, "vigesim": 20, "treinta": 30, "cuarenta": 40,
        "cincuenta": 50, "quincuagesim": 50, "sesenta": 60, "setenta": 70, "ochenta": 80, "noventa": 90,
        "cien": 100, "docena": 12,
    },
    "it": {
        "zero": 0, "uno": 1, "una": 1, "primo": 1, "prima": 1, "due": 2, "second": 2, "tre": 3, "terz": 3,
        "quattro": 4, "quart": 4, "cinque": 5, "quint": 5, "sei": 6, "sett": 7, "otto": 8, "nove": 9,
        "dieci": 10, "undici": 11, "dodici": 12, "venti": 20, "trenta": 30, "quaranta": 40,
        "cinquanta": 50, "sessanta": 60, "settanta": 70, "ottanta": 80, "novanta": 90, "cento": 100,
    },
    "pt": {
        "zero": 0, "um": 1, "uma": 1, "primeir": 1, "dois": 2, "duas": 2, "segund": 2, "tres": 3,
        "terceir": 3, "quatro": 4, "quart": 4, "cinco": 5, "quint": 5, "seis": 6, "sete": 7, "oito": 8,
        "nove": 9, "dez": 10, "onze": 11, "doze": 12, "vinte": 20, "trinta": 30, "quarenta": 40,
        "cinquenta": 50, "sessenta": 60, "setenta": 70, "oitenta": 80, "noventa": 90, "cem": 100,
        "cento": 100,
    },
    "ru": {
        "ноль": 0, "один": 1, "одн": 1, "перв": 1, "два": 2, "две": 2, "двух": 2, "двум": 2, "двое": 2,
        "втор": 2, "три": 3, "трех": 3, "трем": 3, "трое": 3, "трет": 3, "четыр": 4, "четвер": 4,
        "пят": 5, "шест": 6, "сем": 7, "седьм": 7, "восем": 8, "восьм": 8, "девят": 9, "десят": 10,
        "одиннадцат": 11, "двенадцат": 12, "тринадцат": 13, "четырнадцат": 14, "пятнадцат": 15,
        "шестнадцат": 16, "семнадцат": 17, "восемнадцат": 18, "девятнадцат": 19, "двадцат": 20,
        "тридцат": 30, "сорок": 40, "пятьдесят": 50, "пятидесят": 50, "шестьдесят": 60,
        "шестидесят": 60, "семьдесят": 70, "семидесят": 70, "восемьдесят": 80, "восьмидесят": 80,
        "девяност": 90, "сто": 100, "сот": 100,
    },
    "ar": {
        "صفر": 0, "واحد": 1, "اول": 1, "اثن": 2, "اثنت": 2, "ثاني": 2, "ثلاث": 3, "ثالث": 3, "اربع": 4,
        "رابع": 4, "خمس": 5, "خامس": 5, "ست": 6, "سادس": 6, "سبع": 7, "سابع": 7, "ثمان": 8, "ثامن": 8,
        "تسع": 9, "تاسع": 9, "عشر": 10, "عاشر": 10, "عشرون": 20, "عشرين": 20, "ثلاثون": 30,
        "ثلاثين": 30, "اربعون": 40, "اربعين": 40, "خمسون": 50, "خمسين": 50, "ستون": 60, "ستين": 60,
        "سبعون": 70, "سبعين": 70, "ثمانون": 80, "ثمانين": 80, "تسعون": 90, "تسعين": 90, "مايه": 100,
        "ميه": 100,
    },
}  # fmt: skip
_HAN_DIGITS = {
    "〇": 0,
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "兩": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
}
_HAN_UNITS = {
    "十": 10,
    "百": 100,
    "千": 1000,
    "万": 10_000,
    "萬": 10_000,
    "亿": 100_000_000,
    "億": 100_000_000,
}
_HAN_NUMBER = re.compile("[〇零一二两兩三四五六七八九十百千万萬亿億]+")
# Arabic words take a clitic conjunction or article in front: "والخمسين".
_ARABIC_PREFIXES = ("وال", "بال", "لل", "ال", "و", "ب", "ل")

_SEPARATORS = ",.\u00a0\u202f\u2009'’"
_TIME_SUFFIX = re.compile(r"\s?(?:a\.?m\b|p\.?m\b)", re.IGNORECASE)


def _number_pattern(space_grouping: bool) -> re.Pattern[str]:
    separators = re.escape(_SEPARATORS + (" " if space_grouping else ""))
    grouped = rf"(?P<int>\d{{1,3}}(?P<g>[{separators}])\d{{3}}(?:(?P=g)\d{{3}})*)(?!\d)(?:[.,](?P<frac>\d+))?"
    simple = r"(?P<whole>\d+)(?:(?P<sep>[.,])(?P<tail>\d+))?"
    return re.compile(rf"(?<![\d.,])(?:{grouped}|{simple})")


_PATTERNS = {grouping: _number_pattern(grouping) for grouping in (False, True)}


@dataclass(frozen=True)
class NumberMention:
    text: str
    start: int
    end: int
    values: frozenset[float]  # every value the spelling can stand for
    written_out: bool = False  # a number word rather than digits


def _key(value: float) -> float:
    return round(value, 6)


def _digit_values(text: str, language: str) -> list[tuple[int, int, frozenset[float]]]:
    """(start, end, values) of each number written with digits; "1,2" in English is two numbers."""
    out: list[tuple[int, int, frozenset[float]]] = []
    decimal_sep = "." if language in _DECIMAL_POINT else ","
    for match in _PATTERNS[language in _SPACE_GROUPING].finditer(text):
        start, end = match.span()
        if match.group("int") is not None:
            grouped, sep, frac = match.group("int"), match.group("g"), match.group("frac")
            whole = re.sub(r"\D", "", grouped)
            values = {float(f"{whole}.{frac}" if frac else whole)}
            if sep in ".," and grouped.count(sep) == 1 and not frac:
                values.add(float(grouped.replace(sep, ".")))  # "1.500" may be 1.5
        elif match.group("sep") is None:
            values = {float(match.group("whole"))}
        else:
            whole, sep, tail = match.group("whole"), match.group("sep"), match.group("tail")
            if len(tail) == 3:  # "26,750" or "1.500": a thousands group, or a decimal
                values = {float(whole + tail), float(f"{whole}.{tail}")}
            elif sep == decimal_sep or language == "ar":
                values = {float(f"{whole}.{tail}")}
            else:  # "1,2" in English, "29.9" in German: two numbers
                out.append((start, start + len(whole), frozenset({_key(float(whole))})))
                out.append((end - len(tail), end, frozenset({_key(float(tail))})))
                continue
        out.append((start, end, frozenset(_key(v) for v in values)))
    return out


def _scale_after(text: str, end: int) -> tuple[float, ...]:
    following = text[end : end + 16]
    stripped = following.lstrip()
    if not stripped:
        return ()
    if stripped[0] in _SCALES and len(following) - len(stripped) == 0:
        return _SCALES[stripped[0]]
    words = tokens(stripped[:14])
    if not words:
        return ()
    word = fold(words[0].text)
    for stem, scales in _SCALES.items():
        if len(stem) > 1 and word.startswith(stem):
            return scales
    return ()


def _word_value(word: str, table: dict[str, float], language: str) -> float | None:
    candidates = [word]
    if language == "ar":
        candidates += [
            word[len(p) :] for p in _ARABIC_PREFIXES if word.startswith(p) and len(word) > len(p) + 1
        ]
    if language == "de" and "und" in word[3:]:  # "dreiundzwanzig": 3 + 20
        unit, _, tens = word.partition("und")
        unit_value, tens_value = _word_value(unit, table, ""), _word_value(tens, table, "")
        if unit_value is not None and tens_value is not None and unit_value < 10 <= tens_value:
            return unit_value + tens_value
    best: tuple[int, float] | None = None
    for candidate in candidates:
        for stem, value in table.items():
            # A stem a word merely starts with must leave little over: "dreizehn", not "Dreieck".
            if candidate.startswith(stem) and len(candidate) - len(stem) <= max(4, len(stem) // 2):
                if best is None or len(stem) > best[0]:
                    best = (len(stem), value)
    return None if best is None else best[1]


def _han_value(numeral: str) -> float:
    if not any(ch in _HAN_UNITS for ch in numeral):  # "二〇一八": digit by digit
        return float("".join(str(_HAN_DIGITS[ch]) for ch in numeral))
    total, section, digit = 0, 0, 0
    for ch in numeral:
        if ch in _HAN_DIGITS:
            digit = _HAN_DIGITS[ch]
            continue
        unit = _HAN_UNITS[ch]
        if unit >= 10_000:
            total += ((section + digit) or 1) * unit
            section, digit = 0, 0
        else:
            section += (digit or 1) * unit
            digit = 0
    return float(total + section + digit)


def find_numbers(text: str, language: str, *, words: bool = False) -> list[NumberMention]:
    """Numbers of `text` in order; with `words`, number words of `language` too."""
    ascii_text = text.translate(_DIGITS)
    mentions: list[NumberMention] = []
    for start, end, values in _digit_values(ascii_text, language):
        scaled = {_key(v * s) for v in values for s in _scale_after(ascii_text, end)}
        clock = _TIME_SUFFIX.match(ascii_text, end)
        if clock and clock.group().lower().lstrip().startswith("p"):
            scaled |= {_key(v + 12) for v in values if v < 12}
        mentions.append(NumberMention(text[start:end], start, end, values | frozenset(scaled)))
    if words:
        mentions.extend(_number_words(text, ascii_text, language))
    return sorted(mentions, key=lambda m: m.start)


def _number_words(text: str, ascii_text: str, language: str) -> list[NumberMention]:
    out: list[NumberMention] = []
    if language in ("zh", "ja"):
        for match in _HAN_NUMBER.finditer(text):
            if match.start() and ascii_text[match.start() - 1].isdigit():
                continue  # the scale of a number in digits: "120万"
            value = _han_value(match.group())
            scaled = {_key(value * s) for s in _scale_after(ascii_text, match.end())}
            values = frozenset({_key(value)} | scaled)
            out.append(NumberMention(match.group(), match.start(), match.end(), values, written_out=True))
        return out
    table = _WORDS.get(language)
    if table is None:
        return out
    run: list[tuple[int, int, float]] = []
    for token in [*tokens(text), None]:
        word_value: float | None = None
        if token is not None and token.script is not None:
            word_value = _word_value(fold(token.text), table, language)
        if word_value is not None and token is not None and _continues(run, token.start, word_value, text):
            run.append((token.start, token.end, word_value))
            continue
        if run:
            out.append(_word_run(text, ascii_text, run))
        run = [] if word_value is None or token is None else [(token.start, token.end, word_value)]
    return out


def _continues(run: list[tuple[int, int, float]], start: int, value: float, text: str) -> bool:
    """Whether a number word at `start` continues the run: "vingt-trois", "two hundred", not "two three"."""
    if not run:
        return True
    last_end, last_value = run[-1][1], run[-1][2]
    if text[last_end:start].strip(" -\u00a0") or start - last_end > 2:
        return False
    return value >= 100 or (last_value >= 20 and value < 10) or last_value >= 100


def _word_run(text: str, ascii_text: str, run: list[tuple[int, int, float]]) -> NumberMention:
    """A run of number words read as one number, each word's own value kept as well."""
    total, current = 0.0, 0.0
    for _, _, value in run:
        if value >= 100:
            current = max(current, 1.0) * value
            if value >= 1000:
                total, current = total + current, 0.0
        else:
            current += value
    values = {_key(total + current)} | {_key(v) for _, _, v in run}
    values |= {_key(v * s) for v in set(values) for s in _scale_after(ascii_text, run[-1][1])}
    start, end = run[0][0], run[-1][1]
    return NumberMention(text[start:end], start, end, frozenset(values), written_out=True)


def check_numbers(source: str, output: str, source_language: str, target_language: str) -> list[Finding]:
    """Each number of the source must be in the output, in digits or in words.

    A source number with no match is ALTERED when the output has a number of its own that matches
    nothing in the source (paired in order), MISSING otherwise. A value the source gives twice
    needs to be in the output once, unless the output has a stray number to account for.
    """
    wanted = find_numbers(source, source_language)
    available = find_numbers(output, target_language, words=True)
    used: set[int] = set()
    unmatched: list[NumberMention] = []
    matched_values: set[float] = set()
    for mention in wanted:
        # Digits before words: "2" should take the output's "2", not its article "a".
        order = sorted(range(len(available)), key=lambda j: available[j].written_out)
        hit = next((j for j in order if j not in used and available[j].values & mention.values), None)
        if hit is None:
            unmatched.append(mention)
        else:
            used.add(hit)
            matched_values |= mention.values
    stray = [m for j, m in enumerate(available) if j not in used and not m.written_out]
    repeats = [m for m in unmatched if m.values & matched_values]
    unmatched = [m for m in unmatched if not m.values & matched_values]
    findings, _ = pair_with_strays(
        unmatched, stray, altered=FindingKind.NUMBER_ALTERED, missing=FindingKind.NUMBER_MISSING, also=repeats
    )
    return findings


def check_unsupported_numbers(article: str, summary: str, language: str) -> list[Finding]:
    """Numbers (in digits) of a summary that its article does not have, in digits or words."""
    available = find_numbers(article, language, words=True)
    values: set[float] = set()
    for mention in available:
        values |= mention.values
    return [
        Finding(
            FindingKind.NUMBER_ALTERED,
            f"{mention.text!r} is not in the article",
            (mention.start, mention.end),
        )
        for mention in find_numbers(summary, language)
        if not mention.values & values
    ]
