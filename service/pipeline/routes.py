"""The route table: how a text gets from one language to another, and who summarizes each language.

Built once, when the pipeline is built, from the models' descriptions: the models are fixed once
loaded, so no request recomputes a route. For each pair of the profile's languages a route is one
translator that covers the pair, or two through English (the pivot) when one takes the source
into English and one takes English into the target. The first model listed wins. A translator
covers the pairs its description lists (`translation_pairs`) for which `translates()` agrees.

For each source language the table also knows how its abstractive summary is made: by the first
summarizer that reads it, or else in English, after translating the article there.

Besides the route it takes, a pair may have alternatives, for a second opinion when a translation
fails its checks: the other translators that cover the pair, then the pivot through English
(when the route is direct and neither language is English).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from service.models.base import MultiTargetTranslator, Summarizer, Translator

PIVOT = "en"


@dataclass(frozen=True)
class Hop:
    """One translator call on the way: `source` into `target`."""

    translator: Translator
    source: str
    target: str


@dataclass(frozen=True)
class Route:
    """How a text goes from `source` to `target`: one hop, or two through English."""

    source: str
    target: str
    hops: tuple[Hop, ...]
    # The translator when it is a single hop by a model that takes several targets in one call.
    multi_target: MultiTargetTranslator | None = None

    @property
    def translators(self) -> tuple[Translator, ...]:
        return tuple(hop.translator for hop in self.hops)

    @property
    def model_names(self) -> tuple[str, ...]:
        return tuple(hop.translator.name for hop in self.hops)


@dataclass(frozen=True)
class SummaryRoute:
    """How an abstractive summary of one source language is made."""

    summarizer: Summarizer
    language: str  # the summary's language: the source's own, or English when pivoting
    pivot: Route | None = None  # source -> English, when the summarizer cannot read the source


@dataclass(frozen=True)
class TranslationBatch:
    """Routes out of one language translated together: in one call when `translator` is set."""

    routes: tuple[Route, ...]
    translator: MultiTargetTranslator | None = None

    @property
    def source(self) -> str:
        return self.routes[0].source

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(route.target for route in self.routes)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models the batch goes through, each named once."""
        if self.translator is not None:
            return (self.translator.name,)
        return tuple(dict.fromkeys(name for route in self.routes for name in route.model_names))


def batches(routes: Sequence[Route]) -> list[TranslationBatch]:
    """Targets a single multi-target model covers directly go in one batch; the rest one by one.

    The batches of multi-target models come first, in the order of their first target.
    """
    grouped: dict[int, list[Route]] = {}
    models: dict[int, MultiTargetTranslator] = {}
    singles: list[TranslationBatch] = []
    for route in routes:
        if route.multi_target is None:
            singles.append(TranslationBatch((route,)))
            continue
        grouped.setdefault(id(route.multi_target), []).append(route)
        models[id(route.multi_target)] = route.multi_target
    return [TranslationBatch(tuple(group), models[key]) for key, group in grouped.items()] + singles


class RouteTable:
    """Every route between the profile's languages, and every source language's summary route."""

    def __init__(self, summarizers: Sequence[Summarizer], translators: Sequence[Translator]) -> None:
        pairs = [(t, t.describe().translation_pairs) for t in translators]
        languages: set[str] = set()
        for summarizer in summarizers:
            languages.update(summarizer.describe().summary_languages)
        for _, translator_pairs in pairs:
            for source, target in translator_pairs:
                languages.update((source, target))
        #: Every language accepted as a source or a target.
        self.languages = frozenset(languages)
        self._routes = _direct_routes(pairs)
        self._alternatives = self._other_routes(pairs)
        for source in self.languages:
            for target in self.languages:
                pivoted = self._pivot_route(source, target)
                if pivoted is not None:
                    self._routes[(source, target)] = pivoted
        self._summary_routes = {
            language: summary
            for language in self.languages
            if (summary := self._summary_route(language, summarizers)) is not None
        }

    def route(self, source: str, target: str) -> Route | None:
        """The route from `source` to `target`, or None when the profile has none."""
        return self._routes.get((source, target))

    def alternatives(self, source: str, target: str) -> tuple[Route, ...]:
        """Other ways from `source` to `target` than `route()`: other translators, then the pivot."""
        return self._alternatives.get((source, target), ())

    def summary_route(self, source: str) -> SummaryRoute | None:
        """How an abstractive summary of `source` text is made, or None when it cannot be."""
        return self._summary_routes.get(source)

    def _pivot_route(self, source: str, target: str) -> Route | None:
        if source == target or PIVOT in (source, target) or (source, target) in self._routes:
            return None
        first = self._routes.get((source, PIVOT))
        second = self._routes.get((PIVOT, target))
        if first is None or second is None:
            return None
        return Route(source, target, (*first.hops, *second.hops))

    def _other_routes(
        self, pairs: Sequence[tuple[Translator, tuple[tuple[str, str], ...]]]
    ) -> dict[tuple[str, str], tuple[Route, ...]]:
        """For each direct route: the other translators of its pair, then the pivot through English."""
        others: dict[tuple[str, str], list[Route]] = {}
        for translator, translator_pairs in pairs:
            for source, target in translator_pairs:
                chosen = self._routes.get((source, target))
                if chosen is None or chosen.translators == (translator,):
                    continue
                if not translator.translates(source, target):
                    continue
                others.setdefault((source, target), []).append(
                    Route(source, target, (Hop(translator, source, target),))
                )
        for source, target in self._routes:
            if PIVOT in (source, target):
                continue
            first, second = self._routes.get((source, PIVOT)), self._routes.get((PIVOT, target))
            if first is not None and second is not None:
                others.setdefault((source, target), []).append(
                    Route(source, target, (*first.hops, *second.hops))
                )
        return {pair: tuple(routes) for pair, routes in others.items()}

    def _summary_route(self, source: str, summarizers: Sequence[Summarizer]) -> SummaryRoute | None:
        own = _first_summarizer(summarizers, source)
        if own is not None:
            return SummaryRoute(own, source)
        english = _first_summarizer(summarizers, PIVOT)
        into_english = self._routes.get((source, PIVOT))
        if english is None or into_english is None:
            return None
        return SummaryRoute(english, PIVOT, into_english)


def _direct_routes(
    pairs: Sequence[tuple[Translator, tuple[tuple[str, str], ...]]],
) -> dict[tuple[str, str], Route]:
    """One hop for each pair some translator covers: the first such translator listed."""
    routes: dict[tuple[str, str], Route] = {}
    for translator, translator_pairs in pairs:
        multi = translator if isinstance(translator, MultiTargetTranslator) else None
        for source, target in translator_pairs:
            if (source, target) not in routes and translator.translates(source, target):
                routes[(source, target)] = Route(source, target, (Hop(translator, source, target),), multi)
    return routes


def _first_summarizer(summarizers: Sequence[Summarizer], language: str) -> Summarizer | None:
    return next((s for s in summarizers if s.summarizes(language)), None)
