"""The llm backend's prompts and the reading of its answers: prompt style per language, the summary's trim and
number guard, the translation instruction and the label clean-up."""

from __future__ import annotations

import pytest

from service.errors import ModelLoadError
from service.models.llm_prompts import (
    BRIEF,
    NEWS,
    clean_output,
    finish_summary,
    style_for,
    summarize_messages,
    summary_complete,
    summary_styles,
    translate_messages,
)

ARTICLE = (
    "The city council approved a budget of 1’250 million euros on Monday. "
    "It adds 40 buses to the fleet in 2025. Three tram lines will follow."
)


def instruction(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"].split("\n\n", 1)[0]


# -- prompt styles ---------------------------------------------------------------------------


def test_by_default_french_gets_the_brief_prompt_and_other_languages_the_news_prompt() -> None:
    styles = summary_styles(None, "m")
    assert style_for(styles, "fr") == BRIEF
    assert {style_for(styles, lang) for lang in ("en", "de", "zh", "ar")} == {NEWS}


def test_the_option_names_one_style_or_a_style_per_language() -> None:
    assert {style_for(summary_styles("news", "m"), lang) for lang in ("en", "fr")} == {NEWS}
    styles = summary_styles({"de": "brief", "*": "brief", "fr": "news"}, "m")
    assert (style_for(styles, "de"), style_for(styles, "fr"), style_for(styles, "es")) == (BRIEF, NEWS, BRIEF)
    # A table names only what it changes; the defaults hold for the rest.
    assert style_for(summary_styles({"en": "brief"}, "m"), "de") == NEWS


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("chatty", "model 'm': summary_prompt: unknown style 'chatty'; known: brief, news"),
        ({"fr": "long"}, "unknown style 'long' for 'fr'; known: brief, news"),
        ({"french": "news"}, "'french' is not a language tag the service speaks nor '\\*'"),
        (3, "must be a style name or a table of language -> style, got 3"),
    ],
)
def test_a_bad_summary_prompt_option_is_refused_by_name(value: object, message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        summary_styles(value, "m")


def test_the_news_prompt_follows_the_sentence_count() -> None:
    short = instruction(summarize_messages("Text.", "fr", 2, style=NEWS))
    assert "in French: two sentences, about 40 words in total" in short
    assert "the other one gives the most important details and figures" in short
    medium = instruction(summarize_messages("Text.", "de", 3, style=NEWS))
    assert "in German: three sentences, about 60 words" in medium and "the other two give" in medium
    assert "six sentences, about 120 words" in instruction(summarize_messages("Text.", "de", 6, style=NEWS))
    assert "one sentence, about 20 words, that says" in instruction(
        summarize_messages("T.", "fr", 1, style=NEWS)
    )


def test_the_brief_prompt_asks_for_at_most_the_sentence_count() -> None:
    brief = instruction(summarize_messages("Text.", "en", 3))
    assert brief.startswith("Summarize the following news article in English, in at most 3 sentences.")
    assert "news summary" not in brief


def test_the_article_comes_last_so_the_instruction_is_a_shared_prefix() -> None:
    for style in (BRIEF, NEWS):
        a, b = (summarize_messages(t, "fr", 3, style=style)[-1]["content"] for t in ("Alpha.", "Omega."))
        assert a.removesuffix("Alpha.") == b.removesuffix("Omega.")


# -- the summary's trim and guard ----------------------------------------------------------------


def test_the_summary_keeps_the_asked_number_of_sentences() -> None:
    answer = "The council approved a budget. It adds 40 buses. Three tram lines follow. The mayor spoke."
    assert (
        finish_summary(answer, ARTICLE, "en", 2, cut=False)
        == "The council approved a budget. It adds 40 buses."
    )
    assert finish_summary(answer, ARTICLE, "en", 3, cut=False).endswith("Three tram lines follow.")


def test_an_answer_is_complete_once_it_has_begun_the_sentence_after_the_last_kept() -> None:
    complete = summary_complete("en", 2)
    assert not complete("The council approved a budget. It adds 40 buses.")
    assert not complete("The council approved a budget. It adds 40 buses. Th")  # a few letters: maybe "Th."
    assert complete("The council approved a budget. It adds 40 buses. Three tram lines")
    # A full stop inside a number or an abbreviation does not end a sentence.
    assert not summary_complete("en", 1)("The U.S. budget grew by 2.5 percent in the year")
    # What the trim keeps of a complete answer is what it keeps of the whole answer the model would write.
    whole = "Here is a summary: The council approved a budget. It adds 40 buses. Three tram lines follow."
    cut_early = whole[: whole.index("Three tram lines") + len("Three tram lines")]
    assert complete(cut_early)
    assert finish_summary(cut_early, ARTICLE, "en", 2, cut=False) == finish_summary(
        whole, ARTICLE, "en", 2, cut=False
    )


def test_a_chinese_answer_is_complete_after_some_characters_of_the_next_sentence() -> None:
    complete = summary_complete("zh", 1)
    assert not complete("市议会周一批准了预算。新增")
    assert complete("市议会周一批准了预算。新增四十辆公交车和三条电车线路")


def test_chinese_sentences_are_joined_without_spaces() -> None:
    answer = "市议会周一批准了预算。新增40辆公交车。三条电车线路随后开通。"
    assert (
        finish_summary(answer, "预算。新增40辆公交车。", "zh", 2, cut=False)
        == "市议会周一批准了预算。新增40辆公交车。"
    )


def test_a_sentence_cut_by_the_token_budget_is_dropped() -> None:
    answer = "The council approved a budget on Monday. It adds 40 buses, and Albert (6"
    assert finish_summary(answer, ARTICLE, "en", 3, cut=True) == "The council approved a budget on Monday."
    # Not cut: the same last sentence stays (the model ended there itself).
    assert finish_summary(answer, ARTICLE, "en", 3, cut=False).endswith("Albert (6")
    # Cut, but after a full stop: the sentence is whole and stays.
    whole = "The council approved a budget on Monday. It adds 40 buses."
    assert finish_summary(whole, ARTICLE, "en", 3, cut=True) == whole


def test_a_sentence_with_a_number_the_article_lacks_is_dropped() -> None:
    answer = "The council approved 1,250 million euros. It adds 45 buses in 2025. Three tram lines follow."
    assert finish_summary(answer, ARTICLE, "en", 3, cut=False) == (
        "The council approved 1,250 million euros. Three tram lines follow."
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "The budget is 1.250 million euros.",  # other separators
        "The budget is 1 250 million euros.",  # a space between the groups
        "The budget is 1'250 million euros.",  # the article's Swiss ’ written as '
        "It adds 40 buses from 2025 on.",
        "It has 7 lines.",  # single digits are not checked: articles spell them
    ],
)
def test_numbers_the_article_has_are_kept_whatever_their_separators(sentence: str) -> None:
    assert finish_summary(sentence, ARTICLE, "en", 3, cut=False) == sentence


def test_chinese_numbers_are_not_checked_against_an_article_that_spells_them() -> None:
    article = "合肥发布轨道交通规划。五年内新增线路约一百八十公里。"
    answer = "合肥发布轨道交通规划。五年内新增线路约180公里。"
    assert finish_summary(answer, article, "zh", 3, cut=False) == answer


def test_a_summary_that_would_lose_every_sentence_keeps_its_first() -> None:
    answer = "The council spent 99 million. It bought 77 trams."
    assert finish_summary(answer, ARTICLE, "en", 3, cut=False) == "The council spent 99 million."


def test_the_summary_is_cleaned_before_it_is_trimmed() -> None:
    answer = "Here is the summary:\nThe council approved a budget. It adds 40 buses. Three tram lines follow."
    assert finish_summary(answer, ARTICLE, "en", 1, cut=False) == "The council approved a budget."


# -- translations ------------------------------------------------------------------------------


def test_arabic_is_named_with_its_own_name_and_script() -> None:
    text = instruction(translate_messages("Good morning.", "en", "ar"))
    assert text == (
        "Translate the following text from English into Modern Standard Arabic (العربية), in Arabic script. "
        "Reply with the Arabic translation only."
    )
    assert instruction(translate_messages("Good morning.", "en", "fr")) == (
        "Translate the following text from English into French. Reply with the French translation only."
    )


@pytest.mark.parametrize(
    ("raw", "language", "clean"),
    [
        ("العربية: صباح الخير.", "ar", "صباح الخير."),
        ('Deutsch:\n"Guten Morgen."', "de", "Guten Morgen."),
        ("Français : Bonjour.", "fr", "Bonjour."),
        ("French: Bonjour.", "fr", "Bonjour."),
        ("中文：早上好。", "zh", "早上好。"),
        ("Español (España): Buenos días.", "es", "Buenos días."),
        # Another language's name is not this answer's label, and a name inside the text stays.
        ("Deutsch: Guten Morgen.", "fr", "Deutsch: Guten Morgen."),
        ("Le Deutsch: une langue.", "fr", "Le Deutsch: une langue."),
    ],
)
def test_a_leading_label_naming_the_answers_language_is_stripped(raw: str, language: str, clean: str) -> None:
    assert clean_output(raw, language) == clean


def test_without_a_language_no_label_is_stripped() -> None:
    assert clean_output("Deutsch: Guten Morgen.") == "Deutsch: Guten Morgen."


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Вот русский перевод текста:\n\nПираты в понедельник.", "Пираты в понедельник."),
        ("Voici la traduction en français :\nBonjour.", "Bonjour."),
        ("Hier ist die Übersetzung:\nGuten Morgen.", "Guten Morgen."),
        # On the same line as the text, "traduction" is part of it.
        ("La traduction du livre: un succès.", "La traduction du livre: un succès."),
    ],
)
def test_a_line_announcing_the_answer_in_its_own_language_is_stripped(raw: str, clean: str) -> None:
    assert clean_output(raw) == clean
