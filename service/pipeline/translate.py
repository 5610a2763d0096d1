"""Translating text along routes, and the Translate RPC.

A text is translated hop by hop, in sentence-aligned chunks that fit each model's input; the
targets of a batch that one multi-target model covers go through it in one call. The Translate
RPC runs a TranslationPlan this way over each of its texts. A list of sentences can also be
translated item by item (`translate_sentences`), so that item i of the output is the translation
of item i of the input: grounded summaries carry their sources over this way. Each batch is a
`translate` stage of the call's observer, and each target language is reported as it is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from service import telemetry
from service.models.base import GenerationParams, Translator
from service.pipeline.planning import TranslationPlan
from service.pipeline.routes import Route, TranslationBatch, batches
from service.pipeline.stopping import StopCheck, check_stop, checkpoint, never_stop
from service.pipeline.terminology import term_reports
from service.pipeline.types import TranslateResult, TranslationItem
from service.text.chunking import chunk_sentences
from service.text.scripts import joiner
from service.text.sentences import split_sentences


def translate_text(text: str, route: Route, params: GenerationParams) -> str:
    """Translate text of any length through a route, in sentence-aligned chunks that fit each model."""
    for hop in route.hops:
        chunks = chunks_for(text, hop.source, hop.translator, params.should_stop)
        check_stop(params.should_stop)
        pieces = hop.translator.translate(chunks, hop.source, hop.target, params)
        text = joiner(hop.target).join(p.strip() for p in pieces)
    return text


def translate_batch(text: str, batch: TranslationBatch, params: GenerationParams) -> dict[str, str]:
    """One text into every target of a batch: in one call when a multi-target model covers them."""
    observer = telemetry.current()
    if batch.translator is None or len(batch.routes) == 1:
        out = {}
        for route in batch.routes:
            with observer.languages((route.target,), models=route.model_names):
                out[route.target] = translate_text(text, route, params)
        return out
    chunks = chunks_for(text, batch.source, batch.translator, params.should_stop)
    check_stop(params.should_stop)
    with observer.languages(batch.targets, models=(batch.translator.name,)):
        pieces = batch.translator.translate_to_many(chunks, batch.source, batch.targets, params)
    return {t: joiner(t).join(p.strip() for p in pieces[t]) for t in batch.targets}


def chunks_for(
    text: str, language: str, translator: Translator, should_stop: StopCheck | None = None
) -> list[str]:
    """The text whole when it fits the translator's input, else sentence-aligned chunks that do.

    A long text is split and chunked with a stop check between sentences."""
    # Most texts sent for translation fit whole: one token count then, not a sentence split and a
    # count per sentence. Past 8 characters a token, a text cannot fit; skip the count.
    budget = translator.max_input_tokens
    if len(text) <= 8 * budget and translator.count_tokens(text) <= budget:
        return [text]
    stop = checkpoint(should_stop)
    sentences = [s.text for s in split_sentences(text, language, stop)] or [text]
    return chunk_sentences(
        sentences, budget, translator.count_tokens, joiner=joiner(language), checkpoint=stop
    )


def run_translation(plan: TranslationPlan, should_stop: StopCheck = never_stop) -> TranslateResult:
    """The Translate RPC: every text into every target, items text by text in the order asked."""
    params = GenerationParams(should_stop=should_stop, terminology=plan.terminology)
    translated: dict[str, list[str]] = {route.target: [] for route in plan.routes}
    for batch in batches(plan.routes):
        with telemetry.current().stage(
            telemetry.TRANSLATE,
            source_language=batch.source,
            target_languages=batch.targets,
            models=batch.model_names,
        ):
            for text in plan.texts:
                check_stop(should_stop)
                for target, out in translate_batch(text, batch, params).items():
                    translated[target].append(out)
    items = []
    for index, text in enumerate(plan.texts):
        for target in plan.targets:
            names: tuple[str, ...] = ()
            if target == plan.source.language:
                out = text
            else:
                out, names = translated[target][index], plan.route_to(target).model_names
            terms = term_reports(plan.terminology, text, target, out)
            items.append(TranslationItem(index, target, out, names, terms))
    return TranslateResult(plan.source, tuple(items))


def translate_sentences(sentences: Sequence[str], route: Route, params: GenerationParams) -> list[str]:
    """Each item on its own through a route, all in one call per hop: item i out is item i in."""
    texts = list(sentences)
    for hop in route.hops:
        pieces, counts = _pieces(texts, hop.source, hop.translator, params.should_stop)
        check_stop(params.should_stop)
        out = hop.translator.translate(pieces, hop.source, hop.target, params) if pieces else []
        texts = _regroup(out, counts, hop.target)
    return texts


def translate_sentences_batch(
    sentences: Sequence[str], batch: TranslationBatch, params: GenerationParams
) -> dict[str, list[str]]:
    """Each item into every target of a batch, item by item; in one call when one model covers them all."""
    observer = telemetry.current()
    if batch.translator is None or len(batch.routes) == 1:
        out: dict[str, list[str]] = {}
        for route in batch.routes:
            with observer.languages((route.target,), models=route.model_names):
                out[route.target] = translate_sentences(sentences, route, params)
        return out
    pieces, counts = _pieces(sentences, batch.source, batch.translator, params.should_stop)
    check_stop(params.should_stop)
    if not pieces:
        return {target: [""] * len(counts) for target in batch.targets}
    with observer.languages(batch.targets, models=(batch.translator.name,)):
        many = batch.translator.translate_to_many(pieces, batch.source, batch.targets, params)
    return {target: _regroup(many[target], counts, target) for target in batch.targets}


def _pieces(
    texts: Sequence[str], language: str, translator: Translator, should_stop: StopCheck | None = None
) -> tuple[list[str], list[int]]:
    """What to send for each text (whole when it fits, else sentence-aligned chunks), and how many each."""
    pieces: list[str] = []
    counts: list[int] = []
    for text in texts:
        check_stop(should_stop)
        parts = chunks_for(text, language, translator, should_stop) if text.strip() else []
        pieces += parts
        counts.append(len(parts))
    return pieces, counts


def _regroup(translated: Sequence[str], counts: Sequence[int], language: str) -> list[str]:
    out: list[str] = []
    start = 0
    for count in counts:
        out.append(joiner(language).join(p.strip() for p in translated[start : start + count]))
        start += count
    return out
