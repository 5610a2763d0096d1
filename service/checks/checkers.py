"""The two entry points: a translation checked against its source, a summary against its article."""

from __future__ import annotations

import threading

from service.checks.dates import check_dates
from service.checks.demonyms import merge_with_names, nationality_findings, unsupported_nationalities
from service.checks.findings import Finding, FindingKind, spans_overlap
from service.checks.language import check_echo, check_language, covers_most
from service.checks.names import check_names, check_unsupported_names
from service.checks.numbers import check_numbers, check_unsupported_numbers
from service.checks.omission import check_omission
from service.checks.repetition import find_repetition
from service.text.detect import LanguageDetector

_default_detector: LanguageDetector | None = None
_default_lock = threading.Lock()


def _detector(detector: LanguageDetector | None) -> LanguageDetector:
    global _default_detector
    if detector is not None:
        return detector
    with _default_lock:
        if _default_detector is None:
            _default_detector = LanguageDetector()
        return _default_detector


def _ordered(findings: list[Finding]) -> list[Finding]:
    return sorted(findings, key=lambda f: (f.in_source, f.span or (-1, -1), f.kind))


def check_translation(
    source: str,
    output: str,
    source_language: str,
    target_language: str,
    *,
    detector: LanguageDetector | None = None,
) -> list[Finding]:
    """Findings for `output`, a translation of `source` (languages as normalised BCP-47 tags).

    Output-side findings first, in order of their spans, then those whose span is in the source.
    An empty output is one OMISSION. `detector` defaults to one shared by the process.
    """
    if not output.strip():
        return [] if not source.strip() else check_omission(source, output, source_language, target_language)
    echoes = check_echo(source, output, target_language) if source_language != target_language else []
    echo_spans = [f.span for f in echoes if f.span is not None]
    language = check_language(output, target_language, _detector(detector), skip=echo_spans)
    findings = echoes + language + find_repetition(output)
    # An output copied from the source or in another language is that and nothing more: its
    # numbers and names are not a translation's to check.
    whole_wrong = any(f.span == (0, len(output)) for f in language)
    if not whole_wrong and not covers_most(echo_spans, output):
        omissions = check_omission(source, output, source_language, target_language)
        findings += omissions + check_numbers(source, output, source_language, target_language)
        # Where the output drops text, a month or weekday it lacks went with it: the OMISSION says
        # so (and may name another sentence than the one that held it); a changed one still counts.
        findings += [
            f
            for f in check_dates(source, output, source_language, target_language)
            if not (omissions and f.kind is FindingKind.NUMBER_MISSING)
        ]
        findings += merge_with_names(
            check_names(source, output, source_language, target_language),
            nationality_findings(source, output, source_language, target_language),
        )
    return _ordered(findings)


def check_summary(
    article: str, summary: str, language: str, *, detector: LanguageDetector | None = None
) -> list[Finding]:
    """Findings for `summary`, a summary of `article` in the same `language`.

    WRONG_LANGUAGE and REPETITION as for a translation; NUMBER_ALTERED for a number of the
    summary that the article does not have, NAME_ALTERED for a name none of whose words it has
    and for a country (by any word for it: "Russian", "Russie") that it does not name. Months and
    weekdays are not checked here: human summaries name days their article calls "yesterday".
    """
    if not summary.strip():
        return []
    findings = check_language(summary, language, _detector(detector))
    findings += find_repetition(summary)
    findings += check_unsupported_numbers(article, summary, language)
    names = check_unsupported_names(article, summary, language)
    findings += names + [
        f
        for f in unsupported_nationalities(article, summary, language)
        if not any(spans_overlap(f.span, name.span) for name in names)
    ]
    return _ordered(findings)
