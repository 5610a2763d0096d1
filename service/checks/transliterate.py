"""Comparing a name across Latin, Cyrillic, Greek and Arabic spellings by its consonants.

A name keeps its consonants when it changes script ("Livingston", "Ливингстон", "ليفينغستون")
far better than its vowels, which Arabic mostly leaves unwritten and every language colours its
own way. So a word is reduced to a skeleton of coarse consonant classes, and two skeletons are
compared with room for a consonant lost or added:

    B  b p          T  t d th          K  k g c(a,o,u) q j ch(Scots) dzh
    S  s z c(e,i) sh ch zh ts x        L  l    R  r    M  m    N  n

Sounds that scripts render inconsistently count for nothing: every vowel, h and kh (Raheem,
Рахим, رحيم), f, v, w (Steven, Стивен, ستيفن; Wheeling, Уилинг; Newport, Ньюпорт), a silent
gh (Brighton) and a final ch (Zurich, Цюрих; Greenwich, Гринвич). A
skeleton shorter than three classes says too little to compare: such a name is not checked
across scripts.
"""

from __future__ import annotations

from functools import lru_cache

from service.checks.script import Script, char_script, fold

MIN_SKELETON = 3

# Latin letter groups first, longest first; then single letters.
_LATIN_GROUPS = (
    ("tch", "S"),
    ("sch", "S"),
    ("dzh", "K"),
    ("sh", "S"),
    ("ch", "S"),
    ("zh", "S"),
    ("dg", "K"),
    ("dj", "K"),
    ("th", "T"),
    ("ph", ""),
    ("kh", ""),
    ("ck", "K"),
    ("qu", "K"),
)
_LATIN = {
    **dict.fromkeys("bp", "B"),
    **dict.fromkeys("td", "T"),
    **dict.fromkeys("gjkq", "K"),
    **dict.fromkeys("sz", "S"),
    "x": "KS",
    "l": "L",
    "r": "R",
    "m": "M",
    "n": "N",
}
_CYRILLIC = {
    **dict.fromkeys("бп", "B"),
    **dict.fromkeys("тд", "T"),
    **dict.fromkeys("гкґ", "K"),
    **dict.fromkeys("сзжшщчц", "S"),
    "л": "L",
    "р": "R",
    "м": "M",
    "н": "N",
}
_GREEK_GROUPS = (("μπ", "B"), ("ντ", "T"), ("γκ", "K"), ("γγ", "NK"))
_GREEK = {
    **dict.fromkeys("π", "B"),
    **dict.fromkeys("τδθ", "T"),
    **dict.fromkeys("κγ", "K"),
    **dict.fromkeys("σςζ", "S"),
    "ξ": "KS",
    "ψ": "BS",
    "λ": "L",
    "ρ": "R",
    "μ": "M",
    "ν": "N",
}
_ARABIC_GROUPS = (("تش", "S"),)
_ARABIC = {
    **dict.fromkeys("بپ", "B"),
    **dict.fromkeys("تطدضثذظ", "T"),
    **dict.fromkeys("كقغجگ", "K"),
    **dict.fromkeys("سصزشژچ", "S"),
    "ل": "L",
    "ر": "R",
    "م": "M",
    "ن": "N",
}
# Clitics an Arabic word may start with: the article and the conjunctions and prepositions that
# attach to it ("والخمسين", "بريطانيا" must stay whole, so each is only an alternative reading).
ARABIC_PREFIXES = ("وال", "بال", "فال", "لل", "ال", "و", "ب", "ل", "ف")


def _classes(word: str, groups: tuple[tuple[str, str], ...], singles: dict[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(word):
        if groups is _LATIN_GROUPS and i + 2 == len(word) and word.endswith("ch"):
            break  # a final "ch" is "tch" in English, "kh" in German names (Zurich, Цюрих): not counted
        for group, value in groups:
            if word.startswith(group, i):
                out.append(value)
                i += len(group)
                break
        else:
            ch = word[i]
            if ch == "c":  # soft before e, i, y
                out.append("S" if word[i + 1 : i + 2] in ("e", "i", "y") else "K")
            elif ch == "g" and i == 0 and word.startswith("gh"):
                out.append("K")
                i += 1
            elif ch == "g" and word.startswith("gh", i):  # Kavanaugh, Brighton: silent
                i += 1
            else:
                out.append(singles.get(ch, ""))
            i += 1
    collapsed: list[str] = []
    for cls in "".join(out):
        if not collapsed or collapsed[-1] != cls:
            collapsed.append(cls)
    return "".join(collapsed)


def word_script(word: str) -> Script | None:
    for ch in word:
        script = char_script(ch)
        if script is not None:
            return script
    return None


@lru_cache(maxsize=65_536)  # words recur across sentences, checks and calls
def skeleton(word: str) -> str:
    """The consonant classes of a word of Latin, Cyrillic, Greek or Arabic script ("" otherwise)."""
    folded = fold(word)
    script = word_script(word)
    if script is Script.LATIN:
        return _classes(folded, _LATIN_GROUPS, _LATIN)
    if script is Script.CYRILLIC:
        return _classes(folded.replace("дж", "\x01"), (("\x01", "K"),), _CYRILLIC)
    if script is Script.GREEK:
        return _classes(folded, _GREEK_GROUPS, _GREEK)
    if script is Script.ARABIC:
        return _classes(folded, _ARABIC_GROUPS, _ARABIC)
    return ""


def arabic_readings(word: str) -> list[str]:
    """The word, and the word without each clitic it may start with."""
    folded = fold(word)
    return [folded] + [
        folded[len(p) :] for p in ARABIC_PREFIXES if folded.startswith(p) and len(folded) > len(p) + 2
    ]


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between two short strings."""
    previous = list(range(len(b) + 1))
    for i, ch in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ch != other)))
        previous = current
    return previous[-1]


def skeletons_match(wanted: str, found: str, *, exact: bool = False) -> bool:
    """Whether `found` (possibly inflected, so longer) spells the name whose skeleton is `wanted`.

    Both must open with the same class, and `wanted` must open `found`, or, unless `exact`, be
    within a small edit distance of its start: none for three classes, one for four, two for five
    or more; but `found` may lack at most one class of `wanted` (a common word's short skeleton
    must not pass for a long name's).
    """
    if len(wanted) < MIN_SKELETON or not found or found[0] != wanted[0]:
        return False
    if found.startswith(wanted):
        return True
    allowed = 0 if exact or len(wanted) == MIN_SKELETON else 1 if len(wanted) == 4 else 2
    if not allowed or len(found) < len(wanted) - 1:
        return False
    lengths = range(len(wanted) - 1, len(wanted) + allowed + 1)
    return min(edit_distance(wanted, found[:n]) for n in lengths) <= allowed
