from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SummaryMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUMMARY_MODE_UNSPECIFIED: _ClassVar[SummaryMode]
    SUMMARY_MODE_ABSTRACTIVE: _ClassVar[SummaryMode]
    SUMMARY_MODE_EXTRACTIVE: _ClassVar[SummaryMode]

class LengthPreset(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    LENGTH_PRESET_UNSPECIFIED: _ClassVar[LengthPreset]
    LENGTH_PRESET_SHORT: _ClassVar[LengthPreset]
    LENGTH_PRESET_MEDIUM: _ClassVar[LengthPreset]
    LENGTH_PRESET_LONG: _ClassVar[LengthPreset]

class InputFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    INPUT_FORMAT_UNSPECIFIED: _ClassVar[InputFormat]
    INPUT_FORMAT_TEXT: _ClassVar[InputFormat]
    INPUT_FORMAT_HTML: _ClassVar[InputFormat]

class IssueKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUE_KIND_UNSPECIFIED: _ClassVar[IssueKind]
    ISSUE_KIND_WRONG_LANGUAGE: _ClassVar[IssueKind]
    ISSUE_KIND_ECHO: _ClassVar[IssueKind]
    ISSUE_KIND_REPETITION: _ClassVar[IssueKind]
    ISSUE_KIND_OMISSION: _ClassVar[IssueKind]
    ISSUE_KIND_NUMBER_MISSING: _ClassVar[IssueKind]
    ISSUE_KIND_NUMBER_ALTERED: _ClassVar[IssueKind]
    ISSUE_KIND_NAME_MISSING: _ClassVar[IssueKind]
    ISSUE_KIND_NAME_ALTERED: _ClassVar[IssueKind]

class ModelTask(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_TASK_UNSPECIFIED: _ClassVar[ModelTask]
    MODEL_TASK_SUMMARIZE: _ClassVar[ModelTask]
    MODEL_TASK_TRANSLATE: _ClassVar[ModelTask]
SUMMARY_MODE_UNSPECIFIED: SummaryMode
SUMMARY_MODE_ABSTRACTIVE: SummaryMode
SUMMARY_MODE_EXTRACTIVE: SummaryMode
LENGTH_PRESET_UNSPECIFIED: LengthPreset
LENGTH_PRESET_SHORT: LengthPreset
LENGTH_PRESET_MEDIUM: LengthPreset
LENGTH_PRESET_LONG: LengthPreset
INPUT_FORMAT_UNSPECIFIED: InputFormat
INPUT_FORMAT_TEXT: InputFormat
INPUT_FORMAT_HTML: InputFormat
ISSUE_KIND_UNSPECIFIED: IssueKind
ISSUE_KIND_WRONG_LANGUAGE: IssueKind
ISSUE_KIND_ECHO: IssueKind
ISSUE_KIND_REPETITION: IssueKind
ISSUE_KIND_OMISSION: IssueKind
ISSUE_KIND_NUMBER_MISSING: IssueKind
ISSUE_KIND_NUMBER_ALTERED: IssueKind
ISSUE_KIND_NAME_MISSING: IssueKind
ISSUE_KIND_NAME_ALTERED: IssueKind
MODEL_TASK_UNSPECIFIED: ModelTask
MODEL_TASK_SUMMARIZE: ModelTask
MODEL_TASK_TRANSLATE: ModelTask

class SummaryOptions(_message.Message):
    __slots__ = ("mode", "length", "max_tokens", "max_sentences", "num_beams", "min_confidence")
    MODE_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_SENTENCES_FIELD_NUMBER: _ClassVar[int]
    NUM_BEAMS_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    mode: SummaryMode
    length: LengthPreset
    max_tokens: int
    max_sentences: int
    num_beams: int
    min_confidence: float
    def __init__(self, mode: _Optional[_Union[SummaryMode, str]] = ..., length: _Optional[_Union[LengthPreset, str]] = ..., max_tokens: _Optional[int] = ..., max_sentences: _Optional[int] = ..., num_beams: _Optional[int] = ..., min_confidence: _Optional[float] = ...) -> None: ...

class SummarizeRequest(_message.Message):
    __slots__ = ("text", "source_language", "target_languages", "options", "request_id", "input_format", "terminology")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TERMINOLOGY_FIELD_NUMBER: _ClassVar[int]
    text: str
    source_language: str
    target_languages: _containers.RepeatedScalarFieldContainer[str]
    options: SummaryOptions
    request_id: str
    input_format: InputFormat
    terminology: Terminology
    def __init__(self, text: _Optional[str] = ..., source_language: _Optional[str] = ..., target_languages: _Optional[_Iterable[str]] = ..., options: _Optional[_Union[SummaryOptions, _Mapping]] = ..., request_id: _Optional[str] = ..., input_format: _Optional[_Union[InputFormat, str]] = ..., terminology: _Optional[_Union[Terminology, _Mapping]] = ...) -> None: ...

class StreamSummarizeRequest(_message.Message):
    __slots__ = ("text", "source_language", "target_languages", "options", "request_id", "input_format", "terminology")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    INPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    TERMINOLOGY_FIELD_NUMBER: _ClassVar[int]
    text: str
    source_language: str
    target_languages: _containers.RepeatedScalarFieldContainer[str]
    options: SummaryOptions
    request_id: str
    input_format: InputFormat
    terminology: Terminology
    def __init__(self, text: _Optional[str] = ..., source_language: _Optional[str] = ..., target_languages: _Optional[_Iterable[str]] = ..., options: _Optional[_Union[SummaryOptions, _Mapping]] = ..., request_id: _Optional[str] = ..., input_format: _Optional[_Union[InputFormat, str]] = ..., terminology: _Optional[_Union[Terminology, _Mapping]] = ...) -> None: ...

class Terminology(_message.Message):
    __slots__ = ("entries", "keep")
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    KEEP_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[GlossaryEntry]
    keep: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, entries: _Optional[_Iterable[_Union[GlossaryEntry, _Mapping]]] = ..., keep: _Optional[_Iterable[str]] = ...) -> None: ...

class GlossaryEntry(_message.Message):
    __slots__ = ("source", "target", "target_language")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    target_language: str
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ..., target_language: _Optional[str] = ...) -> None: ...

class TermReport(_message.Message):
    __slots__ = ("term", "expected", "applied")
    TERM_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_FIELD_NUMBER: _ClassVar[int]
    APPLIED_FIELD_NUMBER: _ClassVar[int]
    term: str
    expected: str
    applied: bool
    def __init__(self, term: _Optional[str] = ..., expected: _Optional[str] = ..., applied: _Optional[bool] = ...) -> None: ...

class SummarySentence(_message.Message):
    __slots__ = ("span", "source_spans", "support", "unsupported")
    SPAN_FIELD_NUMBER: _ClassVar[int]
    SOURCE_SPANS_FIELD_NUMBER: _ClassVar[int]
    SUPPORT_FIELD_NUMBER: _ClassVar[int]
    UNSUPPORTED_FIELD_NUMBER: _ClassVar[int]
    span: TextSpan
    source_spans: _containers.RepeatedCompositeFieldContainer[TextSpan]
    support: float
    unsupported: bool
    def __init__(self, span: _Optional[_Union[TextSpan, _Mapping]] = ..., source_spans: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ..., support: _Optional[float] = ..., unsupported: _Optional[bool] = ...) -> None: ...

class DetectedLanguage(_message.Message):
    __slots__ = ("language", "confidence", "declared", "mixed")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    DECLARED_FIELD_NUMBER: _ClassVar[int]
    MIXED_FIELD_NUMBER: _ClassVar[int]
    language: str
    confidence: float
    declared: bool
    mixed: _containers.RepeatedCompositeFieldContainer[LanguageShare]
    def __init__(self, language: _Optional[str] = ..., confidence: _Optional[float] = ..., declared: _Optional[bool] = ..., mixed: _Optional[_Iterable[_Union[LanguageShare, _Mapping]]] = ...) -> None: ...

class LanguageShare(_message.Message):
    __slots__ = ("language", "share")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SHARE_FIELD_NUMBER: _ClassVar[int]
    language: str
    share: float
    def __init__(self, language: _Optional[str] = ..., share: _Optional[float] = ...) -> None: ...

class Summary(_message.Message):
    __slots__ = ("language", "text", "models", "translated_from", "duration_ms", "spans", "issues", "confidence", "repaired", "terms", "sentences")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    TRANSLATED_FROM_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    SENTENCES_FIELD_NUMBER: _ClassVar[int]
    language: str
    text: str
    models: _containers.RepeatedScalarFieldContainer[str]
    translated_from: str
    duration_ms: float
    spans: _containers.RepeatedCompositeFieldContainer[TextSpan]
    issues: _containers.RepeatedCompositeFieldContainer[OutputIssue]
    confidence: float
    repaired: bool
    terms: _containers.RepeatedCompositeFieldContainer[TermReport]
    sentences: _containers.RepeatedCompositeFieldContainer[SummarySentence]
    def __init__(self, language: _Optional[str] = ..., text: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., translated_from: _Optional[str] = ..., duration_ms: _Optional[float] = ..., spans: _Optional[_Iterable[_Union[TextSpan, _Mapping]]] = ..., issues: _Optional[_Iterable[_Union[OutputIssue, _Mapping]]] = ..., confidence: _Optional[float] = ..., repaired: _Optional[bool] = ..., terms: _Optional[_Iterable[_Union[TermReport, _Mapping]]] = ..., sentences: _Optional[_Iterable[_Union[SummarySentence, _Mapping]]] = ...) -> None: ...

class OutputIssue(_message.Message):
    __slots__ = ("kind", "detail", "span", "in_source")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    SPAN_FIELD_NUMBER: _ClassVar[int]
    IN_SOURCE_FIELD_NUMBER: _ClassVar[int]
    kind: IssueKind
    detail: str
    span: TextSpan
    in_source: bool
    def __init__(self, kind: _Optional[_Union[IssueKind, str]] = ..., detail: _Optional[str] = ..., span: _Optional[_Union[TextSpan, _Mapping]] = ..., in_source: _Optional[bool] = ...) -> None: ...

class TextSpan(_message.Message):
    __slots__ = ("start", "end")
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    start: int
    end: int
    def __init__(self, start: _Optional[int] = ..., end: _Optional[int] = ...) -> None: ...

class LanguageFailure(_message.Message):
    __slots__ = ("language", "code", "message")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    language: str
    code: int
    message: str
    def __init__(self, language: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class SummarizeResponse(_message.Message):
    __slots__ = ("request_id", "source_language", "summaries", "failures", "total_duration_ms", "warnings")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SUMMARIES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    source_language: DetectedLanguage
    summaries: _containers.RepeatedCompositeFieldContainer[Summary]
    failures: _containers.RepeatedCompositeFieldContainer[LanguageFailure]
    total_duration_ms: float
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., source_language: _Optional[_Union[DetectedLanguage, _Mapping]] = ..., summaries: _Optional[_Iterable[_Union[Summary, _Mapping]]] = ..., failures: _Optional[_Iterable[_Union[LanguageFailure, _Mapping]]] = ..., total_duration_ms: _Optional[float] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class StreamSummarizeResponse(_message.Message):
    __slots__ = ("request_id", "source_language", "summary", "failure", "warnings")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    source_language: DetectedLanguage
    summary: Summary
    failure: LanguageFailure
    warnings: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., source_language: _Optional[_Union[DetectedLanguage, _Mapping]] = ..., summary: _Optional[_Union[Summary, _Mapping]] = ..., failure: _Optional[_Union[LanguageFailure, _Mapping]] = ..., warnings: _Optional[_Iterable[str]] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("texts", "source_language", "target_languages", "request_id", "min_confidence", "terminology")
    TEXTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TARGET_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    MIN_CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    TERMINOLOGY_FIELD_NUMBER: _ClassVar[int]
    texts: _containers.RepeatedScalarFieldContainer[str]
    source_language: str
    target_languages: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    min_confidence: float
    terminology: Terminology
    def __init__(self, texts: _Optional[_Iterable[str]] = ..., source_language: _Optional[str] = ..., target_languages: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ..., min_confidence: _Optional[float] = ..., terminology: _Optional[_Union[Terminology, _Mapping]] = ...) -> None: ...

class Translation(_message.Message):
    __slots__ = ("text_index", "language", "text", "models", "issues", "confidence", "repaired", "terms")
    TEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ISSUES_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    REPAIRED_FIELD_NUMBER: _ClassVar[int]
    TERMS_FIELD_NUMBER: _ClassVar[int]
    text_index: int
    language: str
    text: str
    models: _containers.RepeatedScalarFieldContainer[str]
    issues: _containers.RepeatedCompositeFieldContainer[OutputIssue]
    confidence: float
    repaired: bool
    terms: _containers.RepeatedCompositeFieldContainer[TermReport]
    def __init__(self, text_index: _Optional[int] = ..., language: _Optional[str] = ..., text: _Optional[str] = ..., models: _Optional[_Iterable[str]] = ..., issues: _Optional[_Iterable[_Union[OutputIssue, _Mapping]]] = ..., confidence: _Optional[float] = ..., repaired: _Optional[bool] = ..., terms: _Optional[_Iterable[_Union[TermReport, _Mapping]]] = ...) -> None: ...

class TranslationFailure(_message.Message):
    __slots__ = ("text_index", "language", "code", "message")
    TEXT_INDEX_FIELD_NUMBER: _ClassVar[int]
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    text_index: int
    language: str
    code: int
    message: str
    def __init__(self, text_index: _Optional[int] = ..., language: _Optional[str] = ..., code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("request_id", "source_language", "translations", "total_duration_ms", "failures")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    TRANSLATIONS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    source_language: DetectedLanguage
    translations: _containers.RepeatedCompositeFieldContainer[Translation]
    total_duration_ms: float
    failures: _containers.RepeatedCompositeFieldContainer[TranslationFailure]
    def __init__(self, request_id: _Optional[str] = ..., source_language: _Optional[_Union[DetectedLanguage, _Mapping]] = ..., translations: _Optional[_Iterable[_Union[Translation, _Mapping]]] = ..., total_duration_ms: _Optional[float] = ..., failures: _Optional[_Iterable[_Union[TranslationFailure, _Mapping]]] = ...) -> None: ...

class DetectLanguageRequest(_message.Message):
    __slots__ = ("text",)
    TEXT_FIELD_NUMBER: _ClassVar[int]
    text: str
    def __init__(self, text: _Optional[str] = ...) -> None: ...

class LanguageScore(_message.Message):
    __slots__ = ("language", "confidence")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CONFIDENCE_FIELD_NUMBER: _ClassVar[int]
    language: str
    confidence: float
    def __init__(self, language: _Optional[str] = ..., confidence: _Optional[float] = ...) -> None: ...

class DetectLanguageResponse(_message.Message):
    __slots__ = ("language", "candidates")
    LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    CANDIDATES_FIELD_NUMBER: _ClassVar[int]
    language: DetectedLanguage
    candidates: _containers.RepeatedCompositeFieldContainer[LanguageScore]
    def __init__(self, language: _Optional[_Union[DetectedLanguage, _Mapping]] = ..., candidates: _Optional[_Iterable[_Union[LanguageScore, _Mapping]]] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class LanguagePair(_message.Message):
    __slots__ = ("source", "target")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    source: str
    target: str
    def __init__(self, source: _Optional[str] = ..., target: _Optional[str] = ...) -> None: ...

class ModelInfo(_message.Message):
    __slots__ = ("name", "backend", "source", "runtime", "tasks", "summary_languages", "translation_pairs", "any_language", "honours_terminology")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    TASKS_FIELD_NUMBER: _ClassVar[int]
    SUMMARY_LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    TRANSLATION_PAIRS_FIELD_NUMBER: _ClassVar[int]
    ANY_LANGUAGE_FIELD_NUMBER: _ClassVar[int]
    HONOURS_TERMINOLOGY_FIELD_NUMBER: _ClassVar[int]
    name: str
    backend: str
    source: str
    runtime: str
    tasks: _containers.RepeatedScalarFieldContainer[ModelTask]
    summary_languages: _containers.RepeatedScalarFieldContainer[str]
    translation_pairs: _containers.RepeatedCompositeFieldContainer[LanguagePair]
    any_language: bool
    honours_terminology: bool
    def __init__(self, name: _Optional[str] = ..., backend: _Optional[str] = ..., source: _Optional[str] = ..., runtime: _Optional[str] = ..., tasks: _Optional[_Iterable[_Union[ModelTask, str]]] = ..., summary_languages: _Optional[_Iterable[str]] = ..., translation_pairs: _Optional[_Iterable[_Union[LanguagePair, _Mapping]]] = ..., any_language: _Optional[bool] = ..., honours_terminology: _Optional[bool] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("profile", "models", "languages")
    PROFILE_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    LANGUAGES_FIELD_NUMBER: _ClassVar[int]
    profile: str
    models: _containers.RepeatedCompositeFieldContainer[ModelInfo]
    languages: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, profile: _Optional[str] = ..., models: _Optional[_Iterable[_Union[ModelInfo, _Mapping]]] = ..., languages: _Optional[_Iterable[str]] = ...) -> None: ...
