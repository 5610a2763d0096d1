"""The pipeline on fake models: routing, pivoting, ordering, failures, validation, map-reduce."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import InvalidInputError, ModelError, RequestCancelledError, UnsupportedLanguageError
from service.models.base import GenerationParams, ModelDescription, ModelSpec
from service.models.extractive import ExtractiveSummarizer
from service.pipeline import (
    LanguageFailure,
    LanguageSummary,
    Length,
    Limits,
    Mode,
    SourceLanguage,
    SummarizeJob,
    SummaryOptions,
    TranslateJob,
)
from service.pipeline.routes import PIVOT, RouteTable, batches
from tests.fakes import FakeMultiTranslator, FakeSummarizer, FakeTranslator, fake_pipeline

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
EN = (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")
DE = next(SEEDS.glob("de_*.txt")).read_text(encoding="utf-8")
FR = next(SEEDS.glob("fr_*.txt")).read_text(encoding="utf-8")


def run(pipeline, job):
    plan = pipeline.plan(job)
    return list(pipeline.run(plan))


def test_summary_in_source_language_then_translations_in_order():
    events = run(fake_pipeline(), SummarizeJob(EN, target_languages=("de", "en", "ru")))
    assert isinstance(events[0], SourceLanguage)
    assert events[0].language == "en" and not events[0].declared and events[0].confidence > 0.9
    langs = [e.language for e in events[1:]]
    assert langs == ["en", "de", "ru"]  # the base language is ready first, then the order asked
    base = events[1]
    assert isinstance(base, LanguageSummary) and base.text.startswith("fake-sum[en]:")
    assert base.translated_from == "" and base.models == ("fake-sum",)
    de = events[2]
    assert de.text == f"de({base.text})" and de.translated_from == "en"
    assert de.models == ("fake-sum", "fake-mt")


def test_source_summary_is_never_translated_again():
    translator = FakeTranslator("fake-mt", [("fr", "en"), ("en", "fr")])
    pipeline = fake_pipeline(translators=[translator])
    events = run(pipeline, SummarizeJob(FR, target_languages=("fr", "en")))
    fr = next(e for e in events if isinstance(e, LanguageSummary) and e.language == "fr")
    assert fr.text.startswith("fake-sum[fr]:") and fr.translated_from == ""
    # Only one translation call: fr -> en of the summary; nothing into French.
    assert [(s, t) for _, s, t in translator.calls] == [("fr", "en")]


def test_pivot_through_english_when_no_summarizer_for_the_source():
    events = run(fake_pipeline(), SummarizeJob(DE, target_languages=("de", "es")))
    assert events[0].language == "de"
    summaries = {e.language: e for e in events[1:]}
    # The article is translated de -> en, summarized in English, then translated back.
    assert summaries["de"].translated_from == "en"
    assert summaries["de"].text.startswith("de(fake-sum[en]: en(")
    assert summaries["de"].models == ("fake-mt", "fake-sum", "fake-mt")
    assert summaries["es"].text.startswith("es(fake-sum[en]:")


def test_two_hop_route_between_non_english_languages():
    pipeline = fake_pipeline()
    route = pipeline.route("fr", "de")
    assert [t.name for t in route] == ["fake-mt", "fake-mt"]
    events = run(pipeline, SummarizeJob(FR, target_languages=("de",)))
    de = events[1]
    assert de.text.startswith("de(en(fake-sum[fr]:") and de.translated_from == "fr"


def test_one_failing_language_does_not_fail_the_others():
    pairs = [("en", "fr"), ("en", "de"), ("en", "es")]
    pipeline = fake_pipeline(translators=[FakeTranslator("fake-mt", pairs, fail_on=("de",))])
    events = run(pipeline, SummarizeJob(EN, target_languages=("fr", "de", "es")))
    by_lang = {e.language: e for e in events[1:]}
    assert isinstance(by_lang["de"], LanguageFailure) and isinstance(by_lang["de"].error, ModelError)
    assert isinstance(by_lang["fr"], LanguageSummary) and isinstance(by_lang["es"], LanguageSummary)


def test_extractive_mode_returns_spans_into_the_source():
    job = SummarizeJob(EN, options=SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=2))
    events = run(fake_pipeline(), job)
    summary = events[1]
    assert summary.models == ("textrank",) and len(summary.spans) == 2
    for span in summary.spans:
        assert EN[span.start : span.end] in summary.text


def test_html_input_is_reduced_to_text():
    head = "<head><style>p{}</style><script>var x='junk';</script></head>"
    html = f"<html>{head}<body><p>{FR}</p></body></html>"
    events = run(fake_pipeline(), SummarizeJob(html, is_html=True, options=SummaryOptions(max_sentences=50)))
    assert events[0].language == "fr"
    assert "junk" not in events[1].text and "<p>" not in events[1].text


def test_long_article_is_map_reduced_without_truncation():
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=120)
    pipeline = fake_pipeline(summarizer=summarizer)
    events = run(pipeline, SummarizeJob(EN * 3))
    assert isinstance(events[1], LanguageSummary)
    # Several chunk calls, then a final call on their joined output; no call over budget.
    assert len(summarizer.calls) > 2
    assert all(len(text.split()) <= 120 for text, _ in summarizer.calls)
    chunk_words = sum(len(text.split()) for text, _ in summarizer.calls[:-1])
    assert chunk_words >= len((EN * 3).split())  # every word reached a chunk


def test_declared_language_contradicting_detection_is_warned_not_obeyed_silently():
    events = run(fake_pipeline(), SummarizeJob(EN, source_language="fr"))
    source = events[0]
    assert source.language == "fr" and source.declared and source.confidence == 1.0
    assert any("looks like 'en'" in w for w in source.warnings)


@pytest.mark.parametrize(
    ("job", "field", "error"),
    [
        (SummarizeJob("   \n "), "text", InvalidInputError),
        (SummarizeJob("<p> </p>", is_html=True), "text", InvalidInputError),
        (SummarizeJob(EN, source_language="english!"), "source_language", InvalidInputError),
        (SummarizeJob(EN, source_language="sw"), "source_language", UnsupportedLanguageError),
        (SummarizeJob(EN, target_languages=("fr", "xx")), "target_languages[1]", UnsupportedLanguageError),
        (SummarizeJob(EN, target_languages=("fr", "fr-FR")), "target_languages[1]", InvalidInputError),
        (SummarizeJob("12345 67890 !!! 😀"), "text", InvalidInputError),
        (SummarizeJob(EN, options=SummaryOptions(max_tokens=5000)), "options.max_tokens", InvalidInputError),
        (
            SummarizeJob(EN, options=SummaryOptions(max_sentences=51)),
            "options.max_sentences",
            InvalidInputError,
        ),
        (SummarizeJob(EN, options=SummaryOptions(num_beams=9)), "options.num_beams", InvalidInputError),
    ],
)
def test_bad_input_names_the_field(job, field, error):
    with pytest.raises(error) as info:
        fake_pipeline().plan(job)
    assert info.value.field == field


def test_size_and_target_limits():
    pipeline = fake_pipeline(limits=Limits(max_text_chars=100, max_targets=2))
    with pytest.raises(InvalidInputError, match="limit is 100") as info:
        pipeline.plan(SummarizeJob("word " * 50))
    assert info.value.reason == "TEXT_TOO_LONG"
    with pytest.raises(InvalidInputError, match="limit is 2"):
        pipeline.plan(SummarizeJob("A short English sentence.", target_languages=("fr", "de", "es")))


def test_length_presets_and_explicit_bounds():
    pipeline = fake_pipeline()
    assert (
        pipeline.plan(SummarizeJob(EN, options=SummaryOptions(length=Length.SHORT))).params.max_new_tokens
        == 80
    )
    assert (
        pipeline.plan(SummarizeJob(EN, options=SummaryOptions(length=Length.LONG))).params.max_sentences == 6
    )
    params = pipeline.plan(SummarizeJob(EN, options=SummaryOptions(max_tokens=33, num_beams=4))).params
    assert (params.max_new_tokens, params.num_beams) == (33, 4)


def test_stop_signal_ends_the_run():
    pipeline = fake_pipeline(summarizer=FakeSummarizer(languages=("en",), delay_s=5))
    plan = pipeline.plan(SummarizeJob(EN, target_languages=("en", "fr")))
    events = pipeline.run(plan, should_stop=lambda: True)
    assert isinstance(next(events), SourceLanguage)
    with pytest.raises(RequestCancelledError):
        next(events)


def test_translate_is_text_major_and_keeps_source_language_texts():
    result = fake_pipeline().translate(
        TranslateJob(("Good morning to all.", "The meeting ended late."), ("fr", "en"))
    )
    assert result.source.language == "en"
    assert [(i.text_index, i.language) for i in result.items] == [(0, "fr"), (0, "en"), (1, "fr"), (1, "en")]
    assert (
        result.items[0].text == "fr(Good morning to all.)" and result.items[1].text == "Good morning to all."
    )


@pytest.mark.parametrize(
    ("job", "field"),
    [
        (TranslateJob((), ("fr",)), "texts"),
        (TranslateJob(("ok text here", " "), ("fr",)), "texts[1]"),
        (TranslateJob(("Some English text.",), ()), "target_languages"),
        (TranslateJob(("Some English text.",), ("sw",)), "target_languages[0]"),
    ],
)
def test_translate_validation(job, field):
    with pytest.raises(InvalidInputError) as info:
        fake_pipeline().translate(job)
    assert info.value.field == field


def test_describe_lists_models_and_reachable_languages():
    info = fake_pipeline().describe()
    assert info.profile == "fake"
    assert {m.name for m in info.models} == {"fake-sum", "fake-mt", "textrank"}
    assert set(info.languages) == {"en", "fr", "de", "es", "ru", "ar", "zh"}


def test_targets_of_one_multi_target_model_are_translated_in_one_batch():
    multi = FakeMultiTranslator("fake-llm", [("en", x) for x in ("fr", "de", "es")])
    marian = FakeTranslator("fake-en-ru", [("en", "ru")])
    pipeline = fake_pipeline(translators=[multi, marian])
    events = run(pipeline, SummarizeJob(EN, target_languages=("fr", "ru", "de", "es", "en")))
    assert multi.batches == [("en", ("fr", "de", "es"))]
    assert not multi.calls  # never one target at a time
    assert [(s, t) for _, s, t in marian.calls] == [("en", "ru")]
    summaries = {e.language: e for e in events[1:]}
    assert set(summaries) == {"en", "fr", "de", "es", "ru"}
    assert summaries["de"].text == f"de({summaries['en'].text})"
    assert summaries["ru"].models == ("fake-sum", "fake-en-ru")


def test_a_failed_batch_fails_its_languages_only():
    multi = FakeMultiTranslator("fake-llm", [("en", "fr"), ("en", "de")], fail_on=("de",))
    marian = FakeTranslator("fake-en-es", [("en", "es")])
    events = run(
        fake_pipeline(translators=[multi, marian]), SummarizeJob(EN, target_languages=("fr", "de", "es"))
    )
    kinds = {e.language: type(e).__name__ for e in events[1:]}
    assert kinds == {"fr": "LanguageFailure", "de": "LanguageFailure", "es": "LanguageSummary"}


def test_translate_rpc_batches_targets_too():
    multi = FakeMultiTranslator("fake-llm", [("en", "fr"), ("en", "de")])
    result = fake_pipeline(translators=[multi]).translate(
        TranslateJob(("One text here.", "Another."), ("fr", "de"))
    )
    assert multi.batches == [("en", ("fr", "de")), ("en", ("fr", "de"))]
    assert [(i.text_index, i.language, i.text) for i in result.items] == [
        (0, "fr", "fr(One text here.)"),
        (0, "de", "de(One text here.)"),
        (1, "fr", "fr(Another.)"),
        (1, "de", "de(Another.)"),
    ]


def test_repeated_request_is_answered_from_the_cache():
    summarizer = FakeSummarizer(languages=("en",))
    translator = FakeTranslator("fake-mt", [("en", "fr"), ("en", "de"), ("en", "es")])
    pipeline = fake_pipeline(summarizer=summarizer, translators=[translator])
    job = SummarizeJob(EN, target_languages=("en", "fr", "de"))
    first = run(pipeline, job)
    assert pipeline.cached_events(pipeline.plan(job)) is not None
    calls = (len(summarizer.calls), len(translator.calls))
    second = pipeline.cached_events(pipeline.plan(job))
    assert [(e.language, e.text) for e in second[1:]] == [(e.language, e.text) for e in first[1:]]
    assert (len(summarizer.calls), len(translator.calls)) == calls  # no model touched
    # A different option or target is a different key.
    other = SummarizeJob(EN, target_languages=("en", "fr"), options=SummaryOptions(max_tokens=50))
    assert pipeline.cached_events(pipeline.plan(other)) is None
    partial = SummarizeJob(EN, target_languages=("en", "es"))
    assert pipeline.cached_events(pipeline.plan(partial)) is None


def test_cache_is_bounded():
    from service.pipeline.cache import ResultCache

    cache = ResultCache(max_entries=2, max_chars=100)
    for i in range(5):
        cache.put(i, "x", 10)
    assert len(cache) == 2 and cache.get(4) == "x" and cache.get(0) is None
    cache.put("big", "y" * 200, 200)  # larger than the whole budget: not kept
    assert cache.get("big") is None
    cache.put("a", "z", 60)
    cache.put("b", "z", 60)  # over max_chars: the older one goes
    assert cache.get("a") is None and cache.get("b") == "z"


def test_extractive_spans_index_the_submitted_text():
    zw = "\u200b"
    submitted = "\n\n   " + EN.replace("Syria", f"Sy{zw}ria").replace("Russian", "\u202eRussian\u202c")
    events = run(fake_pipeline(), SummarizeJob(submitted, options=SummaryOptions(mode=Mode.EXTRACTIVE)))
    summary = events[1]
    assert summary.spans
    for span in summary.spans:
        piece = submitted[span.start : span.end]
        cleaned = piece.replace(zw, "").replace("\u202e", "").replace("\u202c", "")
        assert cleaned in summary.text and cleaned == cleaned.strip()


# Written for this test: a short news item in Korean, which puts spaces between words and sentences.
KO = (
    "서울시는 월요일 새 지하철 노선 계획을 발표했다. 새 노선은 강남과 김포공항을 잇는다. "
    "시는 공사비로 약 2조 원을 예상한다. 공사는 내년 봄에 시작될 예정이다. "
    "시민 단체는 노선이 지나는 공원의 환경 영향 평가를 먼저 하라고 요구했다."
)


def test_extractive_korean_summary_keeps_spaces_between_sentences():
    zw = "\u200b"
    submitted = "\n  " + KO.replace("지하철", f"지하{zw}철")
    pipeline = fake_pipeline(translators=[FakeTranslator("fake-mt", [("ko", "en"), ("en", "ko")])])
    options = SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=3)
    summary = run(pipeline, SummarizeJob(submitted, source_language="ko", options=options))[1]
    assert isinstance(summary, LanguageSummary) and summary.language == "ko"
    assert len(summary.spans) == 3
    pieces = [submitted[s.start : s.end].replace(zw, "") for s in summary.spans]
    assert all(piece.endswith(".") and piece == piece.strip() for piece in pieces)
    assert summary.text == " ".join(pieces)  # a space after each sentence, as Korean is written


# -- the route table ----------------------------------------------------------------------------


class CountingTranslator(FakeTranslator):
    """A FakeTranslator that counts how often it is asked about its languages."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.questions = 0

    def describe(self) -> ModelDescription:
        self.questions += 1
        return super().describe()

    def translates(self, source: str, target: str) -> bool:
        self.questions += 1
        return super().translates(source, target)


class CountingSummarizer(FakeSummarizer):
    """A FakeSummarizer that counts how often it is asked about its languages."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.questions = 0

    def describe(self) -> ModelDescription:
        self.questions += 1
        return super().describe()

    def summarizes(self, language: str) -> bool:
        self.questions += 1
        return super().summarizes(language)


def test_routes_are_worked_out_once_when_the_pipeline_is_built():
    summarizer = CountingSummarizer(languages=("en", "fr"))
    pairs = [(a, b) for lang in ("fr", "de", "es") for a, b in (("en", lang), (lang, "en"))]
    translator = CountingTranslator("fake-mt", pairs)
    pipeline = fake_pipeline(summarizer=summarizer, translators=[translator])
    asked = (summarizer.questions, translator.questions)
    assert all(asked)  # the table was built from the models
    job = SummarizeJob(DE, target_languages=("de", "fr", "es", "en"))  # pivots in and out of English
    first = run(pipeline, job)
    assert pipeline.cached_events(pipeline.plan(job)) is not None
    pipeline.translate(TranslateJob(("Good morning to all.",), ("fr", "de")))
    assert pipeline.route("fr", "de") is not None and pipeline.languages() >= {"en", "fr", "de", "es"}
    assert (summarizer.questions, translator.questions) == asked  # no request asked again
    assert [e.language for e in first[1:]] == ["en", "de", "fr", "es"]


def test_route_table_direct_pivot_and_summary_routes():
    en_fr = FakeTranslator("fake-en-fr", [("en", "fr"), ("fr", "en")])
    de_en = FakeTranslator("fake-de-en", [("de", "en")])
    also_en_fr = FakeTranslator("fake-en-fr-2", [("en", "fr"), ("ja", "ko")])
    table = RouteTable([FakeSummarizer(languages=("en",))], [en_fr, de_en, also_en_fr])
    assert table.languages == {"en", "fr", "de", "ja", "ko"}
    direct = table.route("en", "fr")
    assert direct is not None and direct.model_names == ("fake-en-fr",)  # the first model listed
    pivoted = table.route("de", "fr")
    assert pivoted is not None and pivoted.model_names == ("fake-de-en", "fake-en-fr")
    assert [(h.source, h.target) for h in pivoted.hops] == [("de", PIVOT), (PIVOT, "fr")]
    assert table.route("fr", "de") is None  # nothing goes into German
    assert table.route("ja", "fr") is None and table.route("en", "sw") is None
    own = table.summary_route("en")
    assert own is not None and (own.language, own.pivot) == ("en", None)
    through_english = table.summary_route("de")
    assert through_english is not None and through_english.language == "en"
    assert through_english.pivot is not None and through_english.pivot.model_names == ("fake-de-en",)
    assert table.summary_route("ja") is None  # no summarizer reads it, no way into English


def test_batches_group_the_targets_of_one_multi_target_model_first():
    multi = FakeMultiTranslator("fake-llm", [("en", "fr"), ("en", "de")])
    single = FakeTranslator("fake-en-es", [("en", "es")])
    table = RouteTable([], [multi, single])
    routes = [table.route("en", t) for t in ("es", "fr", "de")]
    grouped = batches([r for r in routes if r is not None])
    assert [(b.targets, b.translator) for b in grouped] == [(("fr", "de"), multi), (("es",), None)]


def test_the_extractive_backend_joins_korean_sentences_with_spaces_and_chinese_without():
    textrank = ExtractiveSummarizer(ModelSpec(name="textrank", backend="extractive"))
    params = GenerationParams(max_sentences=2)
    korean = textrank.summarize(KO, "ko", params)
    assert korean.text == " ".join(KO[s.start : s.end] for s in korean.spans)
    chinese_text = "合肥地铁新线今天开通。新线连接机场和市中心。票价两元起。"
    chinese = textrank.summarize(chinese_text, "zh", params)
    assert chinese.text == "".join(chinese_text[s.start : s.end] for s in chinese.spans)
    assert len(korean.spans) == len(chinese.spans) == 2
