"""HTML articles to plain text, read as a person reads them.

`article_text` keeps a page's main content only: trafilatura tells the article from the page
furniture around it (navigation, headers, footers, cookie banners, related links, comments).
When it finds no main content (a fragment, or a page it cannot read), the whole page is used
without its markup (`html_to_text`): markup, scripts and styles are dropped either way. Both keep
block boundaries as paragraph breaks, so that sentences never run across a heading.
"""

from __future__ import annotations

import logging
import re
from functools import cache
from html.parser import HTMLParser
from typing import Any

_BLOCK = frozenset(
    "address article aside blockquote br dd div dl dt figcaption footer h1 h2 h3 h4 h5 h6 header hr li "
    "main nav ol p pre section table td th tr ul title".split()
)
_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "head"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def html_to_text(markup: str) -> str:
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r"[ \t\r\f\v]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def article_text(markup: str) -> str:
    """The page's main content as plain text; the whole page without markup when none is found."""
    main = main_content(markup)
    return main if main else html_to_text(markup)


def main_content(markup: str) -> str:
    """The main content trafilatura finds in the page, paragraphs apart; empty when it finds none."""
    extracted = _trafilatura().extract(
        markup,
        output_format="txt",
        include_comments=False,
        include_tables=True,
        include_links=False,
        favor_precision=True,
        with_metadata=False,
    )
    if not extracted:
        return ""
    # One line per block in trafilatura's output; a blank line between blocks here, as html_to_text does.
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in extracted.splitlines()]
    return "\n\n".join(line for line in lines if line)


@cache
def _trafilatura() -> Any:
    """Imported on first use: it takes about a second. Its log lines about pages it cannot read are
    dropped, since the fallback handles those pages."""
    import trafilatura

    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    return trafilatura
