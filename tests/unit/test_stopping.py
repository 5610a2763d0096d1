"""A stopped request stops its text work too: sentence splitting, chunking, map-reduce rounds, TextRank."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import RequestCancelledError
from service.models.base import GenerationParams
from service.models.extractive import ExtractiveSummarizer, rank_sentences
from service.pipeline.run import summarize_long
from service.pipeline.stopping import checkpoint
from service.pipeline.translate import chunks_for
from service.profiles import EXTRACTIVE
from service.text.chunking import chunk_sentences
from service.text.sentences import split_sentences
from tests.fakes import FakeBatchSummarizer, FakeTranslator

SEED = Path(__file__).resolve().parents[2] / "seeds" / "en_002_wind_farm_approval.txt"
ARTICLE = "\n\n".join([SEED.read_text(encoding="utf-8")] * 20)


class StopAfter:
    """A stop signal that turns true after `checks` checks, and counts the checks made after that."""

    def __init__(self, checks: int) -> None:
        self.left = checks
        self.after = 0

    def __call__(self) -> bool:
        if self.left > 0:
            self.left -= 1
            return False
        self.after += 1
        return True


def words(text: str) -> int:
    return len(text.split())


def test_splitting_stops_between_paragraphs():
    text = ARTICLE + "\n\nA paragraph no other test splits."  # recent splits are cached: this one is not
    stop = StopAfter(3)
    with pytest.raises(RequestCancelledError):
        split_sentences(text, "en", checkpoint(stop))
    assert stop.after == 1  # raised at the first check after the stop, not at the end of the text
    assert split_sentences(text, "en")[-1].text == "A paragraph no other test splits."  # nothing half-cached


def test_chunking_stops_between_sentences():
    sentences = [s.text for s in split_sentences(ARTICLE, "en")]
    stop = StopAfter(10)
    with pytest.raises(RequestCancelledError):
        chunk_sentences(sentences, 200, words, checkpoint=checkpoint(stop))
    assert stop.after == 1


def test_a_checkpoint_that_never_fires_changes_nothing():
    sentences = [s.text for s in split_sentences(ARTICLE, "en")]
    assert split_sentences(ARTICLE, "en", checkpoint(lambda: False)) == split_sentences(ARTICLE, "en")
    assert chunk_sentences(sentences, 200, words, checkpoint=checkpoint(lambda: False)) == chunk_sentences(
        sentences, 200, words
    )


@pytest.mark.parametrize("checks", [0, 5, 40])
def test_map_reduce_stops_before_any_chunk_reaches_the_model(checks):
    summarizer = FakeBatchSummarizer(max_input_tokens=300)
    stop = StopAfter(checks)
    with pytest.raises(RequestCancelledError):
        summarize_long(summarizer, ARTICLE, "en", GenerationParams(should_stop=stop))
    assert summarizer.batches == []


class StopsAfterFirstRound(FakeBatchSummarizer):
    """Its caller goes away while the first map round is being summarized."""

    gone = False

    def summarize_many(self, texts, language, params):  # type: ignore[no-untyped-def]
        summaries = super().summarize_many(texts, language, params)
        self.gone = True
        return summaries


def test_map_reduce_stops_between_rounds():
    full = FakeBatchSummarizer(max_input_tokens=100)
    summarize_long(full, ARTICLE, "en", GenerationParams())
    assert len(full.batches) >= 2  # partial summaries too long for one call: reduced again
    summarizer = StopsAfterFirstRound(max_input_tokens=100)
    with pytest.raises(RequestCancelledError):
        summarize_long(summarizer, ARTICLE, "en", GenerationParams(should_stop=lambda: summarizer.gone))
    assert len(summarizer.batches) == 1


def test_textrank_stops_between_sentences_and_iterations():
    sentences = split_sentences(ARTICLE, "en")
    stop = StopAfter(len(sentences) + 2)  # through the term vectors, into the iterations
    with pytest.raises(RequestCancelledError):
        rank_sentences(sentences, checkpoint=checkpoint(stop))
    assert stop.after == 1


def test_an_extractive_summary_of_a_stopped_request_is_not_made():
    model = ExtractiveSummarizer(EXTRACTIVE)
    with pytest.raises(RequestCancelledError):
        model.summarize(ARTICLE, "en", GenerationParams(should_stop=StopAfter(50)))
    summary = model.summarize(ARTICLE, "en", GenerationParams(should_stop=lambda: False))
    assert summary.text


def test_a_long_text_for_translation_is_chunked_with_stop_checks():
    translator = FakeTranslator("fake-en-fr", [("en", "fr")], max_input_tokens=100)
    stop = StopAfter(4)
    with pytest.raises(RequestCancelledError):
        chunks_for(ARTICLE, "en", translator, stop)
    assert stop.after == 1
