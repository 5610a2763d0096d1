"""What the llm backend says to a chat model, and how it reads the answer: the system prompt, the summary and
translation instructions, the clean-up of the chatter instruction-tuned models wrap around an answer, and the
finishing of a summary (its sentence count, and the sentences it cannot stand behind).

Plain text only: no tokenizer, no runtime. The figures behind each choice are in bench/QUALITY.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from service.errors import ModelLoadError
from service.text.languages import LANGUAGE_NAMES, NATIVE_NAMES, language_name
from service.text.scripts import joiner
from service.text.sentences import split_sentences
from service.text.terminology import Term, prompt_instruction

SYSTEM_PROMPT = (
    "You are a careful news editor. You write accurate, neutral summaries and faithful translations. "
    "You answer with the requested text only."
)

# Summary prompt styles. "brief" asks for a summary in at most N sentences; "news" asks for the news facts in
# the article's own words, N sentences of about WORDS_PER_SENTENCE words, what happened first. Per language,
# the style that scored the higher mean ROUGE on the dev news (bench/QUALITY.md): news in German (+2.9 R1) and
# English (+1.7, one article's +20 in it), brief in French (+4.9); news for the languages not measured.
BRIEF = "brief"
NEWS = "news"
SUMMARY_STYLES = (BRIEF, NEWS)
# The style per summary language; "*" is every language not named.
ANY_LANGUAGE = "*"
DEFAULT_SUMMARY_STYLES: Mapping[str, str] = {"fr": BRIEF, ANY_LANGUAGE: NEWS}
WORDS_PER_SENTENCE = 20
_COUNTS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")

# How a translation instruction names its target, where the English name alone is not enough: the model
# answered in Latin transliteration or in dialect now and then (Arabic chrF +2.3 on the dev set with this).
_TARGET_NAMES = {"ar": ("Modern Standard Arabic (العربية), in Arabic script", "Arabic")}

# Lines a chatty model adds around the answer.
_ANSWER_WORDS = (
    r"(?:summary|translation|résumé|traduction|zusammenfassung|übersetzung|resumen|traducción|traduzione|"
    r"tradução|перевод|резюме|摘要|翻译|译文|ملخص|ترجمة)"
)
_PREAMBLE = re.compile(
    r"^\s*(?:sure[,!.]?|certainly[,!.]?|okay[,!.]?)?\s*(?:here(?: is|'s| are)[^:\n]{0,80}:|"
    rf"{_ANSWER_WORDS}(?: in [a-z]+)?\s*[:：]|"
    # A line of its own, in any language, that announces the answer ("Вот русский перевод текста:").
    rf"[^:：\n]{{0,40}}{_ANSWER_WORDS}[^:：\n]{{0,40}}[:：][ \t]*\n)\s*",
    re.IGNORECASE,
)
_TRAILER = re.compile(r"\n\s*(?:note|notes|explanation|\(note)\b.*$", re.IGNORECASE | re.DOTALL)
_FENCE = re.compile(r"^```[a-zA-Z]*\n?|\n?```$")
# A sentence that ends as sentences do: its final stop, then any closing quotes or brackets.
# Characters of the sentence after the last one kept that show it has begun (see summary_complete).
_NEXT_SENTENCE_CHARS = 12
_SENTENCE_END = re.compile(r"[.!?…。！？؟][\"'”’»)\]」』）]*$")
# Languages whose news often writes numbers in characters ("一百八十公里"), which the number check
# cannot read: a summary that writes them in digits would lose true sentences, so they are not checked.
_NUMERALS_IN_WORDS = frozenset({"zh", "ja"})
# A number as written: digits, with the separators of thousands and decimals between them.
_NUMBER = re.compile(r"\d(?:[\d.,'’\u00a0\u202f]*\d)?")


def clean_output(text: str, language: str = "") -> str:
    """Strip the chatter instruction-tuned models wrap around an answer; with the answer's `language`, also
    a leading label that names it ("العربية: ...", "Deutsch: ...")."""
    text = text.strip().replace("**", "")
    text = _FENCE.sub("", text).strip()
    text = _PREAMBLE.sub("", text, count=1).strip()
    if language:
        text = _language_label(language).sub("", text, count=1).strip()
    text = _TRAILER.sub("", text).strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'“”«»":
        text = text[1:-1].strip()
    if len(text) >= 2 and text[0] in "“«" and text[-1] in "”»":
        text = text[1:-1].strip()
    return text


def _language_label(language: str) -> re.Pattern[str]:
    names = [n for n in (NATIVE_NAMES.get(language), LANGUAGE_NAMES.get(language)) if n]
    alternatives = "|".join(re.escape(n) for n in names) or re.escape(language)
    return re.compile(rf"^(?:{alternatives})(?:\s*\([^)\n]{{0,40}}\))?\s*[:：]\s*", re.IGNORECASE)


def finish_summary(answer: str, article: str, language: str, sentences: int, *, cut: bool) -> str:
    """The summary in a model's answer: cleaned, its first `sentences` sentences, less any of them that
    states a number the article does not contain, and less a last sentence that the token budget cut off
    (`cut`: the answer ran to the budget). A summary that would lose every sentence keeps its first. (No
    number check for Chinese and Japanese, see _NUMERALS_IN_WORDS.)

    The model does not keep to a sentence count it is asked for, and the token budget alone ends a summary
    mid-sentence; the trim brings its length to that of human news summaries.
    """
    text = clean_output(answer, language)
    found = [s.text for s in split_sentences(text, language)]
    if not found:
        return text
    kept = found[:sentences]
    if cut and len(found) <= sentences and not _SENTENCE_END.search(kept[-1]):
        kept.pop()
    if language not in _NUMERALS_IN_WORDS:
        known = _numbers(article)
        kept = [s for s in kept if all(_is_known(n, known) for n in _numbers(s))] or found[:1]
    return joiner(language).join(kept)


def summary_complete(language: str, sentences: int) -> Callable[[str], bool]:
    """Whether an answer still being written already holds every sentence `finish_summary` keeps of it: it
    has begun the next sentence, with a few words of it, so that a full stop inside an abbreviation or a
    number is not taken for an end. The model writes past the sentences it was asked for more often than
    not; what it writes after them is trimmed, so decoding can stop there."""

    def complete(answer: str) -> bool:
        found = split_sentences(clean_output(answer, language), language)
        return len(found) > sentences and len(found[sentences].text) >= _NEXT_SENTENCE_CHARS

    return complete


def _numbers(text: str) -> set[str]:
    """The numbers of two or more digits in `text`, as their digits alone ("1,500", "1’500" -> "1500").

    Single digits are left out: an article often spells them ("three people"), which the check cannot see.
    """
    digits = ("".join(str(int(c)) for c in m.group() if c.isdigit()) for m in _NUMBER.finditer(text))
    return {d for d in digits if len(d) >= 2}


def _is_known(number: str, known: set[str]) -> bool:
    """Whether the article has `number`, or a number that contains it (a summary may drop a separator group or
    write "2.5" where the article has "2,50")."""
    return any(number in k for k in known)


def summary_styles(value: object, model: str) -> dict[str, str]:
    """The `summary_prompt` option as a style per language (with the ANY_LANGUAGE default): a style name for
    every language, or a table of language -> style over DEFAULT_SUMMARY_STYLES."""
    if value is None:
        return dict(DEFAULT_SUMMARY_STYLES)
    where = f"model {model!r}: summary_prompt"
    known = ", ".join(SUMMARY_STYLES)
    if isinstance(value, str):
        if value not in SUMMARY_STYLES:
            raise ModelLoadError(f"{where}: unknown style {value!r}; known: {known}")
        return {ANY_LANGUAGE: value}
    if not isinstance(value, Mapping):
        raise ModelLoadError(f"{where} must be a style name or a table of language -> style, got {value!r}")
    styles = dict(DEFAULT_SUMMARY_STYLES)
    for language, style in value.items():
        if language != ANY_LANGUAGE and language not in LANGUAGE_NAMES:
            raise ModelLoadError(f"{where}: {language!r} is not a language tag the service speaks nor '*'")
        if style not in SUMMARY_STYLES:
            raise ModelLoadError(f"{where}: unknown style {style!r} for {language!r}; known: {known}")
        styles[language] = style
    return styles


def style_for(styles: Mapping[str, str], language: str) -> str:
    return styles.get(language) or styles.get(ANY_LANGUAGE) or BRIEF


def _with_terms(text: str, terms: Sequence[Term]) -> str:
    """The text, then the "use these terms" paragraph: after the text, so that the prompt up to the text
    stays the same for every request (its model state is cached)."""
    instruction = prompt_instruction(terms)
    return f"{text}\n\n{instruction}" if instruction else text


def summarize_messages(
    text: str, language: str, sentences: int, terms: Sequence[Term] = (), style: str = BRIEF
) -> list[dict[str, str]]:
    instruction = (_news_instruction if style == NEWS else _brief_instruction)(
        language_name(language), sentences
    )
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": f"{instruction}\n\nArticle:\n{_with_terms(text, terms)}"},
    ]


def _brief_instruction(name: str, sentences: int) -> str:
    return (
        f"Summarize the following news article in {name}, in at most {sentences} sentences. "
        f"Keep names, numbers and places exact. Write the summary in {name} only, with no title "
        f"and no introduction."
    )


def _news_instruction(name: str, sentences: int) -> str:
    words = sentences * WORDS_PER_SENTENCE
    if sentences == 1:
        shape = (
            f"one sentence, about {words} words, that says what happened, who was involved, where and when."
        )
    else:
        others = "the other one gives" if sentences == 2 else f"the other {_count(sentences - 1)} give"
        shape = (
            f"{_count(sentences)} sentences, about {words} words in total. The first sentence says what "
            f"happened, who was involved, where and when; {others} the most important details and figures."
        )
    return (
        f"Write a news summary of the article below in {name}: {shape} "
        "Use the article's own words and add nothing it does not say. No title, no introduction."
    )


def _count(n: int) -> str:
    return _COUNTS[n] if n < len(_COUNTS) else str(n)


def translate_messages(
    text: str, source: str, target: str, terms: Sequence[Term] = ()
) -> list[dict[str, str]]:
    into, reply = _TARGET_NAMES.get(target, (language_name(target), language_name(target)))
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {
            "role": "user",
            "content": (
                f"Translate the following text from {language_name(source)} into {into}. "
                f"Reply with the {reply} translation only.\n\n"
                f"Text:\n{_with_terms(text, terms)}"
            ),
        },
    ]
