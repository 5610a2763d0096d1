"""Model-free integrity checks on a model's output: typed findings a reader can act on."""

from service.checks.findings import KIND_WEIGHTS, CheckedText, Finding, FindingKind, check_score, pick_better

__all__ = ["KIND_WEIGHTS", "CheckedText", "Finding", "FindingKind", "check_score", "pick_better"]
