"""HTML articles read as a person reads them: the main content without the page around it."""

from __future__ import annotations

from service.pipeline import LanguageSummary, Mode, SummarizeJob, SummaryOptions
from service.text.html import article_text, html_to_text, main_content
from tests.fakes import fake_pipeline

PARAGRAPHS = [
    "Dock workers in Marseille returned to work on Thursday after unions and port operators agreed on a "
    "new wage deal worth 4.5 percent over two years.",
    "The strike had halted container traffic at the port since Monday, leaving more than 40 ships waiting "
    "at anchor in the bay and delaying deliveries across southern France.",
    '"This agreement recognises the work our members do every day," said union leader Claire Dubois at a '
    "press conference in the port's main hall.",
    "Port director Jean Martin said operations would be back to normal by the weekend, and that the "
    "backlog of ships should clear within five days.",
]
FURNITURE = [
    "We use cookies to improve your experience",
    "Accept all cookies",
    "Home",
    "Business",
    "Sport",
    "Most read",
    "Celebrity wedding photos",
    "Ten recipes for summer",
    "All rights reserved",
    "Privacy policy",
    "Subscribe to our newsletter",
]


def news_page(*, semantic: bool) -> str:
    """A news page with a cookie banner, navigation, a sidebar and a footer around the article.

    `semantic`: the page marks them with <nav>, <aside>, <footer>; otherwise every part is a <div>.
    """
    nav, aside, footer, main = ("nav", "aside", "footer", "article") if semantic else ("div",) * 4
    body = "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
    return (
        "<!doctype html><html><head><title>Port strike ends</title>"
        "<style>.banner{position:fixed}</style><script>window.track = 'visitor-id';</script></head><body>"
        '<div id="cookie-banner" class="cookie-consent"><p>We use cookies to improve your experience. By '
        "continuing you accept our cookie policy.</p><button>Accept all cookies</button></div>"
        f'<{nav} class="menu"><ul><li><a href="/">Home</a></li><li><a href="/business">Business</a></li>'
        f'<li><a href="/sport">Sport</a></li></ul></{nav}>'
        f'<{main} class="story"><h1>Port strike ends after three days of talks</h1>{body}</{main}>'
        f'<{aside} class="sidebar"><h3>Most read</h3><ul><li><a href="/a">Celebrity wedding photos</a></li>'
        f'<li><a href="/b">Ten recipes for summer</a></li></ul></{aside}>'
        f'<{footer} class="footer"><p><a href="/newsletter">Subscribe to our newsletter</a></p>'
        "<p>© 2024 Example News Ltd. All rights reserved.</p>"
        f'<p><a href="/privacy">Privacy policy</a> | <a href="/terms">Terms</a></p></{footer}>'
        "</body></html>"
    )


def test_the_main_content_keeps_the_article_and_drops_the_page_around_it():
    for semantic in (True, False):
        text = article_text(news_page(semantic=semantic))
        assert all(paragraph in text for paragraph in PARAGRAPHS), semantic
        assert not [f for f in FURNITURE if f in text], semantic
        assert "visitor-id" not in text and "position" not in text and "<" not in text
        # Paragraphs stay apart, as the tag stripper keeps them, so sentences never run across them.
        assert "\n\n".join(PARAGRAPHS) in text


def test_the_tag_stripper_alone_would_keep_the_furniture():
    text = html_to_text(news_page(semantic=True))
    assert "Accept all cookies" in text and "Privacy policy" in text


def test_a_page_without_main_content_falls_back_to_the_tag_stripper():
    for page in (
        "<table><tr><td>Only a table cell with some words in it.</td></tr></table>",
        "<p>Short.</p>",
    ):
        assert main_content(page) == ""
        assert article_text(page) == html_to_text(page) != ""
    assert (
        article_text("Plain text sent as HTML, without a tag.") == "Plain text sent as HTML, without a tag."
    )
    assert article_text("<html><body><script>let x = 1;</script></body></html>") == ""


def test_an_html_article_is_summarized_from_its_main_content_and_spans_index_that_text():
    page = news_page(semantic=True)
    pipeline = fake_pipeline()
    options = SummaryOptions(mode=Mode.EXTRACTIVE, max_sentences=2)
    plan = pipeline.plan(SummarizeJob(page, is_html=True, options=options))
    assert plan.text == article_text(page)
    summary = list(pipeline.run(plan))[1]
    assert isinstance(summary, LanguageSummary) and len(summary.spans) == 2
    # Spans index the text after markup removal, as before, now the main content.
    assert " ".join(plan.text[s.start : s.end] for s in summary.spans) == summary.text
    assert [s.sources for s in summary.sentences] == [(span,) for span in summary.spans]
    assert not [f for f in FURNITURE if f in summary.text]
