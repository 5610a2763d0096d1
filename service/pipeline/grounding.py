"""Grounded summaries: each summary sentence with the article sentences behind it, in every language.

The base summary is split into sentences, and each is aligned lexically with the article's
sentences (`service.text.grounding`): the supporting sentences' spans, a support score and an
"unsupported" flag. An extractive summary's sentences are the article's own, with support 1.

Translations carry the alignment over sentence by sentence: the summary is translated one sentence
per text (`translate.translate_sentences`), so sentence i of every translation is sentence i of the
summary, exactly, whatever the target language does to sentence lengths and counts.

A summary made in English from an article in another language (the pivot) is aligned with the
article's English translation, which is made sentence by sentence too, so that each English sentence
points back to the sentence of the article it translates.

All spans index the text as submitted (for HTML, the text after markup removal).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.models.base import GenerationParams, Span, SummaryText
from service.pipeline.planning import Plan
from service.pipeline.routes import Route
from service.pipeline.translate import translate_sentences
from service.pipeline.types import SummarySentence
from service.text.grounding import SourceIndex
from service.text.normalize import submitted_positions
from service.text.scripts import joiner
from service.text.sentences import Sentence, split_sentences


@dataclass(frozen=True)
class GroundedSentence:
    """One sentence of the base summary: its text, and what supports it in the submitted text."""

    text: str
    sources: tuple[Span, ...]
    support: float
    unsupported: bool


@dataclass(frozen=True)
class AlignedTranslation:
    """An article translated sentence by sentence: `translations[i]` is `sentences[i]` in the target."""

    sentences: tuple[Sentence, ...]  # offsets into `source_text`, the planned text
    translations: tuple[str, ...]
    language: str
    source_text: str

    @property
    def text(self) -> str:
        """The translation, paragraphs where the article has them."""
        pieces: list[str] = []
        for i, translated in enumerate(self.translations):
            if i:
                gap = self._gap(i)
                pieces.append("\n\n" if "\n\n" in gap or "\n \n" in gap else joiner(self.language))
            pieces.append(translated.strip())
        return "".join(pieces)

    def _gap(self, i: int) -> str:
        return self.source_text[self.sentences[i - 1].end : self.sentences[i].start]


def translate_article(text: str, language: str, route: Route, params: GenerationParams) -> AlignedTranslation:
    """The article through `route`, sentence by sentence (a sentence too long for a model, in pieces)."""
    sentences = tuple(split_sentences(text, language))
    if not sentences:
        sentences = (Sentence(text, 0, len(text)),)
    translations = translate_sentences([s.text for s in sentences], route, params)
    return AlignedTranslation(sentences, tuple(translations), route.target, text)


def ground_summary(
    plan: Plan, summary: SummaryText, pivot: AlignedTranslation | None = None
) -> tuple[GroundedSentence, ...]:
    """The base summary's sentences, each with its supporting sentences of the submitted text."""
    if summary.spans:  # extractive: the article's own sentences
        return tuple(
            GroundedSentence(plan.text[span.start : span.end], submitted_spans(plan, (span,)), 1.0, False)
            for span in summary.spans
            if span.end > span.start
        )
    if pivot is not None:
        sources: Sequence[Sentence] = pivot.sentences
        source_texts = list(pivot.translations)
    else:
        sources = split_sentences(plan.text, plan.source.language)
        source_texts = [s.text for s in sources]
    index = SourceIndex(source_texts)
    grounded = []
    for sentence in split_sentences(summary.text, plan.summary_language):
        support = index.support(sentence.text)
        spans = tuple(Span(sources[i].start, sources[i].end) for i in support.sources)
        grounded.append(
            GroundedSentence(sentence.text, submitted_spans(plan, spans), support.score, support.unsupported)
        )
    return tuple(grounded)


def summary_sentences(text: str, grounded: Sequence[GroundedSentence]) -> tuple[SummarySentence, ...]:
    """The base summary's sentences as the API gives them: each located in the summary's text."""
    return _located(text, [g.text for g in grounded], grounded)


def translated_sentences(
    text: str, translations: Sequence[str], grounded: Sequence[GroundedSentence]
) -> tuple[SummarySentence, ...]:
    """A translation's sentences: translation i is summary sentence i, with its sources and support."""
    return _located(text, [t.strip() for t in translations], grounded)


def join_translations(translations: Sequence[str], language: str) -> str:
    """A summary's sentence-by-sentence translation as one text."""
    return joiner(language).join(t.strip() for t in translations if t.strip())


def _located(
    text: str, pieces: Sequence[str], grounded: Sequence[GroundedSentence]
) -> tuple[SummarySentence, ...]:
    out = []
    cursor = 0
    for piece, ground in zip(pieces, grounded, strict=True):
        if not piece:
            continue
        start = text.find(piece, cursor)
        if start < 0:
            continue
        cursor = start + len(piece)
        out.append(SummarySentence(Span(start, cursor), ground.sources, ground.support, ground.unsupported))
    return tuple(out)


def submitted_spans(plan: Plan, spans: Sequence[Span]) -> tuple[Span, ...]:
    """Spans into the text as submitted: undo the removal of invisible characters and outer space.

    For HTML input, spans index the text after markup removal, as the API documents.
    """
    if not spans or plan.job.is_html:
        return tuple(spans)
    positions = submitted_positions(plan.job.text)
    return tuple(Span(positions[s.start], positions[s.end - 1] + 1) for s in spans if s.end > s.start)
