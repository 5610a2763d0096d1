"""The only module that maps between the client's dataclasses and protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import grpc

from summarizer.v1 import summarizer_service_pb2 as pb

from .types import (
    DetectedLanguage,
    Detection,
    LanguageFailed,
    LanguageFailure,
    LanguagePair,
    LanguageScore,
    LanguageSummary,
    ModelInfo,
    ModelsInfo,
    OutputIssue,
    SourceLanguage,
    StreamEvent,
    SummarizeResult,
    Summary,
    TextSpan,
    TranslateResult,
    Translation,
    TranslationFailure,
)

_T = TypeVar("_T")

MODES = {
    "abstractive": pb.SUMMARY_MODE_ABSTRACTIVE,
    "extractive": pb.SUMMARY_MODE_EXTRACTIVE,
}
LENGTHS = {
    "short": pb.LENGTH_PRESET_SHORT,
    "medium": pb.LENGTH_PRESET_MEDIUM,
    "long": pb.LENGTH_PRESET_LONG,
}
_TASKS = {
    pb.MODEL_TASK_SUMMARIZE: "summarize",
    pb.MODEL_TASK_TRANSLATE: "translate",
}
_STATUS_BY_NUMBER = {code.value[0]: code for code in grpc.StatusCode}


def language_list(languages: str | Iterable[str]) -> list[str]:
    """A list of tags; a lone string is one tag, not a sequence of letters."""
    return [languages] if isinstance(languages, str) else list(languages)


def summary_options(
    *,
    mode: str | None,
    length: str | None,
    max_tokens: int | None,
    max_sentences: int | None,
    num_beams: int | None,
    min_confidence: float | None = None,
) -> pb.SummaryOptions:
    return pb.SummaryOptions(
        mode=_lookup("mode", MODES, mode) if mode else pb.SUMMARY_MODE_UNSPECIFIED,
        length=_lookup("length", LENGTHS, length) if length else pb.LENGTH_PRESET_UNSPECIFIED,
        max_tokens=_count("max_tokens", max_tokens),
        max_sentences=_count("max_sentences", max_sentences),
        num_beams=_count("num_beams", num_beams),
        min_confidence=threshold(min_confidence),
    )


def threshold(value: float | None) -> float:
    """A `min_confidence`: None means none, which the proto spells as zero; the server checks the range."""
    return 0.0 if value is None else float(value)


def input_format(html: bool) -> pb.InputFormat:
    return pb.INPUT_FORMAT_HTML if html else pb.INPUT_FORMAT_TEXT


def summarize_fields(
    text: str,
    targets: str | Iterable[str],
    *,
    source_language: str,
    mode: str | None,
    length: str | None,
    max_tokens: int | None,
    max_sentences: int | None,
    num_beams: int | None,
    html: bool,
    request_id: str | None,
    min_confidence: float | None = None,
) -> dict[str, Any]:
    """The fields SummarizeRequest and StreamSummarizeRequest share; bad options raise ValueError now."""
    return {
        "text": text,
        "source_language": source_language,
        "target_languages": language_list(targets),
        "options": summary_options(
            mode=mode,
            length=length,
            max_tokens=max_tokens,
            max_sentences=max_sentences,
            num_beams=num_beams,
            min_confidence=min_confidence,
        ),
        "request_id": request_id or "",
        "input_format": input_format(html),
    }


def translate_request(
    texts: str | Iterable[str],
    targets: str | Iterable[str],
    *,
    source_language: str,
    request_id: str | None,
    min_confidence: float | None = None,
) -> pb.TranslateRequest:
    return pb.TranslateRequest(
        texts=[texts] if isinstance(texts, str) else list(texts),
        source_language=source_language,
        target_languages=language_list(targets),
        request_id=request_id or "",
        min_confidence=threshold(min_confidence),
    )


def _lookup(name: str, table: Mapping[str, _T], value: str) -> _T:
    try:
        return table[value]
    except KeyError:
        raise ValueError(f"{name} must be one of {', '.join(table)}, not {value!r}") from None


def _count(name: str, value: int | None) -> int:
    # None means "the server's default", which the proto spells as zero.
    if value is None:
        return 0
    if value < 1:
        raise ValueError(f"{name} must be a positive integer or None, not {value!r}")
    return value


def detected_language(message: pb.DetectedLanguage) -> DetectedLanguage:
    return DetectedLanguage(
        language=message.language,
        confidence=probability(message.confidence),
        declared=message.declared,
        mixed=shares(message),
    )


def shares(message: pb.DetectedLanguage) -> list[tuple[str, float]]:
    return [(share.language, probability(share.share)) for share in message.mixed]


def probability(value: float) -> float:
    # The proto carries float32: 0.98 arrives as 0.9800000190734863. Six places undo that.
    return round(value, 6)


def status_code(number: int) -> grpc.StatusCode:
    return _STATUS_BY_NUMBER.get(number, grpc.StatusCode.UNKNOWN)


def summary(message: pb.Summary) -> Summary:
    return Summary(
        language=message.language,
        text=message.text,
        models=list(message.models),
        translated_from=message.translated_from,
        duration_ms=message.duration_ms,
        spans=[TextSpan(start=s.start, end=s.end) for s in message.spans],
        issues=issues(message.issues),
        confidence=probability(message.confidence),
        repaired=message.repaired,
    )


def issues(messages: Iterable[pb.OutputIssue]) -> list[OutputIssue]:
    known = set(pb.IssueKind.values())
    return [
        OutputIssue(
            kind=pb.IssueKind.Name(m.kind).removeprefix("ISSUE_KIND_")
            if m.kind in known
            else f"kind-{m.kind}",
            detail=m.detail,
            span=TextSpan(start=m.span.start, end=m.span.end) if m.HasField("span") else None,
            in_source=m.in_source,
        )
        for m in messages
    ]


def failure(message: pb.LanguageFailure) -> LanguageFailure:
    return LanguageFailure(language=message.language, code=status_code(message.code), message=message.message)


def summarize_result(response: pb.SummarizeResponse) -> SummarizeResult:
    return SummarizeResult(
        request_id=response.request_id,
        source_language=detected_language(response.source_language),
        summaries=[summary(s) for s in response.summaries],
        failures=[failure(f) for f in response.failures],
        warnings=list(response.warnings),
        total_duration_ms=response.total_duration_ms,
    )


def stream_event(response: pb.StreamSummarizeResponse) -> StreamEvent | None:
    """The event a stream message carries; None for a kind this client does not know."""
    kind = response.WhichOneof("event")
    if kind == "source_language":
        source = response.source_language
        return SourceLanguage(
            request_id=response.request_id,
            language=source.language,
            confidence=probability(source.confidence),
            declared=source.declared,
            warnings=list(response.warnings),
            mixed=shares(source),
        )
    if kind == "summary":
        return LanguageSummary(request_id=response.request_id, summary=summary(response.summary))
    if kind == "failure":
        return LanguageFailed(request_id=response.request_id, failure=failure(response.failure))
    return None


def translate_result(response: pb.TranslateResponse) -> TranslateResult:
    return TranslateResult(
        request_id=response.request_id,
        source_language=detected_language(response.source_language),
        translations=[
            Translation(
                text_index=t.text_index,
                language=t.language,
                text=t.text,
                models=list(t.models),
                issues=issues(t.issues),
                confidence=probability(t.confidence),
                repaired=t.repaired,
            )
            for t in response.translations
        ],
        total_duration_ms=response.total_duration_ms,
        failures=[
            TranslationFailure(
                text_index=f.text_index, language=f.language, code=status_code(f.code), message=f.message
            )
            for f in response.failures
        ],
    )


def detection(response: pb.DetectLanguageResponse) -> Detection:
    return Detection(
        language=response.language.language,
        confidence=probability(response.language.confidence),
        candidates=[
            LanguageScore(language=c.language, confidence=probability(c.confidence))
            for c in response.candidates
        ],
        mixed=shares(response.language),
    )


def models_info(response: pb.ListModelsResponse) -> ModelsInfo:
    return ModelsInfo(
        profile=response.profile,
        models=[
            ModelInfo(
                name=m.name,
                backend=m.backend,
                source=m.source,
                runtime=m.runtime,
                tasks=[_TASKS.get(t, f"task-{int(t)}") for t in m.tasks],
                summary_languages=list(m.summary_languages),
                translation_pairs=[
                    LanguagePair(source=p.source, target=p.target) for p in m.translation_pairs
                ],
                any_language=m.any_language,
            )
            for m in response.models
        ],
        languages=list(response.languages),
    )
