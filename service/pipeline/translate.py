"""Translating text along routes, and the Translate RPC.

A text is translated hop by hop, in sentence-aligned chunks that fit each model's input; the
targets of a batch that one multi-target model covers go through it in one call. The Translate
RPC runs a TranslationPlan this way over each of its texts, and checks (and repairs) each
translation before it returns it. A list of sentences can also be translated item by item
(`translate_each`, `translate_sentences`), so that item i of the output is the translation of
item i of the input: grounded summaries carry their sources over this way, and a repair
translates the sentences it retries this way. Each batch is a `translate` stage of the call's
observer, and each target language is reported as it is made.

Every translation comes with the models' mean log-probability of what they wrote, where they
report it (`ScoredText`): the confidence rests on it (`evidence.py`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Protocol

from service import telemetry
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
from service.pipeline.stopping import StopCheck, check_stop, checkpoint, never_stop
from service.pipeline.terminology import term_reports
from service.pipeline.types import TranslateResult, TranslationFailure, TranslationItem
from service.text.chunking import chunk_sentences
from service.text.languages import language_name
from service.text.normalize import submitted_positions
from service.text.scripts import joiner
from service.text.sentences import split_sentences


class Checker(Protocol):
    """What checks and repairs a translation (service/pipeline/repair.py, which translates through this
    module, so this one names only the method it calls)."""

    def checked(
        self, source: str, first: ScoredText, route: Route, params: GenerationParams
    ) -> CheckedOutput: ...


def translate_text(text: str, route: Route, params: GenerationParams) -> str:
    """Translate text of any length through a route, in sentence-aligned chunks that fit each model."""
    return translate_scored(text, route, params).text


def translate_scored(text: str, route: Route, params: GenerationParams) -> ScoredText:
    """`translate_text` with the models' mean log-probability of what they wrote (when they report it)."""
    log_prob: float | None = None
    for hop in route.hops:
        chunks = chunks_for(text, hop.source, hop.translator, params.should_stop)
        check_stop(params.should_stop)
        joined = join_pieces(
            model_translate(hop.translator, chunks, hop.source, hop.target, params), hop.target
        )
        text, log_prob = joined.text, chained_log_prob(log_prob, joined.log_prob)
    return ScoredText(text, log_prob)


def translate_batch(text: str, batch: TranslationBatch, params: GenerationParams) -> dict[str, ScoredText]:
    """One text into every target of a batch: in one call when a multi-target model covers them."""
    observer = telemetry.current()
    if batch.translator is None or len(batch.routes) == 1:
        out = {}
        for route in batch.routes:
            with observer.languages((route.target,), models=route.model_names):
                out[route.target] = translate_scored(text, route, params)
        return out
    chunks = chunks_for(text, batch.source, batch.translator, params.should_stop)
    check_stop(params.should_stop)
    with observer.languages(batch.targets, models=(batch.translator.name,)):
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


def run_translation(
    plan: TranslationPlan, checker: Checker, should_stop: StopCheck = never_stop
) -> TranslateResult:
    """The Translate RPC: every text into every target, items text by text in the order asked.

    Each translation is checked against its text and repaired if it fails; one below the plan's
    `min_confidence` is withheld and listed among the failures instead.
    """
    params = GenerationParams(should_stop=should_stop, terminology=plan.terminology)
    translated: dict[str, list[CheckedOutput]] = {route.target: [] for route in plan.routes}
    for batch in batches(plan.routes):
        with telemetry.current().stage(
            telemetry.TRANSLATE,
            source_language=batch.source,
            target_languages=batch.targets,
            models=batch.model_names,
        ):
            for text in plan.texts:
                check_stop(should_stop)
                firsts = translate_batch(text, batch, params)
                for route in batch.routes:
                    checked = checker.checked(text, firsts[route.target], route, params)
                    translated[route.target].append(checked)
    items: list[TranslationItem] = []
    failures: list[TranslationFailure] = []
    for index, text in enumerate(plan.texts):
        for target in plan.targets:
            if target == plan.source.language:
                items.append(
                    TranslationItem(
                        index, target, text, (), term_reports(plan.terminology, text, target, text)
                    )
                )
                continue
            output = translated[target][index]
            evidence = _in_submitted_text(output.evidence, plan.submitted[index] if plan.submitted else text)
            what = f"the {language_name(target)} ({target!r}) translation of texts[{index}]"
            withheld = screen(evidence, plan.min_confidence, what)
            if withheld is not None:
                failures.append(TranslationFailure(index, target, withheld))
                continue
            names = output.models(plan.route_to(target).model_names)
            terms = term_reports(plan.terminology, text, target, output.text)
            items.append(TranslationItem(index, target, output.text, names, terms, evidence))
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


def translate_each(texts: Sequence[str], route: Route, params: GenerationParams) -> list[ScoredText]:
    """Each text on its own through a route, all in one call per hop: item i out is item i in.

    A text too long for a model goes in sentence-aligned chunks, joined again; a blank text stays blank.
    """
    current = [ScoredText(text) for text in texts]
    for hop in route.hops:
        pieces, counts = _pieces(
            [piece.text for piece in current], hop.source, hop.translator, params.should_stop
        )
        check_stop(params.should_stop)
        out = model_translate(hop.translator, pieces, hop.source, hop.target, params) if pieces else []
        current = [
            ScoredText(joined.text, chained_log_prob(before.log_prob, joined.log_prob))
            for before, joined in zip(current, _regroup(out, counts, hop.target), strict=True)
        ]
    return current


def translate_sentences(sentences: Sequence[str], route: Route, params: GenerationParams) -> list[str]:
    """`translate_each`, the texts only."""
    return [out.text for out in translate_each(sentences, route, params)]


def translate_sentences_batch(
    sentences: Sequence[str], batch: TranslationBatch, params: GenerationParams
) -> dict[str, list[ScoredText]]:
    """Each item into every target of a batch, item by item; in one call when one model covers them all."""
    observer = telemetry.current()
    if batch.translator is None or len(batch.routes) == 1:
        out: dict[str, list[ScoredText]] = {}
        for route in batch.routes:
            with observer.languages((route.target,), models=route.model_names):
                out[route.target] = translate_each(sentences, route, params)
        return out
    pieces, counts = _pieces(sentences, batch.source, batch.translator, params.should_stop)
    check_stop(params.should_stop)
    if not pieces:
        return {target: [ScoredText("")] * len(counts) for target in batch.targets}
    with observer.languages(batch.targets, models=(batch.translator.name,)):
        many = model_translate_to_many(batch.translator, pieces, batch.source, batch.targets, params)
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


def _regroup(translated: Sequence[ScoredText], counts: Sequence[int], language: str) -> list[ScoredText]:
    """Each text's translated pieces joined again (a text sent whole is one piece; a blank one, none)."""
    out: list[ScoredText] = []
    start = 0
    for count in counts:
        out.append(join_pieces(translated[start : start + count], language))
        start += count
    return out
