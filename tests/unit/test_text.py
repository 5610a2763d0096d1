"""Language tags, detection, sentence splitting, chunking and HTML stripping."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.errors import InvalidInputError, UndeterminedLanguageError
from service.text.chunking import chunk_sentences
from service.text.detect import LanguageDetector
from service.text.html import html_to_text
from service.text.languages import normalize_language
from service.text.scripts import joiner
from service.text.sentences import split_sentences

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.mark.parametrize(
    ("tag", "expected"),
    [("en", "en"), ("EN-us", "en"), ("pt_BR", "pt"), ("zh-Hans-CN", "zh"), ("iw", "he"), (" fr ", "fr")],
)
def test_normalize_language(tag, expected):
    assert normalize_language(tag) == expected


@pytest.mark.parametrize("tag", ["", "e", "english language", "en--US", "123", "x" * 40])
def test_normalize_language_rejects_non_tags(tag):
    with pytest.raises(InvalidInputError) as info:
        normalize_language(tag, field="target_languages[0]")
    assert info.value.field == "target_languages[0]"


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector()


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name)
def test_detects_every_seed_language(detector, path):
    expected = "en" if path.name[:2] not in {"fr", "de", "es", "ru", "ar", "zh"} else path.name[:2]
    detection = detector.detect(path.read_text(encoding="utf-8"))
    assert detection.language == expected and detection.confidence > 0.95
    assert detection.candidates[0] == (detection.language, detection.confidence)


@pytest.mark.parametrize("text", ["12345", "😀😀 🎉", "!!! ??? ...", "3.14 + 2.72 = 5.86"])
def test_text_without_letters_is_undetermined(detector, text):
    with pytest.raises(UndeterminedLanguageError):
        detector.detect(text)


def test_sentences_keep_exact_offsets_in_every_language():
    for path in sorted(SEEDS.glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        language = path.name[:2] if path.name[:2] in {"fr", "de", "es", "ru", "ar", "zh"} else "en"
        sentences = split_sentences(text, language)
        assert len(sentences) >= 8, path.name
        for s in sentences:
            assert text[s.start : s.end] == s.text
        assert [s.start for s in sentences] == sorted(s.start for s in sentences)


def test_sentence_rules_for_cjk_and_arabic_and_generic():
    assert [s.text for s in split_sentences("第一句。第二句！第三句？", "zh")] == [
        "第一句。",
        "第二句！",
        "第三句？",
    ]
    assert len(split_sentences("جملة أولى. جملة ثانية؟ نعم.", "ar")) == 3
    assert [s.text for s in split_sentences("Hej. Vad gör du? Bra!", "sv")] == ["Hej.", "Vad gör du?", "Bra!"]
    # Abbreviations do not end an English sentence.
    assert len(split_sentences("Dr. Smith met Mr. Jones in the U.S. on Monday. They talked.", "en")) == 2


@pytest.mark.parametrize(
    ("language", "expected"),
    [("zh", ""), ("ja", ""), ("th", ""), ("ko", " "), ("en", " "), ("ar", " "), ("ru", " ")],
)
def test_sentences_are_joined_with_a_space_unless_the_language_is_written_without(language, expected):
    assert joiner(language) == expected


def words(text: str) -> int:
    return len(text.split())


def test_chunks_at_the_budget_boundary():
    sentences = ["one two three", "four five", "six seven eight"]
    # Exactly at the budget: all three fit in two chunks (3+2 = 5, then 3).
    assert chunk_sentences(sentences, 5, words) == ["one two three four five", "six seven eight"]
    # One token under: the second sentence no longer fits beside the first.
    assert chunk_sentences(sentences, 4, words) == ["one two three", "four five", "six seven eight"]
    # One token over: still no room for a third sentence (5 + 3 > 6).
    assert chunk_sentences(sentences, 6, words) == ["one two three four five", "six seven eight"]


def test_one_giant_sentence_is_cut_without_losing_text():
    giant = " ".join(f"w{i}" for i in range(1000))
    chunks = chunk_sentences(["Short start.", giant, "Short end."], 64, words)
    assert all(words(c) <= 64 for c in chunks)
    assert " ".join(chunks).split() == ["Short", "start.", *giant.split(), "Short", "end."]


def test_text_without_spaces_is_cut_between_characters():
    chunks = chunk_sentences(["一" * 25], 10, len)
    assert chunks == ["一" * 10, "一" * 10, "一" * 5]


def test_html_to_text_drops_markup_scripts_and_styles():
    html = (
        "<html><head><title>T</title><style>body{color:red}</style></head><body>"
        "<h1>Headline</h1><script>alert('x')</script><p>First &amp; second.</p><p>Third.</p></body></html>"
    )
    text = html_to_text(html)
    assert "alert" not in text and "color" not in text and "<" not in text
    assert "Headline" in text and "First & second." in text
    assert text.index("First") < text.index("Third.")
