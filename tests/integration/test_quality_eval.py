"""The quality evaluation (bench.quality): its metrics, its case files, and a whole run through
the gRPC API of an in-process server on fake models."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.quality import EvalOptions, evaluate, lead, load_cases, rouge, running_server, translation_score
from bench.quality.cases import CaseError, load_case
from bench.quality.cli import main
from bench.quality.metrics import characters, chrf, unicode_words
from bench.quality.report import render_markdown, render_text
from service.text.sentences import split_sentences
from summarizer_client import SummarizerClient
from tests.fakes import FakeSummarizer, fake_pipeline
from tests.integration.conftest import ServerThread, server_settings

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
EN2 = (SEEDS / "en_002_wind_farm_approval.txt").read_text(encoding="utf-8")

SAME = {
    "en": "Regulators approved the offshore wind farm on Thursday.",
    "fr": "Les dockers de Saint-Nazaire ont prolongé la grève jusqu'à vendredi.",
    "de": "Der Landkreis hat wegen des Hochwassers den Katastrophenfall ausgerufen.",
    "ru": "Научное судно вернулось в порт после арктической экспедиции.",
    "ar": "يهدد الجفاف محصول القمح في سهول الشاوية للعام الثالث.",
    "zh": "合肥发布新一轮轨道交通建设规划。",
}


# -- metrics -------------------------------------------------------------------------------------


@pytest.mark.parametrize("language", sorted(SAME))
def test_a_summary_equal_to_its_reference_scores_100(language):
    score = rouge(SAME[language], [SAME[language]], language)
    assert (score.r1, score.r2, score.rl) == (100.0, 100.0, 100.0)


@pytest.mark.parametrize("language", sorted(SAME))
def test_a_summary_about_something_else_scores_low(language):
    other = next(text for lang, text in SAME.items() if lang != language)
    unrelated = "A completely different story about cooking pasta at home tonight."
    for summary in (other, unrelated if language != "en" else SAME["de"]):
        score = rouge(summary, [SAME[language]], language)
        assert score.r1 < 20 and score.r2 < 10 and score.rl < 20


def test_partial_overlap_scores_in_between_and_the_best_reference_counts():
    reference = "The regulators approved a large wind farm off the coast on Thursday."
    score = rouge("Regulators approved a wind farm.", [reference], "en")
    assert 30 < score.r1 < 100 and 0 < score.r2 < score.r1
    best = rouge("Regulators approved a wind farm.", ["Nothing alike here at all.", reference], "en")
    assert best == score


def test_non_latin_summaries_are_not_dropped_by_the_tokenizer():
    # rouge-score's own tokenizer keeps a-z and 0-9 only: these would all score zero with it.
    assert unicode_words("Grève à Saint-Nazaire, Научное судно; الشَّاوية") == [
        "grève",
        "à",
        "saint",
        "nazaire",
        "научное",
        "судно",
        "الشاوية",
    ]
    assert characters("合肥地铁9号线 Metro") == ["合", "肥", "地", "铁", "9", "号", "线", "metro"]
    # One character in common out of eight: a low score, not zero and not a whole-word miss.
    assert 0 < rouge("合肥发布", ["合作共赢的新规划"], "zh").r1 < 30


def test_translation_scores():
    refs = [["Les pourparlers reprendront à Genève la semaine prochaine."], ["Des milliers d'habitants."]]
    perfect = translation_score([r[0] for r in refs], refs, "fr")
    assert perfect.count == 2 and perfect.chrf == pytest.approx(100) and perfect.bleu == pytest.approx(100)
    wrong = translation_score(["The talks resume next week.", "Thousands of residents."], refs, "fr")
    assert wrong.chrf < 30 and wrong.bleu < 5
    zh = translation_score(["会谈将于下周在日内瓦恢复。"], [["会谈将于下周在日内瓦恢复。"]], "zh")
    assert zh.bleu == pytest.approx(100)  # scored on Chinese characters, not one 13a "word"
    # A segment may have more references than another.
    mixed = translation_score(["a b c d", "e f g h"], [["a b c d", "a b c e"], ["e f g h"]], "en")
    assert mixed.chrf == pytest.approx(100)
    assert chrf("Guten Morgen", ["Guten Morgen"]) == pytest.approx(100)
    with pytest.raises(ValueError):
        translation_score(["one"], [[]], "fr")


def test_lead_takes_the_first_three_sentences():
    sentences = [s.text for s in split_sentences(EN2, "en")]
    assert lead(EN2, "en") == " ".join(sentences[:3])
    assert lead("第一句。第二句。第三句。第四句。", "zh") == "第一句。第二句。第三句。"


# -- case files ----------------------------------------------------------------------------------


def test_the_shipped_cases():
    cases = load_cases()
    languages = {c.language for c in cases}
    assert {"en", "fr", "de", "es", "ru", "ar", "zh"} <= languages
    by_id = {c.id: c for c in cases}
    seed = by_id["en-syria-delegation"]
    assert seed.article == (SEEDS / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8").strip()
    for target in ("fr", "de", "es", "zh"):
        count = sum(1 for t in seed.translations if target in t.references)
        assert 3 <= count <= 5, target
    for case in cases:
        for reference in case.references:
            # Counted at sentence-ending punctuation ("und": the splitter's language-neutral rules;
            # pysbd's Arabic rules also cut at commas).
            assert 2 <= len(split_sentences(reference, "und")) <= 3, (case.id, reference[:60])


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    text = json.dumps(data, ensure_ascii=False) if name.endswith(".json") else str(data)
    path.write_text(text, encoding="utf-8")
    return path


def test_cases_in_toml_and_json_with_articles_inline_or_in_files(tmp_path):
    (tmp_path / "article.txt").write_text("An article. In a file.\n", encoding="utf-8")
    write(
        tmp_path,
        "a.toml",
        'language = "en"\narticle_file = "article.txt"\nreferences = "One reference."\n'
        '[[translations]]\nsource = "Hello."\nreferences = { fr = ["Bonjour.", "Salut."] }\n',
    )
    write(
        tmp_path, "b.json", {"id": "inline", "language": "de", "article": "Ein Text.", "references": ["R."]}
    )
    write(tmp_path, "notes.txt", "not a case")
    a, b = load_cases(tmp_path)
    assert (a.id, a.article, a.references) == ("a", "An article. In a file.", ("One reference.",))
    assert a.translations[0].source_language == "en"
    assert a.translations[0].references == {"fr": ("Bonjour.", "Salut.")}
    seed_relative = write(
        tmp_path,
        "c.json",
        {"language": "en", "article_file": "seeds/en_002_wind_farm_approval.txt", "references": "R."},
    )
    assert load_case(seed_relative).article == EN2.strip()  # found from the repository root
    assert b.id == "inline" and b.summary_translations == {}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"language": "en", "article": "x", "references": ["r"], "summary": "?"}, "unknown keys"),
        ({"language": "en", "article": "x", "article_file": "y", "references": ["r"]}, "exactly one"),
        ({"language": "en", "article": "x"}, "'references'"),
        ({"language": "", "article": "x", "references": ["r"]}, "'language'"),
        ({"language": "en", "article_file": "missing.txt", "references": ["r"]}, "not found"),
        (
            {"language": "en", "article": "x", "references": ["r"], "translations": [{"source": "s"}]},
            "target",
        ),
    ],
)
def test_bad_cases_are_refused_naming_the_file_and_field(tmp_path, data, message):
    path = write(tmp_path, "bad.json", data)
    with pytest.raises(CaseError, match=message) as info:
        load_case(path)
    assert str(path) in str(info.value)


def test_the_command_refuses_a_folder_without_cases(tmp_path, capsys):
    assert main(["--cases", str(tmp_path)]) == 2
    assert "no .toml or .json case" in capsys.readouterr().err


# -- a whole run against a server ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fake_target() -> Iterator[str]:
    # English and French summaries; German only through English (a pivot).
    server = ServerThread(server_settings(), fake_pipeline(summarizer=FakeSummarizer(languages=("en", "fr"))))
    yield server.target
    server.stop()
    server.loop.close()  # its sockets too: no ResourceWarning when it is collected


@pytest.fixture()
def cases_folder(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "01_en.json",
        {
            "id": "en-wind",
            "language": "en",
            "article_file": "seeds/en_002_wind_farm_approval.txt",
            "references": [
                "Planning regulators approved a 64-turbine offshore wind farm off Northumberland."
            ],
            "summary_translations": {"fr": ["Les régulateurs ont approuvé un parc éolien en mer."]},
            "translations": [
                {
                    "source": "The talks will resume next week.",
                    "references": {"fr": "Reprise la semaine prochaine."},
                },
                {
                    "source": "Heavy rain closed the roads.",
                    "references": {"fr": "La pluie a fermé les routes.", "de": "Regen."},
                },
            ],
        },
    )
    write(
        tmp_path,
        "02_de.json",
        {
            "id": "de-flood",
            "language": "de",
            "article_file": "seeds/de_001_flood_response.txt",
            "references": ["Hochwasser an der Mulde."],
        },
    )
    return tmp_path


@pytest.mark.integration
def test_a_whole_run_through_the_api(fake_target, cases_folder):
    cases = load_cases(cases_folder)
    messages: list[str] = []
    with SummarizerClient(fake_target, timeout=30) as client:
        report = evaluate(client, cases, "fake", EvalOptions(), messages.append)
    assert not report.errors
    en, de = report.results
    # The fake summary is the first words of the article: scored beside the two baselines.
    assert en.outputs["abstractive"].startswith("fake-sum[en]:")
    assert en.abstractive is not None and en.extractive is not None and en.lead3 is not None
    assert en.abstractive.r1 > 0 and en.extractive.r1 > 0 and en.lead3.r1 > 0
    assert en.outputs["abstractive [fr]"].startswith("fr(fake-sum[en]:")
    assert set(en.summary_translations) == {"fr"}
    # Three scored translations: two into French, one into German; the fake writes "fr(<text>)".
    assert sorted((t.language, t.hypothesis) for t in en.translations) == [
        ("de", "de(Heavy rain closed the roads.)"),
        ("fr", "fr(Heavy rain closed the roads.)"),
        ("fr", "fr(The talks will resume next week.)"),
    ]
    assert en.translation_chrf is not None and en.translation_bleu is not None
    assert [(source, s.language, s.count) for source, s in report.pair_scores()] == [
        ("en", "fr", 2),
        ("en", "de", 1),
    ]
    # German reaches the summarizer only through English: skipped unless asked for.
    assert de.abstractive is None and de.extractive is not None
    assert any("only through English" in note for note in de.notes)
    assert any("en-wind: abstractive summary" in m for m in messages)

    text = render_text([report])
    assert "average (2 cases)" in text and "en->fr" in text and "only through English" in text
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["profile", "case", "lang"]
    markdown = render_markdown(report, cases_folder=str(cases_folder), command="python -m bench.quality")
    assert markdown.startswith("# Summary and translation quality: profile `fake`")
    assert "| fake | en-wind | en |" in markdown and "## Translations by language pair" in markdown


@pytest.mark.integration
def test_pivot_summaries_when_asked_and_failures_are_reported(fake_target, cases_folder):
    cases = load_cases(cases_folder)
    with SummarizerClient(fake_target, timeout=30) as client:
        report = evaluate(client, cases[1:], "fake", EvalOptions(pivot=True, translations=False))
    [de] = report.results
    assert de.abstractive is not None and de.outputs["abstractive"].startswith("de(fake-sum[en]:")

    bad = dataclasses.replace(cases[1], language="tlh", id="bad")
    with SummarizerClient(fake_target, timeout=30) as client:
        report = evaluate(client, [bad], "fake", EvalOptions(translations=False, pivot=True))
    assert report.errors and "INVALID_ARGUMENT" in report.errors[0]
    assert "bad *" in render_text([report])


@pytest.mark.integration
def test_a_server_that_cannot_start_is_reported(tmp_path):
    with pytest.raises(RuntimeError, match="exited with code"):
        with running_server("no-such-profile", log_path=tmp_path / "server.log", start_timeout=60):
            pass
    assert "no-such-profile" in (tmp_path / "server.log").read_text()
