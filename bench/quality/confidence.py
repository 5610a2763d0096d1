"""What the confidence figure means, measured: `python -m bench.quality.confidence --data DIR`.

Loads a profile in process, with the server's own loader, and translates DIR/translation.jsonl
(English sentences with professional references) the way the service does: each sentence alone,
and documents of three consecutive sentences of one target language (where a repair can translate
one sentence again alone). For every output it keeps the first translation and what the checks
and repairs made of it (`TranslationChecker.checked`, the code the Translate RPC runs), and
scores both with chrF against the reference. It reports, per target language:

- findings per 100 outputs, on the first translations and on the outputs as returned;
- repairs attempted (outputs that got at least one repair call) and succeeded (outputs changed);
- chrF (corpus, 0-100) before and after repair;
- calibration: the mean sentence chrF of the outputs in each confidence band;

and, over all outputs, how well the confidence and each of its two factors (the model's
certainty, the check score) rank the outputs by chrF (Spearman's rho). Prints the tables and
writes them to bench/CONFIDENCE.md (or --out). The data's text is never written.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from bench.quality.integrity import TranslationItem, documents, load_translations
from bench.quality.metrics import chrf, translation_score
from service.checks import Finding, check_score
from service.models.base import GenerationParams
from service.pipeline import SummarizationPipeline
from service.pipeline.evidence import CERTAINTY_EXPONENT, CheckedOutput
from service.pipeline.translate import translate_scored

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "bench" / "CONFIDENCE.md"
BANDS = ((0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0001))
UNITS = ("sentence", "document")


@dataclass(frozen=True)
class Outcome:
    """One output: the first translation, what the service returns, and both scored."""

    item_id: str
    unit: str  # "sentence" or "document"
    language: str
    reference: str
    first: str
    first_findings: tuple[Finding, ...]
    returned: CheckedOutput

    @property
    def confidence(self) -> float:
        return self.returned.evidence.confidence

    @property
    def attempted(self) -> bool:
        return self.returned.evidence.repair_attempts > 0

    @property
    def repaired(self) -> bool:
        return self.returned.evidence.repaired

    @property
    def chrf_first(self) -> float:
        return chrf(self.first, [self.reference])

    @property
    def chrf_returned(self) -> float:
        return chrf(self.returned.text, [self.reference])


def translate_one(pipeline: SummarizationPipeline, item: TranslationItem, unit: str) -> Outcome:
    """The item through its route, then through the checks and repairs, as the Translate RPC does."""
    route = pipeline.translation_route(item.source_language, item.target_language)
    if route is None:
        raise SystemExit(f"the profile cannot translate {item.source_language} into {item.target_language}")
    params = GenerationParams()
    first = translate_scored(item.source, route, params)
    returned = pipeline.checker.checked(item.source, first, route, params)
    first_findings = (
        tuple(pipeline.checker.check(item.source, first.text, route))
        if returned.evidence.repaired
        else returned.evidence.issues
    )
    return Outcome(
        item.id,
        unit,
        item.target_language,
        item.reference,
        first.text,
        first_findings,
        returned,
    )


def evaluate(
    pipeline: SummarizationPipeline,
    items: Sequence[TranslationItem],
    *,
    document_size: int = 3,
    concurrency: int = 8,
    progress: Callable[[str], None] = lambda message: None,
) -> list[Outcome]:
    """Every sentence, then every document, translated with `concurrency` calls in flight (the
    models batch concurrent calls as they would for concurrent requests)."""
    work = [(item, "sentence") for item in items]
    if document_size > 1:
        work += [(doc, "document") for doc in documents(items, document_size)]
    outcomes: list[Outcome] = []
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(translate_one, pipeline, item, unit) for item, unit in work]
        for done, future in enumerate(futures, 1):
            outcomes.append(future.result())
            if done % 10 == 0 or done == len(futures):
                progress(f"{done}/{len(futures)} outputs")
    return outcomes


# -- figures ---------------------------------------------------------------------------------------


def figures_of(outcome: Outcome) -> dict[str, object]:
    """One output's numbers, by item id: what a calibration needs, and none of the text."""
    evidence = outcome.returned.evidence
    return {
        "id": outcome.item_id,
        "unit": outcome.unit,
        "language": outcome.language,
        "certainty": evidence.certainty,
        "check_score": check_score(evidence.issues),
        "confidence": evidence.confidence,
        "issues": [issue.kind.value for issue in evidence.issues],
        "first_issues": [finding.kind.value for finding in outcome.first_findings],
        "repair_attempts": evidence.repair_attempts,
        "repaired": evidence.repaired,
        "chrf_first": outcome.chrf_first,
        "chrf_returned": outcome.chrf_returned,
    }


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation, ties sharing their mean rank; None when either side is constant."""

    def ranks(values: Sequence[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out

    if len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = fmean(rx), fmean(ry)
    sx = sum((r - mx) ** 2 for r in rx) ** 0.5
    sy = sum((r - my) ** 2 for r in ry) ** 0.5
    if sx == 0 or sy == 0:
        return None
    return sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True)) / (sx * sy)


def band_of(confidence: float) -> int:
    return next(i for i, (low, high) in enumerate(BANDS) if low <= confidence < high)


def _band_name(index: int) -> str:
    low, high = BANDS[index]
    return f"{low:.1f}-{min(high, 1.0):.1f}"


def _cell(values: Sequence[float]) -> str:
    return f"{fmean(values):.1f} ({len(values)})" if values else "-"


def _rho(value: float | None) -> str:
    return "-" if value is None else f"{value:+.2f}"


def language_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    by_language: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_language[outcome.language].append(outcome)
    rows = []
    for language in sorted(by_language):
        rows.append(_language_row(language, by_language[language]))
    rows.append(_language_row("**all**", list(outcomes)))
    return rows


def _language_row(language: str, group: Sequence[Outcome]) -> list[str]:
    n = len(group)
    refs = [[o.reference] for o in group]
    corpus = language if language != "**all**" else "en"
    before = translation_score([o.first for o in group], refs, corpus).chrf
    after = translation_score([o.returned.text for o in group], refs, corpus).chrf
    first_findings = sum(len(o.first_findings) for o in group)
    returned_findings = sum(len(o.returned.evidence.issues) for o in group)
    return [
        language,
        str(n),
        f"{100 * first_findings / n:.0f}",
        f"{100 * returned_findings / n:.0f}",
        str(sum(o.attempted for o in group)),
        str(sum(o.repaired for o in group)),
        f"{before:.1f}",
        f"{after:.1f}",
        f"{fmean(o.confidence for o in group):.2f}",
    ]


LANGUAGE_HEADER = (
    "target",
    "outputs",
    "findings /100 (first)",
    "findings /100 (returned)",
    "repairs attempted",
    "repairs succeeded",
    "chrF before",
    "chrF after",
    "mean confidence",
)


def band_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Mean sentence chrF (and count) per confidence band, per language and over all."""
    languages = sorted({o.language for o in outcomes})
    rows = []
    for language in [*languages, "**all**"]:
        group = [o for o in outcomes if language in (o.language, "**all**")]
        cells: list[list[float]] = [[] for _ in BANDS]
        for outcome in group:
            cells[band_of(outcome.confidence)].append(outcome.chrf_returned)
        rows.append([language, *(_cell(c) for c in cells)])
    return rows


def ranking_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """Spearman's rho between chrF and the confidence, and each of its factors."""
    rows = []
    for unit in UNITS:
        group = [o for o in outcomes if o.unit == unit]
        if not group:
            continue
        quality = [o.chrf_returned for o in group]
        model = [o.returned.evidence.certainty for o in group]
        checks = [check_score(o.returned.evidence.issues) for o in group]
        rows.append(
            [
                f"{unit}s",
                str(len(group)),
                _rho(spearman([o.confidence for o in group], quality)),
                _rho(spearman(model, quality)),
                _rho(spearman(checks, quality)),
            ]
        )
    return rows


EXPONENTS = (0.5, 1.0, 1.5, 2.0, 3.0)


def exponent_rows(outcomes: Sequence[Outcome]) -> list[list[str]]:
    """For each candidate exponent k of exp(k x mean log-probability): how close the confidence it gives
    comes to chrF/100 (mean squared error), how well it ranks outputs by chrF, and its mean."""
    quality = [o.chrf_returned / 100 for o in outcomes]
    # The mean log-probability each output's certainty was made from.
    log_probs = [math.log(max(o.returned.evidence.certainty, 1e-12)) / CERTAINTY_EXPONENT for o in outcomes]
    rows = []
    for k in EXPONENTS:
        confidence = [
            math.exp(k * lp) * check_score(o.returned.evidence.issues)
            for lp, o in zip(log_probs, outcomes, strict=True)
        ]
        error = fmean((c - q) ** 2 for c, q in zip(confidence, quality, strict=True))
        chosen = " (the service's)" if k == CERTAINTY_EXPONENT else ""
        rows.append(
            [
                f"{k:g}{chosen}",
                f"{error:.4f}",
                _rho(spearman(confidence, quality)),
                f"{fmean(confidence):.2f}",
            ]
        )
    return rows


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [list(header), ["---"] + ["---:"] * (len(header) - 1), *rows]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)


def render(outcomes: Sequence[Outcome], *, profile: str, data: str, seconds: float, attempts: int) -> str:
    lines = [
        f"# Confidence and repairs on human references: profile `{profile}`",
        "",
        f"`python -m bench.quality.confidence --data {data} --profile {profile}` ({seconds:.0f} s on this "
        f"machine; repairs: at most {attempts} model calls per output). Generated: edit "
        "`bench/quality/confidence.py`, not this file.",
        "",
        "Each English sentence of the data translated alone, and documents of three consecutive sentences of "
        "one target language. *first*: the model's translation; *returned*: after the checks and repairs, "
        "as the Translate RPC returns it. chrF is corpus chrF (0-100) against the professional reference.",
        "",
    ]
    for unit in UNITS:
        group = [o for o in outcomes if o.unit == unit]
        if not group:
            continue
        lines += [f"## {unit.capitalize()}s", "", markdown_table(LANGUAGE_HEADER, language_rows(group)), ""]
    lines += [
        "## Calibration: mean sentence chrF per confidence band",
        "",
        "Every output (sentences and documents); in brackets, how many outputs fall in the band.",
        "",
        markdown_table(("target", *(_band_name(i) for i in range(len(BANDS)))), band_rows(outcomes)),
        "",
        "## Does the confidence rank outputs by quality?",
        "",
        "Spearman's rho between each output's chrF and its confidence, the model's certainty alone, "
        "and the check score alone (+1: the same order; 0: no relation).",
        "",
        markdown_table(("outputs", "n", "confidence", "certainty", "check score"), ranking_rows(outcomes)),
        "",
        "## The certainty's exponent",
        "",
        "The confidence with the certainty exp(k x mean log-probability) for other exponents k, over every "
        "output: its mean squared error against chrF/100, Spearman's rho with chrF, and its mean (the mean "
        f"chrF/100 is {fmean(o.chrf_returned for o in outcomes) / 100:.2f}).",
        "",
        markdown_table(("k", "squared error", "rho", "mean confidence"), exponent_rows(outcomes)),
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.quality.confidence", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--data", type=Path, required=True, help="folder with translation.jsonl")
    parser.add_argument("--profile", default="embedded", help="the profile to load (default embedded)")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="Markdown report (default: %(default)s)"
    )
    parser.add_argument("--limit", type=int, help="only the first N items of each target language")
    parser.add_argument("--documents", type=int, default=3, help="sentences per document (1: none)")
    parser.add_argument("--concurrency", type=int, default=8, help="translations in flight (default 8)")
    parser.add_argument(
        "--figures", type=Path, help="also write each output's figures (no text) to this JSON Lines file"
    )
    args = parser.parse_args(argv)
    from service.logging_setup import configure_logging

    configure_logging("WARNING")
    text = measure(
        args.data,
        args.profile,
        limit=args.limit,
        documents=args.documents,
        concurrency=args.concurrency,
        figures=args.figures,
    )
    print(text)
    args.out.write_text(text, encoding="utf-8")
    print(f"written to {args.out}", file=sys.stderr)
    return 0


def measure(
    data: Path,
    profile: str,
    *,
    limit: int | None = None,
    documents: int = 3,
    concurrency: int = 8,
    figures: Path | None = None,
) -> str:
    """Load `profile`, run the evaluation on DATA/translation.jsonl, and return the Markdown report."""
    from service.config import settings_from_env
    from service.loader import build_pipeline

    items = load_translations(data / "translation.jsonl")
    if limit is not None:
        kept: dict[str, int] = defaultdict(int)
        selected = []
        for item in items:
            if kept[item.target_language] < limit:
                kept[item.target_language] += 1
                selected.append(item)
        items = selected
    settings = settings_from_env(profile=profile, warmup=False)
    started = time.perf_counter()
    pipeline = build_pipeline(settings)
    pipeline.warmup()

    def progress(message: str) -> None:
        print(f"[confidence {profile}] {message}", file=sys.stderr, flush=True)

    outcomes = evaluate(pipeline, items, document_size=documents, concurrency=concurrency, progress=progress)
    if figures is not None:
        figures.write_text("".join(json.dumps(figures_of(o)) + "\n" for o in outcomes), encoding="utf-8")
    return render(
        outcomes,
        profile=profile,
        data=str(data),
        seconds=time.perf_counter() - started,
        attempts=settings.max_repair_attempts,
    )


if __name__ == "__main__":
    raise SystemExit(main())
