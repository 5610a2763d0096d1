"""The results as tables: aligned plain text for the terminal, Markdown for bench/out/, and the
per-language sections of bench/QUALITY.md."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from statistics import fmean

from bench.quality.metrics import Rouge
from bench.quality.runner import CaseResult, OutputEvidence, ProfileReport

SUMMARY_COLUMNS = (
    "profile",
    "case",
    "lang",
    "Abs R1",
    "Abs R2",
    "Abs RL",
    "Ext R1",
    "Ext R2",
    "Ext RL",
    "Lead3 R1",
    "Lead3 R2",
    "Lead3 RL",
    "Tr chrF",
    "Tr BLEU",
    "XSum chrF",
    "time s",
)
_TEXT_COLUMNS = 3  # the first columns are text, left-aligned; the rest are numbers
PAIR_COLUMNS = ("profile", "pair", "texts", "chrF", "BLEU")

Cell = float | None


def _rouge_cells(score: Rouge | None) -> list[Cell]:
    return [None] * 3 if score is None else [score.r1, score.r2, score.rl]


def _numbers(result: CaseResult) -> list[Cell]:
    return [
        *_rouge_cells(result.abstractive),
        *_rouge_cells(result.extractive),
        *_rouge_cells(result.lead3),
        result.translation_chrf,
        result.translation_bleu,
        result.summary_translation_chrf,
        result.seconds,
    ]


def _average(rows: Sequence[Sequence[Cell]]) -> list[Cell]:
    """Column means over the rows that have a value; the last column (time) is a total."""
    columns = list(zip(*rows, strict=True))
    out: list[Cell] = []
    for column in columns[:-1]:
        values = [v for v in column if v is not None]
        out.append(fmean(values) if values else None)
    out.append(sum(v for v in columns[-1] if v is not None))
    return out


def _format(cell: Cell) -> str:
    return "-" if cell is None else f"{cell:.1f}"


def summary_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    """One row per profile and case, then each profile's average row."""
    rows: list[list[str]] = []
    for report in reports:
        numbers = [_numbers(r) for r in report.results]
        for result, cells in zip(report.results, numbers, strict=True):
            flag = " *" if result.errors else ""
            rows.append([report.profile, result.case_id + flag, result.language, *map(_format, cells)])
        if numbers:
            rows.append(
                [report.profile, f"average ({len(numbers)} cases)", "", *map(_format, _average(numbers))]
            )
    return rows


def pair_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    return [
        [
            report.profile,
            f"{source}->{score.language}",
            str(score.count),
            _format(score.chrf),
            _format(score.bleu),
        ]
        for report in reports
        for source, score in report.pair_scores()
    ]


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 2) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i < text_columns else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in rows)])


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 2) -> str:
    align = ["---" if i < text_columns else "---:" for i in range(len(header))]
    lines = [header, align, *rows]
    return "\n".join("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in lines)


LEGEND = (
    "Abs: the service's abstractive summary; Ext: its extractive summary; Lead3: the article's "
    "first three sentences (a headline counts as one). R1/R2/RL: ROUGE-1/2/L F1 (x100) against the "
    "case's references, on Unicode words (English: rouge-score's tokenizer with stemming; zh/ja/th: "
    "characters). Tr: the case's sentences translated by the service, corpus chrF and BLEU (x100) "
    "per target language, averaged. XSum: the summary asked for in another language, chrF against "
    "a reference summary in that language. time s: seconds the case's calls took (in the average "
    "row, their total). -: not measured. *: a call failed (see the notes)."
)


EVIDENCE_COLUMNS = ("profile", "output", "lang", "outputs", "issues /100", "repaired", "mean confidence")


def evidence_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    """Per profile, kind of output and language: what the service reported about its outputs."""
    rows: list[list[str]] = []
    for report in reports:
        groups: dict[tuple[str, str], list[OutputEvidence]] = {}
        for item in report.evidence():
            groups.setdefault((item.what, item.language), []).append(item)
        for (what, language), items in sorted(groups.items()):
            issues = sum(len(i.issues) for i in items)
            rows.append(
                [
                    report.profile,
                    what,
                    language,
                    str(len(items)),
                    f"{100 * issues / len(items):.0f}",
                    str(sum(i.repaired for i in items)),
                    f"{fmean(i.confidence for i in items):.2f}",
                ]
            )
    return rows


def render_text(reports: Sequence[ProfileReport]) -> str:
    parts = [text_table(SUMMARY_COLUMNS, summary_rows(reports), _TEXT_COLUMNS)]
    pairs = pair_rows(reports)
    if pairs:
        parts.append(text_table(PAIR_COLUMNS, pairs))
    evidence = evidence_rows(reports)
    if evidence:
        parts.append(text_table(EVIDENCE_COLUMNS, evidence, 3))
    notes = [f"[{r.profile}] {n}" for r in reports for n in _notes(r)]
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts)


def _notes(report: ProfileReport) -> list[str]:
    out = [f"{r.case_id}: {note}" for r in report.results for note in r.notes]
    out += [f"{r.case_id}: FAILED {error}" for r in report.results for error in r.errors]
    return out


def render_markdown(report: ProfileReport, *, cases_folder: str, command: str) -> str:
    options = report.options
    lines = [
        f"# Summary and translation quality: profile `{report.profile}`",
        "",
        f"`{command}`",
        "",
        f"- cases: `{cases_folder}` ({len(report.results)} run)",
        f"- abstractive length preset: {options.length}; extractive sentences: "
        f"{options.extractive_sentences}; pivot summaries: {'yes' if options.pivot else 'no'}",
        f"- server ready after {report.startup_s:.1f} s; cases took {report.seconds:.1f} s",
        "",
        markdown_table(SUMMARY_COLUMNS, summary_rows([report]), _TEXT_COLUMNS),
        "",
        LEGEND,
        "",
    ]
    pairs = pair_rows([report])
    if pairs:
        lines += ["## Translations by language pair", "", markdown_table(PAIR_COLUMNS, pairs), ""]
    evidence = evidence_rows([report])
    if evidence:
        lines += [
            "## What the service said about its outputs",
            "",
            "Per output kind and language: the integrity issues the service reported on its outputs "
            "(per 100 outputs), the outputs it repaired, and their mean confidence.",
            "",
            markdown_table(EVIDENCE_COLUMNS, evidence, 3),
            "",
        ]
    notes = _notes(report)
    if notes:
        lines += ["## Notes", "", *(f"- {n}" for n in notes), ""]
    lines += ["## What the service wrote", ""]
    for result in report.results:
        lines += [f"### {result.case_id} ({result.language})", ""]
        for kind, text in result.outputs.items():
            lines += [f"**{kind}**", "", *(f"> {line}" for line in text.splitlines() or [""]), ""]
    return "\n".join(lines).rstrip() + "\n"


# -- per-language report (bench/QUALITY.md) ------------------------------------------------------

LANGUAGE_COLUMNS = (
    "profile",
    "source",
    "lang",
    "n",
    "Abs R1",
    "Abs R2",
    "Abs RL",
    "Ext R1",
    "Ext R2",
    "Ext RL",
    "Lead3 R1",
    "Lead3 R2",
    "Lead3 RL",
    "Abs chars",
    "Abs words",
    "Ext chars",
    "Ext words",
    "Ref chars",
    "Ref words",
    "Abs s/item",
    "Ext s/item",
)
_LANGUAGE_TEXT_COLUMNS = 3
TRANSLATION_COLUMNS = ("profile", "pair", "n", "chrF", "BLEU", "s/item")
LANGUAGE_LEGEND = (
    "Per article language, means over the articles of each source (data: the external data "
    "folder; cases: bench/cases). n: articles. Abs/Ext: the service's abstractive and extractive "
    "summaries; Lead3: the article's first three sentences as the service's sentence splitter cuts "
    "them. R1/R2/RL: ROUGE F1 x100. chars/words: mean summary length (words as ROUGE counts them; "
    "characters for zh/ja/th); Ref: the references'. s/item: seconds per article of that call. "
    "Translations: corpus chrF and BLEU over the data's sentences, seconds per sentence. "
    "-: not measured (a profile that summarizes the language only through English skips it)."
)


def _mean(values: Sequence[float | None]) -> Cell:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None


def language_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    """One row per profile, source and article language: mean ROUGE, lengths and time."""
    rows: list[list[str]] = []
    for report in reports:
        groups: dict[tuple[str, str], list[CaseResult]] = {}
        for result in report.results:
            groups.setdefault((result.source, result.language), []).append(result)
        for (source, language), results in sorted(groups.items()):
            cells: list[Cell] = []
            for kind in ("abstractive", "extractive", "lead3"):
                scores = [getattr(r, kind) for r in results]
                for part in ("r1", "r2", "rl"):
                    cells.append(_mean([getattr(s, part) if s is not None else None for s in scores]))
            for kind in ("abstractive", "extractive"):
                lengths = [r.length(kind) for r in results]
                cells.append(_mean([x.chars if x else None for x in lengths]))
                cells.append(_mean([x.words if x else None for x in lengths]))
            references = [r.reference_length for r in results]
            cells.append(_mean([x.chars if x else None for x in references]))
            cells.append(_mean([x.words if x else None for x in references]))
            for kind in ("abstractive", "extractive"):
                cells.append(_mean([r.call_seconds.get(kind) for r in results]))
            rows.append([report.profile, source, language, str(len(results)), *map(_format, cells)])
    return rows


def translation_rows(reports: Sequence[ProfileReport]) -> list[list[str]]:
    rows: list[list[str]] = []
    for report in reports:
        data = report.data_translations
        if data is None:
            continue
        for score in data.scores():
            source = next(i.source_language for i in data.items if i.language == score.language)
            rows.append(
                [
                    report.profile,
                    f"{source}->{score.language}",
                    str(score.count),
                    _format(score.chrf),
                    _format(score.bleu),
                    _format(data.seconds_per_item(score.language)),
                ]
            )
    return rows


def _data_notes(report: ProfileReport) -> list[str]:
    data = report.data_translations
    if data is None:
        return []
    return [*data.notes, *(f"FAILED {e}" for e in data.errors)]


def render_language_text(reports: Sequence[ProfileReport]) -> str:
    parts = [text_table(LANGUAGE_COLUMNS, language_rows(reports), _LANGUAGE_TEXT_COLUMNS)]
    translations = translation_rows(reports)
    if translations:
        parts.append(text_table(TRANSLATION_COLUMNS, translations))
    notes = [f"[{r.profile}] data: {n}" for r in reports for n in _data_notes(r)]
    if notes:
        parts.append("\n".join(notes))
    return "\n\n".join(parts)


def render_quality_block(report: ProfileReport, *, data_folder: str, command: str, machine: str) -> str:
    """The profile's section of bench/QUALITY.md: per-language tables and how they were made."""
    lines = [
        f"### Profile `{report.profile}`",
        "",
        f"`{command}`",
        "",
        f"- {machine}",
        f"- data: `{data_folder}`; abstractive length preset: {report.options.length}; extractive "
        f"sentences: {report.options.extractive_sentences}",
        f"- server ready after {report.startup_s:.1f} s; the evaluation took {report.seconds:.0f} s",
        "",
        markdown_table(LANGUAGE_COLUMNS, language_rows([report]), _LANGUAGE_TEXT_COLUMNS),
        "",
    ]
    translations = translation_rows([report])
    if translations:
        lines += [markdown_table(TRANSLATION_COLUMNS, translations), ""]
    notes = [f"data: {n}" for n in _data_notes(report)] + _notes(report)
    if notes:
        lines += ["Notes:", "", *(f"- {n}" for n in notes), ""]
    return "\n".join(lines).rstrip() + "\n"


def _markers(profile: str) -> tuple[str, str]:
    return f"<!-- eval {profile} begin -->", f"<!-- eval {profile} end -->"


_LEVERS_HEADING = "\n## Levers"  # hand-written sections start here; profile sections go above
QUALITY_HEADER = """# Quality on news with human references

Written by `make eval` (`python -m bench.quality --data DIR`): each profile's section below is
replaced by its latest run; the rest of this file is kept as written.

"""


def update_quality_file(path: Path, profile: str, block: str) -> None:
    """Replace the profile's section of `path` (between its markers) with `block`, or add it."""
    begin, end = _markers(profile)
    text = path.read_text(encoding="utf-8") if path.exists() else QUALITY_HEADER
    section = f"{begin}\n{block.rstrip()}\n{end}"
    start = text.find(begin)
    stop = text.find(end, start + 1) if start >= 0 else -1
    if start >= 0 and stop >= 0:
        text = text[:start] + section + text[stop + len(end) :]
    else:
        anchor = text.find(_LEVERS_HEADING)
        if anchor >= 0:  # new profiles go before the hand-written sections
            text = text[:anchor] + section + "\n\n" + text[anchor:]
        else:
            text = text.rstrip() + "\n\n" + section + "\n"
    path.write_text(text, encoding="utf-8")
