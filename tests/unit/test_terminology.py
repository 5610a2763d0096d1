"""Glossaries and kept terms: matching, placeholders, validation, and the reports the pipeline gives."""

from __future__ import annotations

import pytest

from service.errors import InvalidInputError, Reason
from service.pipeline import LanguageSummary, SummarizeJob, TranslateJob
from service.pipeline.terminology import MAX_ENTRIES, MAX_TERM_CHARS, validate_terminology
from service.text.terminology import (
    GlossaryEntry,
    MaskedText,
    Term,
    Terminology,
    TermReport,
    find_term,
    mask_terms,
    prompt_instruction,
    restore_terms,
    writes_term,
)
from tests.fakes import FakeTranslator, fake_pipeline

ARTICLE = (
    "Officials in Kiev said on Monday that the Airbus A320neo order would go ahead. "
    "The Kyivstar network reported no outages. A spokesman for the ministry in Kiev confirmed the deal."
)


# -- matching -------------------------------------------------------------------------------------


def test_terms_match_whole_words_ignoring_case():
    assert find_term(ARTICLE, "kiev") == [(13, 17), (ARTICLE.rindex("Kiev"), ARTICLE.rindex("Kiev") + 4)]
    assert find_term(ARTICLE, "Kyiv") == []  # only inside "Kyivstar"
    assert find_term("the A320neo, and A320neos", "A320neo") == [(4, 11)]
    price = "costs $5 (about €4.6)"
    assert find_term(price, "€4.6") == [(price.index("€"), price.index(")"))]


def test_terms_match_inside_runs_of_scripts_without_spaces():
    text = "北京市政府周一宣布了新的交通计划。"
    assert find_term(text, "北京") == [(0, 2)]
    assert find_term("Le maire de Paris-Saclay", "Paris") == [(12, 17)]  # a hyphen is a boundary


def test_an_output_writes_a_term_exactly_or_with_its_first_letter_changed():
    assert writes_term("Officials in Kyiv said", "Kyiv")
    assert writes_term("Data centre operators said", "data centre")
    assert not writes_term("Officials in KYIV said", "Kyiv")
    assert not writes_term("the Kyivstar network", "Kyiv")
    assert not writes_term("anything", "")


def test_the_terms_for_an_output_are_its_languages_pairs_and_kept_terms_found_in_its_source():
    terminology = Terminology(
        entries=(
            GlossaryEntry("Kiev", "Kyiv", "en"),
            GlossaryEntry("Kiev", "Kyjiw", "de"),
            GlossaryEntry("Lviv", "Lwiw", "de"),  # not in the article
        ),
        keep=("Airbus A320neo", "Kiev", "Boeing"),
    )
    assert terminology.terms_for(ARTICLE, "de") == (
        Term("Airbus A320neo", "Airbus A320neo"),
        Term("Kiev", "Kyjiw"),
    )
    assert terminology.terms_for(ARTICLE, "fr") == (
        Term("Airbus A320neo", "Airbus A320neo"),
        Term("Kiev", "Kiev"),
    )
    assert Terminology().terms_for(ARTICLE, "de") == ()


def test_the_prompt_instruction_lists_each_term_and_its_form():
    terms = (Term("Airbus A320neo", "Airbus A320neo"), Term("Kiev", "Kyjiw"))
    assert prompt_instruction(terms) == (
        'Use these terms exactly as given:\n- "Airbus A320neo": keep it as "Airbus A320neo"\n'
        '- "Kiev": write "Kyjiw"'
    )
    assert prompt_instruction(()) == ""


# -- placeholders ---------------------------------------------------------------------------------


def copy_model(text: str) -> str:
    """What a translator that copies placeholders through gives back: the text, other words changed."""
    return text.replace("Officials", "Beamte").replace("said", "sagten")


def test_masked_terms_come_back_in_their_expected_form():
    terms = (Term("Kiev", "Kyjiw"), Term("Airbus A320neo", "Airbus A320neo"))
    masked = mask_terms(ARTICLE, terms)
    assert "Kiev" not in masked.text and "A320neo" not in masked.text
    assert masked.text.count("ZQ") == 3
    restored = restore_terms(copy_model(masked.text), masked)
    assert restored.count("Kyjiw") == 2 and "Airbus A320neo" in restored and "Beamte" in restored
    assert "Kyivstar" in restored  # not a term: untouched


def test_the_longest_term_wins_where_terms_overlap():
    terms = (Term("New York", "Nueva York"), Term("New York Times", "New York Times"))
    masked = mask_terms("The New York Times reported from New York.", terms)
    assert masked.text == "The ZQ0 reported from ZQ1."
    assert restore_terms(masked.text, masked) == "The New York Times reported from Nueva York."


@pytest.mark.parametrize(
    ("output", "restored"),
    [
        ("Die ZQ 0 berichtete aus Z Q1.", "Die New York Times berichtete aus Nueva York."),
        ("Die zq0 berichtete aus ZQ1.", "Die New York Times berichtete aus Nueva York."),
        ("在ZQ1的ZQ0报道", "在Nueva York的New York Times报道"),
        ("Die ZQ7 berichtete aus ZQ1.", "Die berichtete aus Nueva York."),  # a number never given
        ("Die Zeitung berichtete.", "Die Zeitung berichtete."),  # the model dropped them
    ],
)
def test_restoring_tolerates_what_a_model_does_to_a_placeholder(output, restored):
    masked = MaskedText("The ZQ0 reported from ZQ1.", ("New York Times", "Nueva York"))
    assert restore_terms(output, masked) == restored


def test_a_text_that_already_holds_a_placeholder_lookalike_is_not_masked():
    text = "Flight ZQ1 from Kiev landed."
    assert mask_terms(text, (Term("Kiev", "Kyiv"),)) == MaskedText(text)
    assert mask_terms("No terms here.", (Term("Kiev", "Kyiv"),)) == MaskedText("No terms here.")


# -- validation -----------------------------------------------------------------------------------


def refused(raw: Terminology) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as caught:
        validate_terminology(raw)
    return caught.value


@pytest.mark.parametrize(
    ("raw", "field", "reason"),
    [
        (Terminology(keep=("ok", "  ")), "terminology.keep[1]", Reason.EMPTY_TEXT),
        (Terminology((GlossaryEntry("", "Kyiv", "en"),)), "terminology.entries[0].source", Reason.EMPTY_TEXT),
        (
            Terminology((GlossaryEntry("Kiev", "\t", "en"),)),
            "terminology.entries[0].target",
            Reason.EMPTY_TEXT,
        ),
        (
            Terminology((GlossaryEntry("Kiev", "Kyiv", ""),)),
            "terminology.entries[0].target_language",
            Reason.INVALID_ARGUMENT,
        ),
        (
            Terminology((GlossaryEntry("Kiev", "Kyiv", "not a tag"),)),
            "terminology.entries[0].target_language",
            Reason.BAD_TAG,
        ),
        (Terminology(keep=("x" * (MAX_TERM_CHARS + 1),)), "terminology.keep[0]", Reason.TEXT_TOO_LONG),
        (
            Terminology(tuple(GlossaryEntry(f"t{i}", "x", "de") for i in range(MAX_ENTRIES + 1))),
            "terminology.entries",
            Reason.TOO_MANY,
        ),
        (
            Terminology((GlossaryEntry("Kiev", "Kyiv", "en"), GlossaryEntry("kiev", "Kiew", "en-GB"))),
            "terminology.entries[1]",
            Reason.DUPLICATE_TERM,
        ),
        (Terminology(keep=("bad\x00term",)), "terminology.keep[0]", Reason.CONTROL_CHARACTERS),
    ],
)
def test_malformed_terminology_is_refused_naming_the_field(raw, field, reason):
    error = refused(raw)
    assert error.field == field and error.reason is reason


def test_valid_terminology_is_cleaned_and_normalised():
    raw = Terminology(
        (GlossaryEntry(" Kiev ", "Kyiv", "en-GB"), GlossaryEntry("Kiev", "Kyiv", "EN")),  # the same pair
        keep=("Airbus  A320neo", "airbus a320neo", "Boeing"),
    )
    assert validate_terminology(raw) == Terminology(
        (GlossaryEntry("Kiev", "Kyiv", "en"),), ("Airbus A320neo", "Boeing")
    )


# -- through the pipeline, on fakes --------------------------------------------------------------


def test_every_summary_reports_the_terms_of_the_text_it_was_made_from():
    terminology = Terminology(
        (GlossaryEntry("Kiev", "Kyjiw", "de"), GlossaryEntry("Officials", "Beamte", "de")),
        keep=("Kiev", "Boeing"),
    )
    pipeline = fake_pipeline()
    job = SummarizeJob(ARTICLE, target_languages=("en", "de"), terminology=terminology)
    events = [e for e in pipeline.run(pipeline.plan(job)) if isinstance(e, LanguageSummary)]
    en, de = events
    # The fake summary keeps the article's first words: "Officials in Kiev".
    assert en.terms == (TermReport("Kiev", "Kiev", True),)
    # The fake translator copies its input: the glossary's German forms are missing.
    assert de.text == f"de({en.text})"
    assert de.terms == (TermReport("Officials", "Beamte", False), TermReport("Kiev", "Kyjiw", False))


def test_terminology_is_part_of_the_cache_key():
    pipeline = fake_pipeline()
    first = SummarizeJob(ARTICLE, target_languages=("de",), terminology=Terminology(keep=("Kiev",)))
    second = SummarizeJob(ARTICLE, target_languages=("de",), terminology=Terminology(keep=("Monday",)))
    list(pipeline.run(pipeline.plan(first)))
    assert pipeline.cached_events(pipeline.plan(first)) is not None
    assert pipeline.cached_events(pipeline.plan(second)) is None


def test_translations_report_their_terms():
    pipeline = fake_pipeline()
    job = TranslateJob(
        texts=("Officials in Kiev met.", "Nothing to see."),
        target_languages=("de", "en"),
        source_language="en",
        terminology=Terminology((GlossaryEntry("Kiev", "Kyjiw", "de"),), keep=("Officials",)),
    )
    items = {(i.text_index, i.language): i for i in pipeline.translate(job).items}
    assert items[(0, "de")].terms == (
        TermReport("Officials", "Officials", True),
        TermReport("Kiev", "Kyjiw", False),
    )
    assert items[(0, "en")].terms == (TermReport("Officials", "Officials", True),)
    assert items[(1, "de")].terms == ()


def test_the_pipeline_refuses_malformed_terminology():
    pipeline = fake_pipeline()
    with pytest.raises(InvalidInputError) as caught:
        pipeline.plan(SummarizeJob(ARTICLE, terminology=Terminology(keep=("",))))
    assert caught.value.field == "terminology.keep[0]"
    with pytest.raises(InvalidInputError) as caught:
        pipeline.translate(TranslateJob(("Hello.",), ("de",), "en", terminology=Terminology(keep=("",))))
    assert caught.value.field == "terminology.keep[0]"


class FakeRecordingTranslator(FakeTranslator):
    """Records the terminology each call was given."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.terminologies: list[Terminology] = []

    def translate(self, texts, source, target, params):  # type: ignore[no-untyped-def]
        self.terminologies.append(params.terminology)
        return super().translate(texts, source, target, params)


def test_the_models_are_given_the_requests_terminology():
    pairs = [("en", "de"), ("de", "en")]
    translator = FakeRecordingTranslator("fake-mt", pairs)
    pipeline = fake_pipeline(translators=[translator])
    terminology = Terminology((GlossaryEntry("Kiev", "Kyjiw", "de"),), keep=("Officials",))
    list(
        pipeline.run(pipeline.plan(SummarizeJob(ARTICLE, target_languages=("de",), terminology=terminology)))
    )
    pipeline.translate(TranslateJob(("Officials in Kiev.",), ("de",), "en", terminology=terminology))
    assert translator.terminologies == [terminology, terminology]
