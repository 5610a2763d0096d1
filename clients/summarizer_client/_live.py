"""The live terminal view of `summarizer-client summarize`: each language appears as it arrives.

Only for a terminal; piped output stays plain text, line by line (see cli.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.spinner import Spinner
from rich.text import Text

from .types import LanguageFailed, LanguageSummary, SourceLanguage, StreamEvent

# Frames a second; the spinner is the only thing that moves between two events.
_REFRESH_PER_S = 8


class SummaryBoard:
    """What the view shows: the source language, the languages done, the ones still awaited."""

    def __init__(self, targets: Sequence[str]) -> None:
        self.targets = list(targets)
        self.source: SourceLanguage | None = None
        self.done: list[LanguageSummary | LanguageFailed] = []
        self.finished = False

    def add(self, event: StreamEvent) -> None:
        if isinstance(event, SourceLanguage):
            self.source = event
        else:
            self.done.append(event)

    def awaited(self) -> list[str]:
        """Requested languages with no event yet (tags compared without case; the server normalises them)."""
        seen = {event.language.casefold() for event in self.done}
        return [tag for tag in self.targets if tag.casefold() not in seen]

    def __rich__(self) -> RenderableType:
        parts: list[RenderableType] = []
        if self.source is None:
            if not self.finished:
                parts.append(Spinner("dots", text=" detecting the language"))
            return Group(*parts)
        parts.append(_source_line(self.source))
        parts.extend(_panel(event) for event in self.done)
        if not self.finished:
            awaited = self.awaited()
            if awaited:
                parts.append(Spinner("dots", text=f" waiting for {', '.join(awaited)}"))
            elif not self.targets and not self.done:
                parts.append(Spinner("dots", text=" waiting for the summary"))
        return Group(*parts)


def show(console: Console, events: Iterable[StreamEvent], targets: Sequence[str]) -> None:
    """Draw the events as they come; the last frame, without spinners, stays on the screen."""
    board = SummaryBoard(targets)
    with Live(board, console=console, refresh_per_second=_REFRESH_PER_S, vertical_overflow="visible") as live:
        try:
            for event in events:
                board.add(event)
                live.refresh()
        finally:
            board.finished = True
            live.refresh()


def _source_line(source: SourceLanguage) -> RenderableType:
    how = "declared" if source.declared else f"detected, confidence {source.confidence:.2f}"
    line = Text.assemble(("source: ", "bold"), source.language, f" ({how})")
    lines: list[RenderableType] = [line]
    lines.extend(Text(f"warning: {warning}", style="yellow") for warning in source.warnings)
    return Group(*lines)


def _panel(event: LanguageSummary | LanguageFailed) -> Panel:
    if isinstance(event, LanguageFailed):
        failure = event.failure
        return Panel(
            Text(failure.message),
            title=f"{failure.language}: FAILED ({failure.code.name})",
            title_align="left",
            border_style="red",
        )
    summary = event.summary
    facts = []
    if summary.translated_from:
        facts.append(f"translated from {summary.translated_from}")
    facts.append(f"{summary.duration_ms / 1000:.1f} s")
    return Panel(
        Text(summary.text),
        title=f"{summary.language} ({', '.join(facts)})",
        title_align="left",
        subtitle=" -> ".join(summary.models) or None,
        subtitle_align="right",
        border_style="green",
    )
