"""The quality evaluation (bench.quality): its metrics, its case files, and a whole run through
the gRPC API of an in-process server on fake models."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bench.quality import EvalOptions, evaluate, lead, load_cases, rouge, running_server, translation_score
from bench.quality.cases import CaseError, load_case
from bench.quality.cli import hub_unreachable, main
from bench.quality.external import load_external, load_summaries, load_translations
from bench.quality.metrics import characters, chrf, unicode_words
from bench.quality.report import (
    language_rows,
    render_language_text,
    render_markdown,
    render_quality_block,
    render_text,
    translation_rows,
    update_quality_file,
)
from bench.quality.runner import word_count
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


# -- external data (JSON lines) ------------------------------------------------------------------


def write_lines(path: Path, rows: list[object]) -> Path:
    lines = [row if isinstance(row, str) else json.dumps(row, ensure_ascii=False) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def summary_line(
    item_id: str, lang: str = "en", article: str = EN2, refs: object = None
) -> dict[str, object]:
    references = ["A reference."] if refs is None else refs
    return {"id": item_id, "lang": lang, "article": article, "references": references}


def translation_line(item_id: str, tgt: str, src: str = "Heavy rain closed the roads.") -> dict[str, str]:
    return {"id": item_id, "src_lang": "en", "tgt_lang": tgt, "src": src, "ref": f"{tgt} reference"}


def test_external_data_is_read_from_json_lines(tmp_path):
    write_lines(
        tmp_path / "summaries.jsonl",
        [
            summary_line("a"),
            "",
            summary_line("b", "fr", "Un article. Deux phrases.", ["Réf un.", "Réf deux."]),
        ],
    )
    write_lines(
        tmp_path / "translation.jsonl",
        [
            translation_line("t1", "fr"),
            translation_line("t2", "de"),
            translation_line("t3", "fr", "The talks will resume next week."),
        ],
    )
    data = load_external(tmp_path)
    a, b = data.summaries
    assert (a.id, a.language, a.article, a.references) == ("a", "en", EN2.strip(), ("A reference.",))
    assert (b.language, b.references) == ("fr", ("Réf un.", "Réf deux."))
    # Lines that share a source sentence become one sentence with a reference per target.
    rain, talks = data.translations
    assert rain.source == "Heavy rain closed the roads." and rain.source_language == "en"
    assert rain.references == {"fr": ("fr reference",), "de": ("de reference",)}
    assert talks.references == {"fr": ("fr reference",)}
    assert data.translation_count == 3


def test_a_data_folder_may_hold_one_file(tmp_path):
    write_lines(tmp_path / "translation.jsonl", [translation_line("t1", "zh")])
    data = load_external(tmp_path)
    assert data.summaries == () and len(data.translations) == 1
    with pytest.raises(CaseError, match="no such data folder"):
        load_external(tmp_path / "translation.jsonl")  # a file, not a folder
    (tmp_path / "empty").mkdir()
    with pytest.raises(CaseError, match="neither summaries.jsonl nor translation.jsonl"):
        load_external(tmp_path / "empty")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not valid JSON"),
        ("[1, 2]", "line 2: must be a JSON object"),
        ({"id": "x", "lang": "en", "article": "A."}, r"line 2: missing keys \['references'\]"),
        ({**summary_line("x"), "title": "T"}, r"line 2: unknown keys \['title'\]"),
        (summary_line("x", refs=[]), "line 2: 'references' must be a non-empty list"),
        (summary_line("x", refs=["ok", ""]), "line 2: every reference must be a non-empty string"),
        (summary_line("x", lang=""), "line 2: 'lang' must be a non-empty string"),
        ({**summary_line("x"), "article": 7}, "line 2: 'article' must be a non-empty string"),
        (summary_line("first"), "line 2: id 'first' is used again \\(first on line 1\\)"),
    ],
)
def test_a_bad_summary_line_is_refused_naming_the_line(tmp_path, line, message):
    path = write_lines(tmp_path / "summaries.jsonl", [summary_line("first"), line])
    with pytest.raises(CaseError, match=message) as info:
        load_summaries(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ({"id": "y", "src_lang": "en", "tgt_lang": "fr", "src": "S."}, r"line 3: missing keys \['ref'\]"),
        ({**translation_line("y", "fr"), "ref": ""}, "line 3: 'ref' must be a non-empty string"),
        ({**translation_line("y", "en")}, "line 3: 'tgt_lang' is the source language"),
        (translation_line("t1", "es"), "line 3: id 't1' is used again"),
    ],
)
def test_a_bad_translation_line_is_refused_naming_the_line(tmp_path, line, message):
    path = write_lines(tmp_path / "translation.jsonl", [translation_line("t1", "fr"), "  ", line])
    with pytest.raises(CaseError, match=message):
        load_translations(path)


def test_the_command_refuses_bad_data_before_starting_a_server(tmp_path, capsys):
    write_lines(tmp_path / "summaries.jsonl", [summary_line("a"), "{oops"])
    assert main(["--data", str(tmp_path), "--profile", "no-such-profile"]) == 2
    err = capsys.readouterr().err
    assert "summaries.jsonl, line 2: not valid JSON" in err and "starting the server" not in err


def test_word_counts_follow_the_rouge_tokens():
    assert word_count("Regulators approved the wind farm.", "en") == 5
    assert word_count("合肥发布新规划。", "zh") == 7


def test_the_quality_file_keeps_other_profiles_and_the_hand_written_sections(tmp_path):
    path = tmp_path / "QUALITY.md"
    update_quality_file(path, "tiny", "### Profile `tiny`\n\nfirst run\n")
    path.write_text(path.read_text() + "\n## Levers\n\nMeasured by hand.\n")
    update_quality_file(path, "embedded", "### Profile `embedded`\n\nslow run\n")
    update_quality_file(path, "tiny", "### Profile `tiny`\n\nsecond run\n")
    text = path.read_text()
    assert "second run" in text and "first run" not in text and "slow run" in text
    assert text.index("second run") < text.index("slow run") < text.index("## Levers")
    assert text.endswith("Measured by hand.\n") and text.count("<!-- eval tiny begin -->") == 1


def test_a_hub_profile_that_cannot_download_says_so(tmp_path):
    log = tmp_path / "server.log"
    log.write_text(
        "ERROR model 'distilbart-cnn-12-6': cannot load sshleifer/distilbart-cnn-12-6 "
        "(LocalEntryNotFoundError: An error happened while trying to locate the files on the Hub); "
        "fetch it first\n"
    )
    line = hub_unreachable("hub", log)
    assert "hub is not reachable" in line and "sshleifer/distilbart-cnn-12-6" in line
    assert hub_unreachable("embedded", log) == ""  # packaged weights: the hub is not the cause
    log.write_text("Traceback: something else\n")
    assert hub_unreachable("hub", log) == ""


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


@pytest.mark.integration
def test_a_run_with_external_data_reports_per_language(fake_target, cases_folder, tmp_path):
    data_folder = tmp_path / "data"
    data_folder.mkdir()
    fr_article = (SEEDS / "fr_001_port_strike.txt").read_text(encoding="utf-8")
    write_lines(
        data_folder / "summaries.jsonl",
        [summary_line("n1", refs=["Regulators approved a wind farm."]), summary_line("n2", "fr", fr_article)],
    )
    write_lines(
        data_folder / "translation.jsonl",
        [translation_line("t1", "fr"), translation_line("t2", "de"), translation_line("t3", "xx")],
    )
    data = load_external(data_folder)
    with SummarizerClient(fake_target, timeout=30) as client:
        report = evaluate(
            client,
            load_cases(cases_folder)[:1],
            "fake",
            EvalOptions(),
            data_cases=data.summaries,
            data_translations=data.translations,
        )
    assert not report.errors
    assert [(r.source, r.case_id) for r in report.results] == [
        ("cases", "en-wind"),
        ("data", "n1"),
        ("data", "n2"),
    ]
    n1 = report.results[1]
    assert n1.reference_length is not None and n1.reference_length.words == 5
    assert set(n1.call_seconds) == {"abstractive", "extractive"}
    assert n1.length("lead-3") is not None
    rows = {(row[1], row[2]): row for row in language_rows([report])}
    assert set(rows) == {("cases", "en"), ("data", "en"), ("data", "fr")}
    assert rows[("data", "en")][3] == "1" and rows[("data", "en")][4] != "-"  # abstractive ROUGE-1
    translations = {row[1]: row for row in translation_rows([report])}
    assert set(translations) == {"en->fr", "en->de"}  # "xx" is not a language of the profile
    assert translations["en->fr"][2] == "1" and float(translations["en->fr"][5]) >= 0
    assert any("en->xx: 1 sentences skipped" in n for n in report.data_translations.notes)
    # What the service said about the data's translations counts with the rest.
    assert sorted(e.language for e in report.data_translations.evidence) == ["de", "fr"]
    assert all(e in report.evidence() for e in report.data_translations.evidence)
    text = render_language_text([report])
    assert "Ref words" in text and "en->xx" in text
    block = render_quality_block(report, data_folder="data", command="python -m bench.quality", machine="m")
    assert "| fake | data | fr | 1 |" in block and "| fake | en->de | 1 |" in block


@pytest.mark.integration
def test_the_command_writes_the_quality_file_with_external_data(tmp_path, monkeypatch, capsys):
    data_folder = tmp_path / "data"
    data_folder.mkdir()
    write_lines(data_folder / "summaries.jsonl", [summary_line("n1")])

    @contextmanager
    def fake_server(profile, **_):  # type: ignore[no-untyped-def]
        server = ServerThread(server_settings(), fake_pipeline(summarizer=FakeSummarizer(languages=("en",))))
        try:
            yield server.target, 0.5
        finally:
            server.stop()
            server.loop.close()

    monkeypatch.setattr("bench.quality.cli.running_server", fake_server)
    cases = tmp_path / "cases"
    cases.mkdir()
    write(cases, "a.json", {"language": "en", "article": EN2, "references": ["R."]})
    report_path = tmp_path / "QUALITY.md"
    code = main(
        [
            "--cases",
            str(cases),
            "--data",
            str(data_folder),
            "--out",
            str(tmp_path / "out"),
            "--report",
            str(report_path),
        ]
    )
    assert code == 0
    text = report_path.read_text()
    assert "### Profile `tiny`" in text and "load average" in text and "commit " in text
    assert "| tiny | data | en | 1 |" in text and "| tiny | cases | en | 1 |" in text
    assert "Ref words" in capsys.readouterr().out


@pytest.mark.integration
def test_the_command_measures_confidence_on_the_data_translations(tmp_path, monkeypatch):
    data_folder = tmp_path / "data"
    data_folder.mkdir()
    write_lines(data_folder / "translation.jsonl", [translation_line("t1", "fr")])
    measured: list[tuple[object, ...]] = []

    def fake_measure(data, profile, *, limit=None):  # type: ignore[no-untyped-def]
        measured.append((data, profile, limit))
        return "# Confidence and repairs on human references\n\n## Sentences\n\nfigures"

    @contextmanager
    def fake_server(profile, **_):  # type: ignore[no-untyped-def]
        server = ServerThread(server_settings(), fake_pipeline(summarizer=FakeSummarizer(languages=("en",))))
        try:
            yield server.target, 0.5
        finally:
            server.stop()
            server.loop.close()

    monkeypatch.setattr("bench.quality.cli.running_server", fake_server)
    monkeypatch.setattr("bench.quality.cli.measure", fake_measure)
    cases = tmp_path / "cases"
    cases.mkdir()
    write(cases, "a.json", {"language": "en", "article": EN2, "references": ["R."]})
    out = tmp_path / "out"
    argv = ["--cases", str(cases), "--data", str(data_folder), "--data-limit", "5", "--out", str(out)]
    code = main([*argv, "--report", str(tmp_path / "QUALITY.md")])
    assert code == 0
    assert measured == [(data_folder, "tiny", 5)]
    # The measurement goes under the profile's report, its headings one level down.
    text = (out / "quality-tiny.md").read_text()
    assert "\n## Confidence and repairs on human references\n" in text and "\n### Sentences\n" in text
