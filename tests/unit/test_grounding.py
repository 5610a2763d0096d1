"""Grounded summaries: support scores, the unsupported flag, spans into the submitted text, and their
carry-over into every translation, on fake models."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from service.models.base import GenerationParams, SummaryText
from service.pipeline import LanguageSummary, Mode, SummarizeJob, SummaryOptions
from service.text.grounding import UNSUPPORTED_BELOW, SourceIndex
from service.text.sentences import split_sentences
from tests.fakes import FakeSummarizer, FakeTranslator, fake_pipeline

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
ARTICLE = (SEEDS / "en_002_wind_farm_approval.txt").read_text(encoding="utf-8")
DE = next(SEEDS.glob("de_*.txt")).read_text(encoding="utf-8")
SENTENCES = [s.text for s in split_sentences(ARTICLE, "en")]
INVENTED = "The mayor of Paris praised the football team after its victory in the cup final."


def test_a_sentence_copied_from_the_article_is_fully_supported_by_it():
    support = SourceIndex(SENTENCES).support(SENTENCES[3])
    assert support.score == 1.0 and support.sources == (3,) and not support.unsupported


def test_a_paraphrase_is_supported_by_the_sentence_it_restates():
    support = SourceIndex(SENTENCES).support("Regulators approved the offshore wind farm on Thursday.")
    assert support.sources[0] == 1 and support.score >= 0.6 and not support.unsupported


def test_an_invented_sentence_is_flagged():
    support = SourceIndex(SENTENCES).support(INVENTED)
    assert support.score < UNSUPPORTED_BELOW and support.unsupported


def test_a_wrong_number_costs_more_support_than_a_wrong_common_word():
    index = SourceIndex(SENTENCES)
    right = index.support("The project would create around 400 jobs during construction.").score
    wrong_number = index.support("The project would create around 700 jobs during construction.").score
    wrong_word = index.support("The project would create around 400 jobs during summer.").score
    assert right > wrong_word > wrong_number


def test_a_sentence_that_joins_two_article_sentences_cites_both():
    joined = (
        "North Skerry Wind will generate up to 900 megawatts, "
        "and the project would create around 400 jobs at a base in Blyth."
    )
    support = SourceIndex(SENTENCES).support(joined)
    assert support.sources == (2, 8) and support.score > 0.7


def test_sentences_in_a_script_without_spaces_are_compared_by_character_pairs():
    article = ["合肥市政府周一宣布新建两条地铁线路。", "天气预报说明天有雨。"]
    support = SourceIndex(article).support("合肥将新建两条地铁线路。")
    assert support.sources == (0,) and not support.unsupported


# -- through the pipeline -------------------------------------------------------------------------


class FakeInventingSummarizer(FakeSummarizer):
    """A summary of two sentences: the article's third, reworded a little, then an invented one."""

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        sentences = split_sentences(text, language)
        reworded = sentences[2].text.replace("is expected to", "will")
        return SummaryText(f"{reworded} {INVENTED}")


def test_summary_sentences_point_into_the_submitted_text_and_carry_into_translations():
    # Leading space and invisible characters are removed before summarizing; spans still index the
    # text as submitted.
    submitted = "\n  \u200b" + ARTICLE.replace("Planning regulators", "Planning\u200b regulators")
    pipeline = fake_pipeline(summarizer=FakeInventingSummarizer(languages=("en",)))
    job = SummarizeJob(submitted, source_language="en", target_languages=("en", "de", "fr"))
    en, de, fr = [e for e in pipeline.run(pipeline.plan(job)) if isinstance(e, LanguageSummary)]

    assert len(en.sentences) == 2
    first, second = en.sentences
    assert en.text[first.span.start : first.span.end].startswith("The project, known as North Skerry")
    assert en.text[second.span.start : second.span.end] == INVENTED
    [source] = first.sources
    assert submitted[source.start : source.end] == SENTENCES[2]
    assert first.support > 0.8 and not first.unsupported
    assert second.unsupported and second.support < UNSUPPORTED_BELOW

    # Each translation is made sentence by sentence: its sentence i is the summary's sentence i.
    for translated, language in ((de, "de"), (fr, "fr")):
        assert [translated.text[s.span.start : s.span.end] for s in translated.sentences] == [
            f"{language}({en.text[s.span.start : s.span.end]})" for s in en.sentences
        ]
        assert [(s.sources, s.support, s.unsupported) for s in translated.sentences] == [
            (s.sources, s.support, s.unsupported) for s in en.sentences
        ]


def test_extractive_sentences_are_their_own_sources_with_full_support():
    pipeline = fake_pipeline()
    options = SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=3)
    job = SummarizeJob("  " + ARTICLE, target_languages=("en", "de"), options=options)
    en, de = [e for e in pipeline.run(pipeline.plan(job)) if isinstance(e, LanguageSummary)]
    assert len(en.sentences) == 3
    for sentence, span in zip(en.sentences, en.spans, strict=True):
        assert sentence.sources == (span,) and sentence.support == 1.0 and not sentence.unsupported
        assert en.text[sentence.span.start : sentence.span.end] == job.text[span.start : span.end]
    assert [s.sources for s in de.sentences] == [s.sources for s in en.sentences]


class FakeSentenceTranslator(FakeTranslator):
    """Translates into English by upper-casing: a summary of the result still shares its words."""

    def translate(
        self, texts: Sequence[str], source: str, target: str, params: GenerationParams
    ) -> list[str]:
        return [t.upper() if target == "en" else t for t in super().translate(texts, source, target, params)]


def test_a_summary_made_through_english_points_into_the_article_in_its_own_language():
    translator = FakeSentenceTranslator("fake-mt", [("de", "en"), ("en", "de")])
    summarizer = FakeSummarizer(languages=("en",))
    pipeline = fake_pipeline(summarizer=summarizer, translators=[translator])
    options = SummaryOptions(max_sentences=12)
    events = list(pipeline.run(pipeline.plan(SummarizeJob(DE, target_languages=("en",), options=options))))
    en = events[1]
    assert isinstance(en, LanguageSummary) and en.models == ("fake-mt", "fake-sum")
    # The article went to English sentence by sentence, one call, paragraphs kept.
    [(texts, source, target)] = translator.calls
    assert (source, target) == ("de", "en") and list(texts) == [s.text for s in split_sentences(DE, "de")]
    assert "\n\n" in summarizer.calls[0][0]
    # The summary repeats the first twelve words of the translation: the headline (eight words) and the
    # start of the first sentence. Its sources are those two, in the German article.
    [sentence] = en.sentences
    assert [DE[span.start : span.end] for span in sentence.sources] == list(texts[:2])
    assert not sentence.unsupported
