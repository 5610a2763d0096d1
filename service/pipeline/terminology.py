"""A request's terminology: validated once while planning, then reported on for every output.

Validation cleans and bounds what the caller sent (each refusal names the field, with a
`Reason`); the reports say, for one output, whether each term that applies to it is written as
asked (`service.text.terminology` owns the matching).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.errors import InvalidInputError, Reason
from service.text.languages import normalize_language
from service.text.normalize import clean_text
from service.text.terminology import GlossaryEntry, Terminology, TermReport, report_terms

FIELD = "terminology"
# Most glossary pairs, and most kept terms, in one request.
MAX_ENTRIES = 256
MAX_KEEP = 256
# Longest term, in characters: a name or a phrase, not a passage.
MAX_TERM_CHARS = 200


def validate_terminology(raw: Terminology, field: str = FIELD) -> Terminology:
    """The request's terminology with terms cleaned and tags normalised; InvalidInputError if malformed.

    Refused: more than MAX_ENTRIES pairs or MAX_KEEP kept terms (TOO_MANY), an empty term or
    language (EMPTY_TEXT, or the tag's own reason), a term over MAX_TERM_CHARS (TEXT_TOO_LONG),
    and two pairs that give one term two forms in one language (DUPLICATE_TERM). A pair repeated
    as is, or a kept term given twice, counts once.
    """
    if not raw:
        return raw
    _check_count(raw.entries, MAX_ENTRIES, f"{field}.entries", "glossary pairs")
    _check_count(raw.keep, MAX_KEEP, f"{field}.keep", "terms")
    entries: dict[tuple[str, str], GlossaryEntry] = {}
    for i, entry in enumerate(raw.entries):
        where = f"{field}.entries[{i}]"
        source = _term(entry.source, f"{where}.source")
        target = _term(entry.target, f"{where}.target")
        language = normalize_language(entry.target_language, field=f"{where}.target_language")
        key = (source.casefold(), language)
        earlier = entries.get(key)
        if earlier is not None and earlier.target != target:
            raise InvalidInputError(
                where,
                f"gives {source!r} in {language!r} as {target!r}; an earlier pair gives {earlier.target!r}",
                reason=Reason.DUPLICATE_TERM,
            )
        entries.setdefault(key, GlossaryEntry(source, target, language))
    keep: dict[str, str] = {}
    for i, kept in enumerate(raw.keep):
        term = _term(kept, f"{field}.keep[{i}]")
        keep.setdefault(term.casefold(), term)
    return Terminology(tuple(entries.values()), tuple(keep.values()))


def term_reports(
    terminology: Terminology, made_from: str, language: str, output: str
) -> tuple[TermReport, ...]:
    """For an output in `language` made from `made_from`: each term that applies, written as asked or not."""
    if not terminology:
        return ()
    return report_terms(terminology.terms_for(made_from, language), output)


def _check_count(items: Sequence[object], limit: int, field: str, what: str) -> None:
    if len(items) > limit:
        message = f"has {len(items)} {what}; the limit is {limit}"
        raise InvalidInputError(field, message, reason=Reason.TOO_MANY)


def _term(raw: str, field: str) -> str:
    term = " ".join(clean_text(raw, field).split())
    if not term:
        raise InvalidInputError(field, "is empty", reason=Reason.EMPTY_TEXT)
    if len(term) > MAX_TERM_CHARS:
        raise InvalidInputError(
            field,
            f"has {len(term)} characters; the limit is {MAX_TERM_CHARS}",
            reason=Reason.TEXT_TOO_LONG,
        )
    return term
