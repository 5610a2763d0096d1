"""Checking a translation before it is returned, and repairing what the checks flag.

A translation that fails a check is not returned as is if something better can be had cheaply.
The sentences the findings point at are translated again, each alone: first through the same
route, then through each alternative route of the pair (another translator, or the pivot through
English). Each sentence keeps the better candidate by the checks (`service.checks.pick_better`),
and the rebuilt text replaces the first one only if the checks on the whole text prefer it too.
What no attempt fixes stays in the findings: a repair never hides a problem, it only removes the
ones it fixed.

Which sentences: when source and output split into as many sentences, they are paired in order,
and a finding marks the sentence its span falls in (in the output, or in the source for what the
output lacks); a finding about the whole text marks them all. When the counts differ (a sentence
was dropped or merged), there is nothing to pair: every source sentence is translated alone and
the pieces joined. A one-sentence source through the same route would only be the same input
again, which a model decodes the same way, so that attempt is skipped.

A summary is translated sentence by sentence already (`checked_sentences`): sentence i of the
translation is paired with sentence i of the summary whatever the counts, the flagged ones go
through the other routes only (each went alone through its own route the first time), and the
repaired translation keeps that pairing, so its sentences still carry their sources.

The work is bounded: at most `max_attempts` model calls (one per route, each carrying every
sentence still to repair) per output, and the caller's stop signal is checked before each.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from service.checks import CheckedText, Finding, check_translation, pick_better
from service.checks.script import sentences
from service.models.base import GenerationParams
from service.pipeline.evidence import CheckedOutput, ScoredText, evidence_of, joined_log_prob
from service.pipeline.routes import Route, RouteTable
from service.pipeline.stopping import check_stop
from service.pipeline.translate import translate_each
from service.text.detect import LanguageDetector
from service.text.scripts import joiner
from service.text.sentences import Sentence

log = logging.getLogger(__name__)


@dataclass
class _Piece:
    """One sentence of the translation being rebuilt: its source sentence, and its best translation
    so far with that translation's findings (None until an attempt translates it)."""

    source: str
    text: ScoredText | None = None
    findings: tuple[Finding, ...] = ()
    route: Route | None = None  # the route that wrote `text`; None for the first translation

    @property
    def needs_work(self) -> bool:
        return self.text is None or bool(self.findings)

    def offer(self, text: ScoredText, findings: tuple[Finding, ...], route: Route) -> None:
        """Keep `text` if the checks prefer it to what the piece has (anything beats nothing)."""
        if self.text is not None:
            kept = CheckedText(self.text.text, self.findings)
            if pick_better(kept, CheckedText(text.text, findings)) is kept:
                return
        self.text, self.findings, self.route = text, findings, route


class TranslationChecker:
    """Checks translations against their sources and repairs the flagged sentences, within a budget."""

    def __init__(self, routes: RouteTable, detector: LanguageDetector | None, max_attempts: int) -> None:
        self.routes = routes
        self.detector = detector
        self.max_attempts = max_attempts

    def check(self, source: str, output: str, route: Route) -> tuple[Finding, ...]:
        return tuple(check_translation(source, output, route.source, route.target, detector=self.detector))

    def checked(
        self, source: str, first: ScoredText, route: Route, params: GenerationParams
    ) -> CheckedOutput:
        """`first`, a translation of `source` along `route`, with its evidence; repaired if it can be."""
        findings = self.check(source, first.text, route)
        if not findings or self.max_attempts < 1:
            return CheckedOutput(first.text, evidence_of(findings, first.log_prob))
        source_sentences = sentences(source, route.source)
        if not source_sentences:
            return CheckedOutput(first.text, evidence_of(findings, first.log_prob))
        output_sentences = sentences(first.text, route.target)
        pieces = [_Piece(s.text) for s in source_sentences]
        paired = len(source_sentences) == len(output_sentences)
        if paired:
            firsts = [ScoredText(s.text, first.log_prob) for s in output_sentences]
            self._mark(pieces, firsts, findings, source_sentences, output_sentences, len(first.text), route)
        # else nothing to pair with: every source sentence is translated again.
        # The same input through the same route would come out the same: the whole source as one sentence.
        same_route = [piece.source for piece in pieces if piece.needs_work] != [source.strip()]
        attempts = self._attempt(pieces, route, params, same_route=same_route)
        if attempts == 0 or any(piece.text is None for piece in pieces):
            return CheckedOutput(first.text, evidence_of(findings, first.log_prob, attempts=attempts))
        if paired:
            rebuilt = _replaced(first.text, output_sentences, pieces)
        else:
            rebuilt = _joined(source, source_sentences, pieces, route.target)
        return self._outcome(source, first, findings, rebuilt, pieces, route, attempts)

    def checked_sentences(
        self,
        source: str,
        source_sentences: Sequence[str],
        firsts: Sequence[ScoredText],
        route: Route,
        params: GenerationParams,
    ) -> CheckedOutput:
        """A text translated sentence by sentence, checked as a whole, and repaired sentence by sentence.

        `firsts[i]` translates `source_sentences[i]`, the sentences of `source` in order, each
        translated alone already: a repair tries the other routes of the pair only. The output's
        `sentences` keep that pairing, repaired sentences in place.
        """
        first = ScoredText(join_sentences([f.text for f in firsts], route.target), joined_log_prob(firsts))
        as_given = tuple(f.text.strip() for f in firsts)
        findings = self.check(source, first.text, route)
        if not findings or self.max_attempts < 1 or not source_sentences:
            return CheckedOutput(first.text, evidence_of(findings, first.log_prob), sentences=as_given)
        pieces = [_Piece(text) for text in source_sentences]
        self._mark(
            pieces,
            firsts,
            findings,
            _located(source, source_sentences),
            _located(first.text, as_given),
            len(first.text),
            route,
        )
        attempts = self._attempt(pieces, route, params, same_route=False)
        if attempts == 0:
            return CheckedOutput(
                first.text, evidence_of(findings, first.log_prob, attempts=attempts), sentences=as_given
            )
        texts = [piece.text for piece in pieces if piece.text is not None]
        rebuilt = ScoredText(join_sentences([t.text for t in texts], route.target), joined_log_prob(texts))
        outcome = self._outcome(source, first, findings, rebuilt, pieces, route, attempts)
        kept = tuple(t.text.strip() for t in texts) if outcome.evidence.repaired else as_given
        return dataclasses.replace(outcome, sentences=kept)

    def _mark(
        self,
        pieces: Sequence[_Piece],
        firsts: Sequence[ScoredText],
        findings: Sequence[Finding],
        source_sentences: Sequence[Sentence],
        output_sentences: Sequence[Sentence],
        output_length: int,
        route: Route,
    ) -> None:
        """Give each piece its first translation, and its own findings where the text's findings point."""
        flagged = _flagged(findings, source_sentences, output_sentences, output_length)
        for index, (piece, text) in enumerate(zip(pieces, firsts, strict=True)):
            piece.text = text
            if index in flagged:
                piece.findings = self.check(piece.source, text.text, route)

    def _attempt(
        self, pieces: Sequence[_Piece], route: Route, params: GenerationParams, *, same_route: bool
    ) -> int:
        """Translate the pieces that need it again, route by route, within the budget; the calls made."""
        routes = [route] if same_route else []
        routes += self.routes.alternatives(route.source, route.target)
        attempts = 0
        for attempt_route in routes:
            todo = [piece for piece in pieces if piece.needs_work]
            if not todo or attempts >= self.max_attempts:
                break
            check_stop(params.should_stop)
            attempts += 1
            fresh = translate_each([piece.source for piece in todo], attempt_route, params)
            for piece, text in zip(todo, fresh, strict=True):
                piece.offer(text, self.check(piece.source, text.text, attempt_route), attempt_route)
        return attempts

    def _outcome(
        self,
        source: str,
        first: ScoredText,
        findings: tuple[Finding, ...],
        rebuilt: ScoredText,
        pieces: Sequence[_Piece],
        route: Route,
        attempts: int,
    ) -> CheckedOutput:
        """The rebuilt translation when the checks on the whole text prefer it to `first`, else `first`."""
        unrepaired = CheckedOutput(first.text, evidence_of(findings, first.log_prob, attempts=attempts))
        if rebuilt.text == first.text:
            return unrepaired
        rebuilt_findings = self.check(source, rebuilt.text, route)
        first_checked = CheckedText(first.text, findings)
        if pick_better(first_checked, CheckedText(rebuilt.text, rebuilt_findings)) is first_checked:
            return unrepaired
        log.debug(
            "repaired a %s->%s translation in %d attempts: %d findings -> %d",
            route.source,
            route.target,
            attempts,
            len(findings),
            len(rebuilt_findings),
        )
        others = [p.route.model_names for p in pieces if p.route is not None and p.route is not route]
        models = tuple(dict.fromkeys(name for names in others for name in names))
        return CheckedOutput(
            rebuilt.text,
            evidence_of(rebuilt_findings, rebuilt.log_prob, repaired=True, attempts=attempts),
            models,
        )


def join_sentences(texts: Sequence[str], language: str) -> str:
    """Sentences translated one by one, as one text of `language` (blank ones left out)."""
    return joiner(language).join(t.strip() for t in texts if t.strip())


def _located(text: str, pieces: Sequence[str]) -> list[Sentence]:
    """Each piece where it lies in `text`, in order; an empty span where it is blank or not found."""
    located: list[Sentence] = []
    cursor = 0
    for piece in pieces:
        start = text.find(piece.strip(), cursor) if piece.strip() else -1
        if start < 0:
            located.append(Sentence("", cursor, cursor))
            continue
        cursor = start + len(piece.strip())
        located.append(Sentence(piece.strip(), start, cursor))
    return located


def _replaced(output: str, output_sentences: Sequence[Sentence], pieces: Sequence[_Piece]) -> ScoredText:
    """`output` with each repaired sentence put in place of the one it replaces; the rest as it was."""
    parts, cursor = [], 0
    for sentence, piece in zip(output_sentences, pieces, strict=True):
        assert piece.text is not None
        parts += [output[cursor : sentence.start], piece.text.text.strip() if piece.route else sentence.text]
        cursor = sentence.end
    parts.append(output[cursor:])
    return ScoredText("".join(parts), joined_log_prob([p.text for p in pieces if p.text is not None]))


def _joined(
    source: str, source_sentences: Sequence[Sentence], pieces: Sequence[_Piece], target: str
) -> ScoredText:
    """The sentences' translations joined as the source's sentences are: a line break where it has one."""
    texts = [piece.text for piece in pieces if piece.text is not None]
    parts = [texts[0].text.strip()]
    for before, after, text in zip(source_sentences, source_sentences[1:], texts[1:], strict=False):
        gap = source[before.end : after.start]
        parts += ["\n\n" if "\n\n" in gap else "\n" if "\n" in gap else joiner(target), text.text.strip()]
    return ScoredText("".join(parts), joined_log_prob(texts))


def _flagged(
    findings: Sequence[Finding],
    source_sentences: Sequence[Sentence],
    output_sentences: Sequence[Sentence],
    output_length: int,
) -> set[int]:
    """The indices of the sentence pairs the findings point at; all of them for a whole-text finding."""
    everything = set(range(len(source_sentences)))
    marked: set[int] = set()
    for finding in findings:
        if finding.span is None or (not finding.in_source and finding.span == (0, output_length)):
            return everything
        start, end = finding.span
        parts = source_sentences if finding.in_source else output_sentences
        marked.update(i for i, s in enumerate(parts) if s.start < end and start < s.end)
    return marked or everything
