"""The extractive summarizer's news-aware ranking: position and centrality, redundancy, offsets,
and the options a profile may set."""

from __future__ import annotations

import pytest

from service.errors import ModelLoadError
from service.models.base import GenerationParams, ModelSpec
from service.models.extractive import ExtractiveSummarizer, RankingOptions, pick_sentences, rank_sentences
from service.text.sentences import split_sentences


def summarizer(**options: object) -> ExtractiveSummarizer:
    return ExtractiveSummarizer(ModelSpec(name="textrank", backend="extractive", options=options))


def summarize(text: str, count: int = 2, language: str = "en", **options: object) -> list[str]:
    summary = summarizer(**options).summarize(text, language, GenerationParams(max_sentences=count))
    return [text[span.start : span.end] for span in summary.spans]


# A news story: the lead says what happened; the body repeats its terms.
LEAD_STORY = (
    "Flooding forced the evacuation of three villages along the Severn river on Sunday. "
    "Emergency crews moved four hundred residents from Upton, Hanley and Ripple to shelters in Worcester. "
    "River levels at Upton reached seven metres, the highest since records began in 1947. "
    "Forecasters expect more rain across the Severn valley until Wednesday. "
    "Volunteers filled sandbags outside the town hall in Worcester. "
    "Residents of Upton said the flooding came faster than in previous winters. "
    "The council said shelters in Worcester would stay open all week. "
    "Insurers have sent assessors to the villages along the Severn."
)


def test_a_news_lead_is_kept():
    picked = summarize(LEAD_STORY, 2)
    assert picked[0].startswith("Flooding forced the evacuation")


def test_position_bias_can_be_turned_off_and_up():
    sentences = split_sentences(LEAD_STORY, "en")
    by_position = rank_sentences(sentences, RankingOptions(position_weight=1.0, length_penalty=0.0))
    by_centrality = rank_sentences(sentences, RankingOptions(position_weight=0.0, length_penalty=0.0))
    # With the position alone, relevance falls (or stays level) from the first sentence on.
    assert by_position[0] == by_position.max()
    assert by_position[0] > by_position[-1]
    # Centrality alone does not follow the order of the article.
    assert list(by_centrality) != sorted(by_centrality, reverse=True)
    default = rank_sentences(sentences)
    assert default[0] == default.max()


def test_an_opening_unconnected_to_the_article_loses_its_head_start():
    # A feature's anecdote first; the news, told in the article's recurring terms, after it.
    text = (
        "Every morning Margaret opens her shutters at dawn and feeds the sparrows on her windowsill. "
        "Electricity prices for bakeries tripled this winter, and electricity bills now exceed rents. "
        "Fourteen bakeries closed this year because of electricity prices, the bakers' federation said. "
        "The government announced emergency support for bakeries facing electricity prices on Tuesday. "
        "Bakeries welcomed the support but said electricity prices must be capped."
    )
    picked = summarize(text, 2)
    assert not any(p.startswith("Every morning") for p in picked)
    assert any("tripled" in p or "Fourteen" in p or "government" in p for p in picked)


def test_a_sentence_that_repeats_a_picked_one_is_passed_over():
    repeated = "The central bank raised its main interest rate to four percent on Thursday."
    text = (
        f"{repeated} "
        "The central bank raised the main interest rate to four percent on Thursday, officials said. "
        "Markets had expected the decision after inflation reached six percent in March. "
        "Mortgage lenders said they would pass the increase on to borrowers within weeks."
    )
    sentences = split_sentences(text, "en")
    chosen = pick_sentences(sentences, 2)
    assert 0 in chosen and 1 not in chosen  # the restatement is skipped for a new fact
    # Ranked by position alone, the restatement comes second: only the redundancy check skips it.
    by_position = RankingOptions(position_weight=1.0, length_penalty=0.0)
    assert pick_sentences(sentences, 2, by_position) == [0, 2]
    assert pick_sentences(
        sentences, 2, RankingOptions(position_weight=1.0, length_penalty=0.0, max_overlap=1.0)
    ) == [
        0,
        1,
    ]


def test_repeats_fill_the_summary_when_nothing_else_is_left():
    text = "Rain fell on the city today. Rain fell on the city today again. Rain fell on the city."
    assert len(summarize(text, 3)) == 3


def test_short_fragments_are_not_picked_while_full_sentences_remain():
    text = (
        "By staff reporter. "
        "Parliament passed the new housing law on Friday after a debate of eleven hours. "
        "The housing law caps rents for five years in cities with more than a million residents. "
        "Opposition parties said the housing law would discourage new building."
    )
    picked = summarize(text, 2)
    assert "By staff reporter." not in picked and len(picked) == 2


@pytest.mark.parametrize("language", ["en", "zh", "fr"])
def test_offsets_index_the_submitted_text(language):
    texts = {
        "en": "\n\n  " + LEAD_STORY.replace(". ", ".\n\n", 2),
        "zh": "  合肥市政府周一发布了新一轮轨道交通建设规划。规划包括五条新线路，总长一百六十公里。"
        "市民对规划表示欢迎。专家认为规划将缓解交通拥堵。",
        "fr": "Les dockers de Saint-Nazaire ont prolongé la grève jusqu'à vendredi.  Le port est bloqué "
        "depuis lundi et les navires attendent au large. Les syndicats réclament une hausse des salaires "
        "de cinq pour cent. La direction du port propose deux pour cent.",
    }
    text = texts[language]
    summary = summarizer().summarize(text, language, GenerationParams(max_sentences=2))
    assert len(summary.spans) == 2
    starts = [span.start for span in summary.spans]
    assert starts == sorted(starts)  # in article order
    for span in summary.spans:
        piece = text[span.start : span.end]
        assert piece and piece == piece.strip() and piece in summary.text


def test_the_defaults_and_valid_options():
    assert summarizer().options == RankingOptions()
    options = summarizer(position_weight=0, position_halflife=3, max_overlap=0.7, min_terms=2).options
    assert options == RankingOptions(position_weight=0.0, position_halflife=3.0, max_overlap=0.7, min_terms=2)
    assert summarizer(runtime="numpy").options == RankingOptions()  # a key every spec may carry


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"lead_bias": 0.5}, r"unknown extractive options \['lead_bias'\]"),
        ({"position_weight": 1.5}, "position_weight must be 0.0..1.0"),
        ({"position_weight": -0.1}, "position_weight must be 0.0..1.0"),
        ({"position_halflife": 0}, "position_halflife must be"),
        ({"max_overlap": "high"}, "max_overlap must be a number"),
        ({"min_terms": 2.5}, "min_terms must be an integer"),
        ({"length_penalty": True}, "length_penalty must be a number"),
    ],
)
def test_bad_options_are_refused_when_the_model_loads(options, message):
    with pytest.raises(ModelLoadError, match=message):
        summarizer(**options)
