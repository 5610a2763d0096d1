"""Translating text along routes, and the Translate RPC.

A text is translated hop by hop, in sentence-aligned chunks that fit each model's input; the
targets of a batch that one multi-target model covers go through it in one call. The Translate
RPC runs a TranslationPlan this way over each of its texts.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

from service.models.base import (
    GenerationParams,
    MultiTargetTranslator,
    ScoredMultiTargetTranslator,
    ScoredTranslator,
    Translator,
)
from service.pipeline.evidence import (
    CheckedOutput,
    Evidence,
    ScoredText,
    chained_log_prob,
    joined_log_prob,
    screen,
)
from service.pipeline.planning import TranslationPlan
from service.pipeline.routes import Route, TranslationBatch, batches
from service.pipeline.stopping import StopCheck, check_stop, never_stop
from service.pipeline.types import TranslateResult, TranslationFailure, TranslationItem
from service.text.chunking import chunk_sentences
from service.text.languages import language_name
from service.text.normalize import submitted_positions
from service.text.scripts import joiner
from service.text.sentences import split_sentences

if TYPE_CHECKING:  # repair.py translates through this module
    from service.pipeline.repair import TranslationChecker


def translate_text(text: str, route: Route, params: GenerationParams) -> str:
    """Translate text of any length through a route, in sentence-aligned chunks that fit each model."""
    return translate_scored(text, route, params).text


def translate_scored(text: str, route: Route, params: GenerationParams) -> ScoredText:
    """`translate_text` with the models' mean log-probability of what they wrote (when they report it)."""
    log_prob: float | None = None
    for hop in route.hops:
        chunks = chunks_for(text, hop.source, hop.translator)
        check_stop(params.should_stop)
        joined = join_pieces(
            model_translate(hop.translator, chunks, hop.source, hop.target, params), hop.target
        )
        text, log_prob = joined.text, chained_log_prob(log_prob, joined.log_prob)
    return ScoredText(text, log_prob)


def translate_each(texts: Sequence[str], route: Route, params: GenerationParams) -> list[ScoredText]:
    """Each text translated alone through a route: one call per hop when every text fits the model."""
    current = [ScoredText(text) for text in texts]
    for hop in route.hops:
        check_stop(params.should_stop)
        chunked = [chunks_for(piece.text, hop.source, hop.translator) for piece in current]
        if all(len(chunks) == 1 for chunks in chunked):
            outputs = model_translate(hop.translator, [c[0] for c in chunked], hop.source, hop.target, params)
        else:  # a text too long for the model goes in its own call, in chunks
            outputs = [
                join_pieces(
                    model_translate(hop.translator, chunks, hop.source, hop.target, params), hop.target
                )
                for chunks in chunked
            ]
        current = [
            ScoredText(out.text.strip(), chained_log_prob(before.log_prob, out.log_prob))
            for before, out in zip(current, outputs, strict=True)
        ]
    return current


def translate_batch(text: str, batch: TranslationBatch, params: GenerationParams) -> dict[str, ScoredText]:
    """One text into every target of a batch: in one call when a multi-target model covers them."""
    if batch.translator is None or len(batch.routes) == 1:
        return {route.target: translate_scored(text, route, params) for route in batch.routes}
    chunks = chunks_for(text, batch.source, batch.translator)
    pieces = model_translate_to_many(batch.translator, chunks, batch.source, batch.targets, params)
    return {t: join_pieces(pieces[t], t) for t in batch.targets}


def model_translate(
    translator: Translator, texts: Sequence[str], source: str, target: str, params: GenerationParams
) -> list[ScoredText]:
    """The translator's outputs, with their scores when it reports them."""
    if isinstance(translator, ScoredTranslator):
        return translator.translate_scored(texts, source, target, params)
    return [ScoredText(t) for t in translator.translate(texts, source, target, params)]


def model_translate_to_many(
    translator: MultiTargetTranslator,
    texts: Sequence[str],
    source: str,
    targets: Sequence[str],
    params: GenerationParams,
) -> dict[str, list[ScoredText]]:
    if isinstance(translator, ScoredMultiTargetTranslator):
        return translator.translate_to_many_scored(texts, source, targets, params)
    outputs = translator.translate_to_many(texts, source, targets, params)
    return {target: [ScoredText(t) for t in outputs[target]] for target in targets}


def join_pieces(pieces: Sequence[ScoredText], language: str) -> ScoredText:
    """Translated chunks as one text of `language`, with their length-weighted log-probability."""
    return ScoredText(joiner(language).join(p.text.strip() for p in pieces), joined_log_prob(pieces))


def chunks_for(text: str, language: str, translator: Translator) -> list[str]:
    """The text whole when it fits the translator's input, else sentence-aligned chunks that do."""
    # Most texts sent for translation fit whole: one token count then, not a sentence split and a
    # count per sentence. Past 8 characters a token, a text cannot fit; skip the count.
    budget = translator.max_input_tokens
    if len(text) <= 8 * budget and translator.count_tokens(text) <= budget:
        return [text]
    sentences = [s.text for s in split_sentences(text, language)] or [text]
    return chunk_sentences(sentences, budget, translator.count_tokens, joiner=joiner(language))


def run_translation(
    plan: TranslationPlan, checker: TranslationChecker, should_stop: StopCheck = never_stop
) -> TranslateResult:
    """The Translate RPC: every text into every target, items text by text in the order asked.

    Each translation is checked against its text and repaired if it fails; one below the plan's
    `min_confidence` is withheld and listed among the failures instead.
    """
    params = GenerationParams(should_stop=should_stop)
    translated: dict[str, list[CheckedOutput]] = {route.target: [] for route in plan.routes}
    for batch in batches(plan.routes):
        for text in plan.texts:
            firsts = translate_batch(text, batch, params)
            for route in batch.routes:
                translated[route.target].append(checker.checked(text, firsts[route.target], route, params))
    items: list[TranslationItem] = []
    failures: list[TranslationFailure] = []
    for index, text in enumerate(plan.texts):
        for target in plan.targets:
            if target == plan.source.language:
                items.append(TranslationItem(index, target, text, ()))
                continue
            output = translated[target][index]
            evidence = _in_submitted_text(output.evidence, plan.submitted[index] if plan.submitted else text)
            what = f"the {language_name(target)} ({target!r}) translation of texts[{index}]"
            withheld = screen(evidence, plan.min_confidence, what)
            if withheld is not None:
                failures.append(TranslationFailure(index, target, withheld))
                continue
            names = output.models(plan.route_to(target).model_names)
            items.append(TranslationItem(index, target, output.text, names, evidence))
    return TranslateResult(plan.source, tuple(items), tuple(failures))


def _in_submitted_text(evidence: Evidence, submitted: str) -> Evidence:
    """The evidence with its source spans moved from the cleaned text into the text as submitted."""
    if not any(issue.in_source and issue.span for issue in evidence.issues):
        return evidence
    positions = submitted_positions(submitted)
    issues = tuple(
        dataclasses.replace(issue, span=(positions[issue.span[0]], positions[issue.span[1] - 1] + 1))
        if issue.in_source and issue.span and issue.span[1] > issue.span[0]
        else issue
        for issue in evidence.issues
    )
    return dataclasses.replace(evidence, issues=issues)
