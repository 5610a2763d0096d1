"""Runs the cases through a server's gRPC API and scores what comes back.

For each case: an abstractive summary (Summarize), an extractive one (Summarize, mode
EXTRACTIVE), the first three sentences of the article (lead-3, computed here), each scored with
ROUGE against the case's references; the case's sentences translated (Translate) and scored with
chrF and BLEU; and, where the case gives reference summaries in other languages, the service's
summary in those languages scored with chrF. Every output's evidence (its issues, whether it was
repaired, its confidence) is recorded as the service returned it. External data (`--data`) adds its
articles as cases and its sentences as one translation set, translated one target language at a time
so that each language's time per sentence is measured.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import fmean

from bench.quality.cases import Case, TranslationCase
from bench.quality.metrics import (
    CHARACTER_LANGUAGES,
    Rouge,
    TranslationScore,
    characters,
    chrf,
    rouge,
    translation_score,
    unicode_words,
)
from devkit.launcher import ServerProcess
from service.text.sentences import split_sentences
from summarizer_client import ModelsInfo, SummarizerClient, SummarizerClientError, Summary, Translation
from summarizer_client.client import Length

LEAD = 3
CASES = "cases"  # the source of a result: bench/cases (or --cases)
DATA = "data"  # the source of a result: the external data folder (--data)
# Sentences per Translate call for the external data: small enough for a slow profile's deadline.
TRANSLATION_CHUNK = 10


@dataclass(frozen=True)
class EvalOptions:
    length: Length = "short"  # the abstractive length preset
    extractive_sentences: int = LEAD  # as many as lead-3, so that the two baselines compare evenly
    pivot: bool = False  # also summarize languages the profile reaches only through English
    translations: bool = True
    call_timeout: float = 900.0


@dataclass(frozen=True)
class TranslationItem:
    source_language: str
    language: str
    hypothesis: str
    references: tuple[str, ...]


@dataclass(frozen=True)
class OutputEvidence:
    """What the service said about one of its outputs: the kinds of its issues, a repair, a confidence."""

    what: str  # "summary" or "translation"
    language: str
    issues: tuple[str, ...]
    repaired: bool
    confidence: float


def word_count(text: str, language: str) -> int:
    """Words as ROUGE counts them here; characters for Chinese, Japanese and Thai."""
    return len(characters(text) if language in CHARACTER_LANGUAGES else unicode_words(text))


@dataclass(frozen=True)
class TextLength:
    chars: float
    words: float


def length_of(texts: Sequence[str], language: str) -> TextLength:
    """Mean length of `texts` in characters and in words."""
    return TextLength(fmean(len(t) for t in texts), fmean(word_count(t, language) for t in texts))


@dataclass
class CaseResult:
    case_id: str
    language: str
    source: str = CASES
    reference_length: TextLength | None = None
    abstractive: Rouge | None = None
    extractive: Rouge | None = None
    lead3: Rouge | None = None
    translations: list[TranslationItem] = field(default_factory=list)
    summary_translations: dict[str, float] = field(default_factory=dict)  # language -> chrF
    outputs: dict[str, str] = field(default_factory=dict)  # what the service wrote, by kind
    evidence: list[OutputEvidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    call_seconds: dict[str, float] = field(default_factory=dict)  # "abstractive"/"extractive" -> s

    def length(self, kind: str) -> TextLength | None:
        """Length of what the service (or lead-3) wrote, by output kind."""
        text = self.outputs.get(kind)
        return None if text is None else length_of([text], self.language)

    def translation_scores(self) -> list[TranslationScore]:
        return score_translations(self.translations)

    @property
    def translation_chrf(self) -> float | None:
        scores = self.translation_scores()
        return fmean(s.chrf for s in scores) if scores else None

    @property
    def translation_bleu(self) -> float | None:
        scores = self.translation_scores()
        return fmean(s.bleu for s in scores) if scores else None

    @property
    def summary_translation_chrf(self) -> float | None:
        values = list(self.summary_translations.values())
        return fmean(values) if values else None


@dataclass
class TranslationSetResult:
    """The external data's sentences, translated one target language at a time."""

    items: list[TranslationItem] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)  # target language -> seconds of its calls
    counts: dict[str, int] = field(default_factory=dict)  # target language -> sentences sent
    evidence: list[OutputEvidence] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def scores(self) -> list[TranslationScore]:
        return score_translations(self.items)

    def seconds_per_item(self, language: str) -> float | None:
        count = self.counts.get(language)
        return self.seconds[language] / count if count else None


@dataclass
class ProfileReport:
    profile: str
    options: EvalOptions
    results: list[CaseResult] = field(default_factory=list)
    data_translations: TranslationSetResult | None = None
    startup_s: float = 0.0
    seconds: float = 0.0

    @property
    def errors(self) -> list[str]:
        errors = [f"{r.case_id}: {e}" for r in self.results for e in r.errors]
        if self.data_translations is not None:
            errors += [f"data translations: {e}" for e in self.data_translations.errors]
        return errors

    def evidence(self) -> list[OutputEvidence]:
        """What the service said about every output of this run, the external data's included."""
        evidence = [item for result in self.results for item in result.evidence]
        if self.data_translations is not None:
            evidence += self.data_translations.evidence
        return evidence

    def pair_scores(self) -> list[tuple[str, TranslationScore]]:
        """Corpus scores per language pair over every case, e.g. ("en", score into "fr")."""
        by_source: dict[str, list[TranslationItem]] = {}
        for result in self.results:
            for item in result.translations:
                by_source.setdefault(item.source_language, []).append(item)
        return [
            (source, score)
            for source, items in sorted(by_source.items())
            for score in score_translations(items)
        ]


def score_translations(items: Sequence[TranslationItem]) -> list[TranslationScore]:
    """One corpus score per target language, in order of first appearance."""
    by_language: dict[str, list[TranslationItem]] = {}
    for item in items:
        by_language.setdefault(item.language, []).append(item)
    return [
        translation_score([i.hypothesis for i in group], [i.references for i in group], language)
        for language, group in by_language.items()
    ]


def joiner(language: str) -> str:
    return "" if language in CHARACTER_LANGUAGES else " "


def lead(article: str, language: str, count: int = LEAD) -> str:
    """The first `count` sentences of the article, as the service's sentence splitter cuts them."""
    sentences = split_sentences(article, language)[:count]
    return joiner(language).join(s.text for s in sentences)


class Capabilities:
    """What the server's profile can do, from ListModels."""

    def __init__(self, info: ModelsInfo) -> None:
        self.languages = frozenset(info.languages)
        self._direct: set[str] = set()
        self._any = False
        for model in info.models:
            if "summarize" not in model.tasks or model.backend == "extractive":
                continue
            self._any = self._any or model.any_language
            self._direct.update(model.summary_languages)

    def summarizes_directly(self, language: str) -> bool:
        return self._any or language in self._direct


Progress = Callable[[str], None]


def _silent(message: str) -> None:
    pass


def evaluate(
    client: SummarizerClient,
    cases: Sequence[Case],
    profile: str,
    options: EvalOptions = EvalOptions(),
    progress: Progress = _silent,
    *,
    data_cases: Sequence[Case] = (),
    data_translations: Sequence[TranslationCase] = (),
) -> ProfileReport:
    """Run every case (then the external data's, if any) through the server behind `client` and
    score the results."""
    started = time.perf_counter()
    capabilities = Capabilities(client.list_models(timeout=30))
    report = ProfileReport(profile, options)
    for source, group in ((CASES, cases), (DATA, data_cases)):
        for case in group:
            result = evaluate_case(client, case, capabilities, options, progress)
            result.source = source
            report.results.append(result)
            progress(f"[{profile}] {case.id}: done in {result.seconds:.1f} s")
    if data_translations and options.translations:
        report.data_translations = evaluate_translation_set(
            client, data_translations, capabilities, options, progress
        )
    report.seconds = time.perf_counter() - started
    return report


def evaluate_translation_set(
    client: SummarizerClient,
    sentences: Sequence[TranslationCase],
    capabilities: Capabilities,
    options: EvalOptions,
    progress: Progress = _silent,
) -> TranslationSetResult:
    """Each (source language, target language) group of sentences, in calls of TRANSLATION_CHUNK."""
    result = TranslationSetResult()
    groups: dict[tuple[str, str], list[TranslationCase]] = {}
    for sentence in sentences:
        for target in sentence.references:
            groups.setdefault((sentence.source_language, target), []).append(sentence)
    for (source_language, target), group in groups.items():
        if target not in capabilities.languages or source_language not in capabilities.languages:
            result.notes.append(
                f"{source_language}->{target}: {len(group)} sentences skipped: not in the profile"
            )
            continue
        progress(f"  data: {len(group)} sentences {source_language}->{target}...")
        for start in range(0, len(group), TRANSLATION_CHUNK):
            chunk = group[start : start + TRANSLATION_CHUNK]
            began = time.perf_counter()
            try:
                response = client.translate(
                    [s.source for s in chunk],
                    [target],
                    source_language=source_language,
                    timeout=options.call_timeout,
                )
            except SummarizerClientError as err:
                result.errors.append(f"{source_language}->{target} sentences {start}..: {err}")
                continue
            result.seconds[target] = result.seconds.get(target, 0.0) + time.perf_counter() - began
            result.counts[target] = result.counts.get(target, 0) + len(chunk)
            for translation in response.translations:
                result.evidence.append(evidence_of("translation", translation))
                sentence = chunk[translation.text_index]
                result.items.append(
                    TranslationItem(source_language, target, translation.text, sentence.references[target])
                )
    return result


def evaluate_case(
    client: SummarizerClient,
    case: Case,
    capabilities: Capabilities,
    options: EvalOptions,
    progress: Progress = _silent,
) -> CaseResult:
    started = time.perf_counter()
    result = CaseResult(case.id, case.language)
    result.reference_length = length_of(case.references, case.language)
    lead_text = lead(case.article, case.language)
    result.outputs["lead-3"] = lead_text
    result.lead3 = rouge(lead_text, case.references, case.language)

    def call(what: str, function: Callable[[], None], timed: str = "") -> None:
        progress(f"  {case.id}: {what}...")
        began = time.perf_counter()
        try:
            function()
        except SummarizerClientError as err:
            result.errors.append(f"{what}: {err}")
            return
        if timed:
            result.call_seconds[timed] = time.perf_counter() - began

    def extractive() -> None:
        response = client.summarize(
            case.article,
            [case.language],
            source_language=case.language,
            mode="extractive",
            max_sentences=options.extractive_sentences,
            timeout=options.call_timeout,
        )
        summary = response.get(case.language)
        if summary is None:
            result.errors.extend(f"extractive: {f.message}" for f in response.failures)
            return
        result.outputs["extractive"] = summary.text
        result.extractive = rouge(summary.text, case.references, case.language)

    def abstractive() -> None:
        others = [lang for lang in case.summary_translations if lang in capabilities.languages]
        response = client.summarize(
            case.article,
            [case.language, *others],
            source_language=case.language,
            mode="abstractive",
            length=options.length,
            timeout=options.call_timeout,
        )
        result.errors.extend(f"abstractive [{f.language}]: {f.message}" for f in response.failures)
        for summary in response.summaries:
            result.evidence.append(evidence_of("summary", summary))
            key = "abstractive" if summary.language == case.language else f"abstractive [{summary.language}]"
            result.outputs[key] = summary.text
            if summary.language == case.language:
                result.abstractive = rouge(summary.text, case.references, case.language)
            elif summary.language in case.summary_translations:
                refs = case.summary_translations[summary.language]
                result.summary_translations[summary.language] = chrf(summary.text, refs)

    def translate(source_language: str) -> None:
        items = [t for t in case.translations if t.source_language == source_language]
        targets: list[str] = []
        for item in items:
            targets.extend(lang for lang in item.references if lang not in targets)
        unreachable = [t for t in targets if t not in capabilities.languages]
        if unreachable:
            result.notes.append(f"translations into {', '.join(unreachable)} skipped: not in the profile")
        targets = [t for t in targets if t in capabilities.languages and t != source_language]
        if not targets:
            return
        response = client.translate(
            [item.source for item in items],
            targets,
            source_language=source_language,
            timeout=options.call_timeout,
        )
        for translation in response.translations:
            result.evidence.append(evidence_of("translation", translation))
            item = items[translation.text_index]
            refs = item.references.get(translation.language)
            if refs:
                result.translations.append(
                    TranslationItem(source_language, translation.language, translation.text, refs)
                )
                result.outputs[f"translation {translation.text_index} [{translation.language}]"] = (
                    translation.text
                )

    call("extractive summary", extractive, "extractive")
    if capabilities.summarizes_directly(case.language) or options.pivot:
        call("abstractive summary", abstractive, "abstractive")
    else:
        result.notes.append(
            f"abstractive skipped: the profile summarizes {case.language!r} only through English "
            "(--pivot to include it)"
        )
    if options.translations:
        for source_language in dict.fromkeys(t.source_language for t in case.translations):
            call(f"translations from {source_language}", functools.partial(translate, source_language))
    result.seconds = time.perf_counter() - started
    return result


def evidence_of(what: str, output: Summary | Translation) -> OutputEvidence:
    return OutputEvidence(
        what, output.language, tuple(i.kind for i in output.issues), output.repaired, output.confidence
    )


@contextmanager
def running_server(
    profile: str, *, log_path: Path, start_timeout: float = 900.0, extra_args: Sequence[str] = ()
) -> Iterator[tuple[str, float]]:
    """`python -m service --profile P` on a free loopback port; yields (address, seconds to SERVING).

    The hub is left reachable: a profile of hub models may download what the cache lacks.
    """
    args = ["--profile", profile, *extra_args]
    with ServerProcess(args, log_path, stop_timeout_s=60.0, offline=False) as server:
        startup_s = server.start(start_timeout)
        yield server.target, startup_s
