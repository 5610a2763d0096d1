"""Model-free integrity checks on a model's output: typed findings a reader can act on.

`check_translation(source, output, source_language, target_language)` and
`check_summary(article, summary, language)` return `Finding`s (kind, detail, span); `check_score`
folds them into a figure between 0 and 1 and `pick_better` chooses between two candidates by
them. Pure Python on `service.text`: no model beyond the language detector, no grpc.
"""

from service.checks.checkers import check_summary, check_translation
from service.checks.findings import KIND_WEIGHTS, CheckedText, Finding, FindingKind, check_score, pick_better

__all__ = [
    "KIND_WEIGHTS",
    "CheckedText",
    "Finding",
    "FindingKind",
    "check_score",
    "check_summary",
    "check_translation",
    "pick_better",
]
