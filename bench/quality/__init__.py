"""Summary and translation quality against references: `python -m bench.quality` (`make eval`).

Starts the service for each profile asked for, sends every case of bench/cases/ through its gRPC
API, and scores the answers: ROUGE for summaries, beside two baselines computed in the same run
(the service's own extractive summary and the article's first three sentences), and chrF and
BLEU for translations. Prints one table and writes bench/out/quality-<profile>.md.
"""

from bench.quality.cases import Case, CaseError, TranslationCase, load_cases
from bench.quality.metrics import Rouge, TranslationScore, chrf, rouge, translation_score
from bench.quality.runner import CaseResult, EvalOptions, ProfileReport, evaluate, lead, running_server

__all__ = [
    "Case",
    "CaseError",
    "CaseResult",
    "EvalOptions",
    "ProfileReport",
    "Rouge",
    "TranslationCase",
    "TranslationScore",
    "chrf",
    "evaluate",
    "lead",
    "load_cases",
    "rouge",
    "running_server",
    "translation_score",
]
