"""WRONG_LANGUAGE and ECHO: an output, or a sentence of it, not in the language asked for.

WRONG_LANGUAGE rests on the service's language detector: the whole output when it is surely in
another language, else each sentence long enough to identify on its own. Languages that the
detector confuses with each other (Danish and Norwegian, Russian and Ukrainian...) are never
told apart here. ECHO is an output that copies its source: most of its words stand in runs of
three that the source has too. Names and numbers are copied by any translation, but they rarely
make up half of a sentence.
"""

from __future__ import annotations

from dataclasses import dataclass

from service.checks.findings import Finding, FindingKind
from service.checks.script import fold, sentences, tokens
from service.text.detect import LanguageDetector, count_letters
from service.text.languages import language_name

# Fewer letters than this say too little about a language.
MIN_LETTERS = 20
# The whole output must be identified at least this surely as another language.
WHOLE_CONFIDENT = 0.90
# A sentence is identified on its own when it has this many letters, and must be this surely
# another language: single sentences are where identification goes wrong.
SENTENCE_MIN_LETTERS = 40
SENTENCE_CONFIDENT = 0.98
# ECHO: share of the output's words that stand in a run of three shared with the source.
ECHO_SHARE = 0.5
ECHO_SENTENCE_SHARE = 0.7
ECHO_MIN_WORDS = 4
ECHO_SENTENCE_MIN_WORDS = 6
_RUN = 3

_CLOSE_LANGUAGES = [
    {"da", "no", "sv"},
    {"ru", "uk", "bg", "sr"},
    {"hr", "sr"},
    {"cs", "sk"},
    {"es", "ca", "pt"},
    {"id", "ms"},
    {"fa", "ur"},
    {"hi", "ur"},
    {"zh", "ja"},
]


def close_languages(a: str, b: str) -> bool:
    """Whether the detector cannot be trusted to tell `a` from `b`."""
    return a == b or any(a in group and b in group for group in _CLOSE_LANGUAGES)


@dataclass(frozen=True)
class _Copied:
    words: int
    copied: int
    start: int
    end: int

    @property
    def share(self) -> float:
        return self.copied / self.words if self.words else 0.0


def _copied(source_runs: set[tuple[str, ...]], text: str, offset: int = 0) -> _Copied:
    words = [t for t in tokens(text) if t.script is not None]
    keys = [fold(t.text) for t in words]
    covered = [False] * len(words)
    for i in range(len(words) - _RUN + 1):
        if tuple(keys[i : i + _RUN]) in source_runs:
            covered[i : i + _RUN] = [True] * _RUN
    hits = [w for w, c in zip(words, covered, strict=True) if c]
    if not hits:
        return _Copied(len(words), 0, offset, offset)
    return _Copied(len(words), len(hits), offset + hits[0].start, offset + hits[-1].end)


def covers_most(spans: list[tuple[int, int]], text: str, share: float = 0.8) -> bool:
    """Whether `spans` hold at least `share` of the letters of `text`."""
    total = count_letters(text)
    inside = sum(count_letters(text[start:end]) for start, end in spans)
    return total > 0 and inside >= share * total


def check_echo(source: str, output: str, target_language: str) -> list[Finding]:
    """ECHO for an output, or sentences of it, copied from the source."""
    keys = [fold(t.text) for t in tokens(source) if t.script is not None]
    source_runs = {tuple(keys[i : i + _RUN]) for i in range(len(keys) - _RUN + 1)}
    if not source_runs:
        return []
    whole = _copied(source_runs, output)
    if whole.words >= ECHO_MIN_WORDS and whole.share >= ECHO_SHARE:
        span = (whole.start, whole.end)
        if covers_most([span], output):
            span = (0, len(output))
        return [
            Finding(
                FindingKind.ECHO, f"{whole.share:.0%} of the output's words are copied from the source", span
            )
        ]
    findings = []
    for sentence in sentences(output, target_language):
        part = _copied(source_runs, sentence.text, sentence.start)
        if part.words >= ECHO_SENTENCE_MIN_WORDS and part.share >= ECHO_SENTENCE_SHARE:
            findings.append(
                Finding(
                    FindingKind.ECHO,
                    f"a sentence copied from the source ({part.share:.0%} of its words)",
                    (sentence.start, sentence.end),
                )
            )
    return findings


def _describe(language: str) -> str:
    return f"{language_name(language)} ({language!r})"


def check_language(
    output: str,
    target_language: str,
    detector: LanguageDetector,
    *,
    skip: list[tuple[int, int]] | None = None,
) -> list[Finding]:
    """WRONG_LANGUAGE for an output, or sentences of it, surely in another language.

    Sentences overlapping a span in `skip` (already reported, as an echo) are not looked at again.
    """
    skip = skip or []
    if count_letters(output) < MIN_LETTERS:
        return []
    whole = detector.detect(output, field="output")
    if not close_languages(whole.language, target_language) and whole.confidence >= WHOLE_CONFIDENT:
        if not covers_most(skip, output):
            return [
                Finding(
                    FindingKind.WRONG_LANGUAGE,
                    f"the output reads as {_describe(whole.language)}, not {_describe(target_language)} "
                    f"({whole.confidence:.0%} sure)",
                    (0, len(output)),
                )
            ]
        return []
    findings = []
    for sentence in sentences(output, target_language):
        if count_letters(sentence.text) < SENTENCE_MIN_LETTERS:
            continue
        if any(s[0] < sentence.end and sentence.start < s[1] for s in skip):
            continue
        detection = detector.detect(sentence.text, field="output")
        if (
            not close_languages(detection.language, target_language)
            and detection.confidence >= SENTENCE_CONFIDENT
        ):
            findings.append(
                Finding(
                    FindingKind.WRONG_LANGUAGE,
                    f"a sentence reads as {_describe(detection.language)}, not {_describe(target_language)}",
                    (sentence.start, sentence.end),
                )
            )
    return findings
