"""The only place that maps protobuf messages to the pipeline's dataclasses and back."""

from __future__ import annotations

from typing import TypeVar

from service.api.status import public_message, status_code_for
from service.checks import Finding, FindingKind
from service.errors import InvalidInputError, Reason
from service.models.base import SUMMARIZE, TRANSLATE, ModelDescription
from service.pipeline import (
    LanguageFailure,
    LanguageSummary,
    Length,
    Mode,
    ProfileInfo,
    SourceLanguage,
    SummarizeJob,
    SummaryOptions,
    SummarySentence,
    TranslateJob,
    TranslateResult,
    TranslationFailure,
    TranslationItem,
)
from service.pipeline.evidence import Evidence
from service.text.detect import Detection, LanguageShare
from service.text.terminology import GlossaryEntry, Terminology, TermReport
from summarizer.v1 import summarizer_service_pb2 as pb

_Output = TypeVar("_Output", pb.Summary, pb.Translation)

_MODES: dict[int, object] = {
    pb.SUMMARY_MODE_UNSPECIFIED: Mode.ABSTRACTIVE,
    pb.SUMMARY_MODE_ABSTRACTIVE: Mode.ABSTRACTIVE,
    pb.SUMMARY_MODE_EXTRACTIVE: Mode.EXTRACTIVE,
}
_LENGTHS: dict[int, object] = {
    pb.LENGTH_PRESET_UNSPECIFIED: Length.MEDIUM,
    pb.LENGTH_PRESET_SHORT: Length.SHORT,
    pb.LENGTH_PRESET_MEDIUM: Length.MEDIUM,
    pb.LENGTH_PRESET_LONG: Length.LONG,
}
_FORMATS: dict[int, object] = {
    pb.INPUT_FORMAT_UNSPECIFIED: False,
    pb.INPUT_FORMAT_TEXT: False,
    pb.INPUT_FORMAT_HTML: True,
}
_TASKS = {SUMMARIZE: pb.MODEL_TASK_SUMMARIZE, TRANSLATE: pb.MODEL_TASK_TRANSLATE}
# IssueKind mirrors FindingKind name for name; a kind without its proto twin fails at import.
_ISSUE_KINDS = {kind: f"ISSUE_KIND_{kind.value}" for kind in FindingKind}
for _name in _ISSUE_KINDS.values():
    pb.IssueKind.Value(_name)


def _enum(table: dict[int, object], value: int, field: str) -> object:
    try:
        return table[value]
    except KeyError:
        raise InvalidInputError(field, f"unknown enum value {value}", reason=Reason.UNKNOWN_ENUM) from None


def _optional(value: int) -> int | None:
    return value or None


def summarize_job(request: pb.SummarizeRequest | pb.StreamSummarizeRequest, request_id: str) -> SummarizeJob:
    options = request.options
    return SummarizeJob(
        text=request.text,
        source_language=request.source_language,
        target_languages=tuple(request.target_languages),
        options=SummaryOptions(
            mode=_enum(_MODES, options.mode, "options.mode"),  # type: ignore[arg-type]
            length=_enum(_LENGTHS, options.length, "options.length"),  # type: ignore[arg-type]
            max_tokens=_optional(options.max_tokens),
            max_sentences=_optional(options.max_sentences),
            num_beams=_optional(options.num_beams),
            min_confidence=options.min_confidence,
        ),
        request_id=request_id,
        is_html=bool(_enum(_FORMATS, request.input_format, "input_format")),
        terminology=terminology(request.terminology),
    )


def translate_job(request: pb.TranslateRequest, request_id: str) -> TranslateJob:
    return TranslateJob(
        texts=tuple(request.texts),
        target_languages=tuple(request.target_languages),
        source_language=request.source_language,
        request_id=request_id,
        min_confidence=request.min_confidence,
        terminology=terminology(request.terminology),
    )


def terminology(message: pb.Terminology) -> Terminology:
    """As sent: validated by the pipeline, which names the field of any refusal."""
    return Terminology(
        tuple(GlossaryEntry(e.source, e.target, e.target_language) for e in message.entries),
        tuple(message.keep),
    )


def term_reports(reports: tuple[TermReport, ...]) -> list[pb.TermReport]:
    return [pb.TermReport(term=r.term, expected=r.expected, applied=r.applied) for r in reports]


def summary_sentences(sentences: tuple[SummarySentence, ...]) -> list[pb.SummarySentence]:
    return [
        pb.SummarySentence(
            span=pb.TextSpan(start=s.span.start, end=s.span.end),
            source_spans=[pb.TextSpan(start=x.start, end=x.end) for x in s.sources],
            support=s.support,
            unsupported=s.unsupported,
        )
        for s in sentences
    ]


def detected_language(source: SourceLanguage) -> pb.DetectedLanguage:
    return pb.DetectedLanguage(
        language=source.language,
        confidence=source.confidence,
        declared=source.declared,
        mixed=language_shares(source.mixed),
    )


def language_shares(shares: tuple[LanguageShare, ...]) -> list[pb.LanguageShare]:
    return [pb.LanguageShare(language=s.language, share=s.share) for s in shares]


def summary(event: LanguageSummary) -> pb.Summary:
    message = pb.Summary(
        language=event.language,
        text=event.text,
        models=list(event.models),
        translated_from=event.translated_from,
        duration_ms=event.duration_ms,
        spans=[pb.TextSpan(start=s.start, end=s.end) for s in event.spans],
        terms=term_reports(event.terms),
        sentences=summary_sentences(event.sentences),
    )
    return with_evidence(message, event.evidence)


def with_evidence(message: _Output, evidence: Evidence) -> _Output:
    """Summary or Translation with the fields they share for an output's evidence set."""
    message.issues.extend(output_issue(issue) for issue in evidence.issues)
    message.confidence = evidence.confidence
    message.repaired = evidence.repaired
    return message


def output_issue(finding: Finding) -> pb.OutputIssue:
    span = pb.TextSpan(start=finding.span[0], end=finding.span[1]) if finding.span is not None else None
    return pb.OutputIssue(
        kind=_ISSUE_KINDS[finding.kind], detail=finding.detail, span=span, in_source=finding.in_source
    )


def failure(event: LanguageFailure, request_id: str) -> pb.LanguageFailure:
    return pb.LanguageFailure(
        language=event.language,
        code=status_code_for(event.error).value[0],
        message=public_message(event.error, request_id),
    )


def stream_event(
    event: SourceLanguage | LanguageSummary | LanguageFailure, request_id: str
) -> pb.StreamSummarizeResponse:
    if isinstance(event, SourceLanguage):
        return pb.StreamSummarizeResponse(
            request_id=request_id, source_language=detected_language(event), warnings=list(event.warnings)
        )
    if isinstance(event, LanguageSummary):
        return pb.StreamSummarizeResponse(request_id=request_id, summary=summary(event))
    return pb.StreamSummarizeResponse(request_id=request_id, failure=failure(event, request_id))


def summarize_response(
    request_id: str,
    source: SourceLanguage,
    results: list[LanguageSummary | LanguageFailure],
    order: tuple[str, ...],
    total_ms: float,
) -> pb.SummarizeResponse:
    rank = {lang: i for i, lang in enumerate(order)}
    ordered = sorted(results, key=lambda r: rank.get(r.language, len(rank)))
    return pb.SummarizeResponse(
        request_id=request_id,
        source_language=detected_language(source),
        summaries=[summary(r) for r in ordered if isinstance(r, LanguageSummary)],
        failures=[failure(r, request_id) for r in ordered if isinstance(r, LanguageFailure)],
        total_duration_ms=total_ms,
        warnings=list(source.warnings),
    )


def translate_response(request_id: str, result: TranslateResult, total_ms: float) -> pb.TranslateResponse:
    return pb.TranslateResponse(
        request_id=request_id,
        source_language=detected_language(result.source),
        translations=[translation(item) for item in result.items],
        total_duration_ms=total_ms,
        failures=[translation_failure(f, request_id) for f in result.failures],
    )


def translation(item: TranslationItem) -> pb.Translation:
    message = pb.Translation(
        text_index=item.text_index,
        language=item.language,
        text=item.text,
        models=list(item.models),
        terms=term_reports(item.terms),
    )
    return with_evidence(message, item.evidence)


def translation_failure(failure: TranslationFailure, request_id: str) -> pb.TranslationFailure:
    return pb.TranslationFailure(
        text_index=failure.text_index,
        language=failure.language,
        code=status_code_for(failure.error).value[0],
        message=public_message(failure.error, request_id),
    )


def detect_response(detection: Detection) -> pb.DetectLanguageResponse:
    return pb.DetectLanguageResponse(
        language=pb.DetectedLanguage(
            language=detection.language,
            confidence=detection.confidence,
            mixed=language_shares(detection.mixed),
        ),
        candidates=[pb.LanguageScore(language=lang, confidence=conf) for lang, conf in detection.candidates],
    )


def model_info(description: ModelDescription) -> pb.ModelInfo:
    return pb.ModelInfo(
        name=description.name,
        backend=description.backend,
        source=description.source,
        runtime=description.runtime,
        tasks=[_TASKS[t] for t in description.tasks if t in _TASKS],
        summary_languages=list(description.summary_languages),
        translation_pairs=[pb.LanguagePair(source=a, target=b) for a, b in description.translation_pairs],
        any_language=description.any_language,
        honours_terminology=description.honours_terminology,
    )


def list_models_response(info: ProfileInfo) -> pb.ListModelsResponse:
    return pb.ListModelsResponse(
        profile=info.profile, models=[model_info(m) for m in info.models], languages=list(info.languages)
    )
