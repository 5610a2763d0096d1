"""Long articles and the controls that bound a summary, on fake models.

Map-reduce at the model's token budget: exactly at it (one call), one token over (chunks, then a
final call), one sentence longer than the budget, an article inside HTML, and a 100,000-character
article that is read to its last word. Then each summary control at its bounds, and extractive
offsets on HTML input.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from service.api import convert
from service.errors import InvalidInputError
from service.models.base import GenerationParams, SummaryText
from service.pipeline import (
    LanguageSummary,
    Length,
    Limits,
    Mode,
    SourceLanguage,
    SummarizeJob,
    SummaryOptions,
)
from service.pipeline.types import LENGTH_PRESETS, MAX_SENTENCES_RANGE, MAX_TOKENS_RANGE, NUM_BEAMS_RANGE
from service.text.html import article_text
from service.text.sentences import split_sentences
from summarizer.v1 import summarizer_service_pb2 as pb
from tests.fakes import FakeBatchSummarizer, FakeSummarizer, fake_pipeline

SEEDS = Path(__file__).resolve().parents[2] / "seeds"
EN = (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8").strip()
EN2 = (SEEDS / "en_002_wind_farm_approval.txt").read_text(encoding="utf-8").strip()
FR = next(SEEDS.glob("fr_*.txt")).read_text(encoding="utf-8").strip()
MARK = "fake-sum["  # every fake summary starts with it: tells reduce calls from chunk calls


class RecordingSummarizer(FakeSummarizer):
    """A FakeSummarizer that also keeps the parameters of every call."""

    def __init__(self, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(**kwargs)
        self.params: list[GenerationParams] = []

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        self.params.append(params)
        return super().summarize(text, language, params)


class CharacterSummarizer(FakeSummarizer):
    """Counts one token per character, as for a script without spaces; answers in a few characters."""

    def count_tokens(self, text: str) -> int:
        return len(text)

    def summarize(self, text: str, language: str, params: GenerationParams) -> SummaryText:
        with self.lock:
            self.calls.append((text, language))
        return SummaryText(f"{MARK}{language}]:" + text[:4])


def summarize(summarizer: FakeSummarizer, job: SummarizeJob, limits: Limits = Limits()) -> LanguageSummary:
    pipeline = fake_pipeline(summarizer=summarizer, limits=limits)
    events = list(pipeline.run(pipeline.plan(job)))
    assert isinstance(events[0], SourceLanguage)
    summary = events[1]
    assert isinstance(summary, LanguageSummary), summary
    return summary


def chunk_calls(summarizer: FakeSummarizer) -> list[str]:
    """The texts of the map round: the calls on the article itself, before any on a partial summary."""
    return list(itertools.takewhile(lambda text: MARK not in text, (text for text, _ in summarizer.calls)))


def assert_read_whole(article: str, chunks: Sequence[str], budget: int) -> None:
    """Every chunk fits the budget, and the chunks hold every word of the article, in order."""
    assert chunks, "no chunk was summarized"
    assert all(len(chunk.split()) <= budget for chunk in chunks)
    assert " ".join(chunks).split() == article.split()


# -- map-reduce at the budget -------------------------------------------------------------------


def test_an_article_exactly_at_the_budget_is_summarized_in_one_call():
    budget = len(EN.split())
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=budget)
    summary = summarize(summarizer, SummarizeJob(EN))
    assert [text for text, _ in summarizer.calls] == [EN]
    assert summary.text.startswith("fake-sum[en]:")


def test_one_token_over_the_budget_is_map_reduced():
    budget = len(EN.split()) - 1
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=budget)
    summarize(summarizer, SummarizeJob(EN))
    chunks = chunk_calls(summarizer)
    assert len(chunks) == 2  # the article no longer fits: two chunks, each whole sentences
    assert_read_whole(EN, chunks, budget)
    final_text, _ = summarizer.calls[-1]
    assert len(summarizer.calls) == 3 and final_text.count(MARK) == 2  # reduce over both partials
    assert all(len(text.split()) <= budget for text, _ in summarizer.calls)


def test_chunks_hold_whole_sentences():
    sentences = [s.text for s in split_sentences(EN, "en")]
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=150)
    summarize(summarizer, SummarizeJob(EN))
    chunks = chunk_calls(summarizer)
    assert len(chunks) > 2
    # Re-joined, the chunks are the article's sentences, each in exactly one chunk.
    assert [s for chunk in chunks for s in sentences if s in chunk] == sentences
    for chunk in chunks:
        assert any(chunk.startswith(s) for s in sentences) and any(chunk.endswith(s) for s in sentences)


def test_one_sentence_longer_than_the_budget_is_cut_at_word_boundaries():
    words = [f"word{i}" for i in range(1_000)]
    article = "The committee listed " + " ".join(words) + " before it adjourned."
    budget = 64
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=budget)
    summarize(summarizer, SummarizeJob(article, source_language="en"))
    chunks = chunk_calls(summarizer)
    assert len(chunks) >= len(article.split()) // budget
    assert_read_whole(article, chunks, budget)


def test_one_sentence_without_spaces_longer_than_the_budget_is_cut_between_characters():
    article = "合肥" + "地铁线路" * 600 + "。"  # one sentence, no spaces: 2,403 characters
    budget = 500
    summarizer = CharacterSummarizer(languages=("zh",), max_input_tokens=budget)
    pipeline = fake_pipeline(summarizer=summarizer)
    events = list(pipeline.run(pipeline.plan(SummarizeJob(article, source_language="zh"))))
    assert isinstance(events[1], LanguageSummary) and events[1].language == "zh"
    chunks = chunk_calls(summarizer)
    assert len(chunks) == 5 and all(len(c) <= budget for c in chunks)
    assert "".join(chunks) == article


def test_an_article_in_html_is_chunked_as_its_text_only():
    html = (
        "<html><head><title>Port</title><style>p { color: red }</style></head><body>"
        "<nav><a href='/'>Accueil</a></nav><script>var tracking = 'identifiant';</script>"
        + "".join(f"<p>{para}</p>" for para in FR.split("\n\n"))
        + "</body></html>"
    )
    text = article_text(html)
    budget = 90
    summarizer = FakeSummarizer(languages=("fr",), max_input_tokens=budget)
    summary = summarize(summarizer, SummarizeJob(html, is_html=True))
    assert summary.language == "fr" and summary.text.startswith("fake-sum[fr]:")
    chunks = chunk_calls(summarizer)
    assert len(chunks) > 3
    assert_read_whole(text, chunks, budget)
    joined = " ".join(chunks)
    assert "<" not in joined and "tracking" not in joined and "color" not in joined
    assert "Accueil" not in joined  # the navigation is not the article


def build_long_article(limit: int = 100_000) -> str:
    """English seed paragraphs, repeated and numbered, up to `limit` characters."""
    paras = [p.strip() for p in (EN + "\n\n" + EN2).split("\n\n") if p.strip()]
    out: list[str] = []
    size = 0
    i = 0
    while True:
        para = f"{paras[i % len(paras)]} (Part {i}.)"
        if size + len(para) + 2 > limit:
            return "\n\n".join(out)
        out.append(para)
        size += len(para) + 2
        i += 1


def test_a_100000_character_article_is_read_to_the_end():
    article = build_long_article()
    assert 99_000 <= len(article) <= 100_000
    budget = 400
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=budget)
    summary = summarize(summarizer, SummarizeJob(article), limits=Limits(max_text_chars=100_000))
    assert summary.text.startswith("fake-sum[en]:")
    chunks = chunk_calls(summarizer)
    assert len(chunks) >= len(article.split()) // budget
    assert_read_whole(article, chunks, budget)  # nothing truncated, nothing over the budget
    assert all(len(text.split()) <= budget for text, _ in summarizer.calls)  # reduce calls too
    assert chunks[-1].rstrip().endswith(f"(Part {article.count('(Part ') - 1}.)")


def test_partial_summaries_too_long_for_one_call_are_reduced_again():
    # Each partial keeps 50 words: 2,000+ words of partials need a second reduce round.
    article = build_long_article(60_000)
    budget = 300
    summarizer = FakeSummarizer(languages=("en",), max_input_tokens=budget)
    job = SummarizeJob(article, options=SummaryOptions(max_sentences=50))
    summarize(summarizer, job)
    rounds = [text for text, _ in summarizer.calls if text.count(MARK) > 1]
    assert len(rounds) > 1  # reduce calls over several partials, in more than one round
    assert all(len(text.split()) <= budget for text, _ in summarizer.calls)
    assert_read_whole(article, chunk_calls(summarizer), budget)


def test_extractive_summary_of_a_100000_character_article_points_into_it():
    article = build_long_article()
    pipeline = fake_pipeline()
    plan = pipeline.plan(SummarizeJob(article, options=SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=4)))
    summary = list(pipeline.run(plan))[1]
    assert isinstance(summary, LanguageSummary) and len(summary.spans) == 4
    assert " ".join(article[s.start : s.end] for s in summary.spans) == summary.text


# -- extractive offsets on HTML -----------------------------------------------------------------


def test_extractive_offsets_on_html_count_characters_of_the_text_after_markup_removal():
    html = (
        "<!doctype html><html><head><style>body{margin:0}</style><script>let x = 1;</script></head>"
        "<body><h1>R&eacute;gulateurs</h1>"
        + "".join(f"<p class='para'>{p}</p>" for p in EN2.split("\n\n"))
        + "</body></html>"
    )
    text = article_text(html)
    pipeline = fake_pipeline()
    job = SummarizeJob(html, is_html=True, options=SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=3))
    plan = pipeline.plan(job)
    assert plan.text == text
    summary = list(pipeline.run(plan))[1]
    assert isinstance(summary, LanguageSummary) and len(summary.spans) == 3
    pieces = [text[s.start : s.end] for s in summary.spans]
    assert " ".join(pieces) == summary.text
    assert all(html[s.start : s.end] != piece for s, piece in zip(summary.spans, pieces, strict=True))
    assert [s.start for s in summary.spans] == sorted(s.start for s in summary.spans)


# -- summary controls at their bounds -----------------------------------------------------------

CONTROLS = {
    "max_tokens": MAX_TOKENS_RANGE,
    "max_sentences": MAX_SENTENCES_RANGE,
    "num_beams": NUM_BEAMS_RANGE,
}
PARAM_OF = {"max_tokens": "max_new_tokens", "max_sentences": "max_sentences", "num_beams": "num_beams"}
DEFAULTS = {
    "max_new_tokens": LENGTH_PRESETS[Length.MEDIUM][0],
    "max_sentences": LENGTH_PRESETS[Length.MEDIUM][1],
    "num_beams": 1,
}


def test_the_documented_ranges():
    assert CONTROLS == {"max_tokens": (1, 1024), "max_sentences": (1, 50), "num_beams": (1, 8)}


def params_for(**options: int) -> GenerationParams:
    """The request as the API receives it: protobuf options, where zero means "the default"."""
    request = pb.SummarizeRequest(text=EN, options=pb.SummaryOptions(**options))
    return fake_pipeline().plan(convert.summarize_job(request, "test")).params


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_zero_means_the_default(control):
    params = params_for(**{control: 0})
    assert getattr(params, PARAM_OF[control]) == DEFAULTS[PARAM_OF[control]]


@pytest.mark.parametrize(
    ("control", "value"),
    [(name, bound) for name, bounds in sorted(CONTROLS.items()) for bound in bounds],
)
def test_one_and_the_maximum_are_accepted(control, value):
    params = params_for(**{control: value})
    assert getattr(params, PARAM_OF[control]) == value
    others = {PARAM_OF[c] for c in CONTROLS} - {PARAM_OF[control]}
    assert all(getattr(params, name) == DEFAULTS[name] for name in others)


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_one_over_the_maximum_is_rejected_naming_the_field(control):
    low, high = CONTROLS[control]
    with pytest.raises(InvalidInputError) as info:
        params_for(**{control: high + 1})
    assert info.value.field == f"options.{control}" and info.value.reason == "OUT_OF_RANGE"
    assert f"{low}..{high}" in str(info.value)


@pytest.mark.parametrize("control", sorted(CONTROLS))
def test_below_one_is_rejected_in_the_pipeline(control):
    # The API turns a zero into "unset" before the pipeline; a zero that gets through is an error.
    with pytest.raises(InvalidInputError) as info:
        fake_pipeline().plan(SummarizeJob(EN, options=SummaryOptions(**{control: 0})))
    assert info.value.field == f"options.{control}"


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        (pb.LENGTH_PRESET_UNSPECIFIED, (120, 3)),
        (pb.LENGTH_PRESET_SHORT, (80, 2)),
        (pb.LENGTH_PRESET_MEDIUM, (120, 3)),
        (pb.LENGTH_PRESET_LONG, (240, 6)),
    ],
)
def test_length_presets_and_explicit_bounds_over_them(preset, expected):
    params = params_for(length=preset)
    assert (params.max_new_tokens, params.max_sentences) == expected
    params = params_for(length=preset, max_tokens=7, max_sentences=9)
    assert (params.max_new_tokens, params.max_sentences) == (7, 9)


def test_controls_reach_the_model():
    summarizer = RecordingSummarizer(languages=("en",))
    options = SummaryOptions(max_tokens=1024, max_sentences=50, num_beams=8)
    summary = summarize(summarizer, SummarizeJob(EN, options=options))
    [params] = summarizer.params
    assert (params.max_new_tokens, params.max_sentences, params.num_beams) == (1024, 50, 8)
    assert len(summary.text.split()) == 1 + 50  # the fake keeps `max_sentences` words


@pytest.mark.parametrize(("count", "expected"), [(1, 1), (3, 3), (50, None)])
def test_extractive_sentence_count_at_its_bounds(count, expected):
    pipeline = fake_pipeline()
    options = SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=count)
    summary = list(pipeline.run(pipeline.plan(SummarizeJob(EN, options=options))))[1]
    assert isinstance(summary, LanguageSummary)
    if expected is None:  # more asked than the article has: every sentence, once
        assert len(summary.spans) == len(split_sentences(EN, "en")) < count
    else:
        assert len(summary.spans) == expected


def test_a_batch_summarizer_gets_the_map_round_as_one_batch():
    article = " ".join([EN] * 4)
    budget = len(EN.split()) + 3
    summarizer = FakeBatchSummarizer(languages=("en",), max_input_tokens=budget)
    summary = summarize(summarizer, SummarizeJob(article))
    chunks = chunk_calls(summarizer)
    assert len(chunks) >= 4
    assert_read_whole(article, chunks, budget)
    # The chunks went in one batch; the reduce round, a single text, went through summarize().
    assert summarizer.batches[0] == chunks
    assert len(summarizer.calls) == len(chunks) + 1 and summary.text.startswith("fake-sum[en]:")
