"""Integrity checks: each kind of finding on crafted outputs, per script, with exact spans."""

from __future__ import annotations

import json

import pytest

from bench.quality import integrity
from service.checks import (
    CheckedText,
    Finding,
    FindingKind,
    check_score,
    check_summary,
    check_translation,
    pick_better,
)
from service.checks.names import check_names, find_names
from service.checks.numbers import check_numbers, find_numbers
from service.checks.omission import check_omission
from service.checks.repetition import find_repetition
from service.checks.script import fold, tokens
from service.checks.transliterate import skeleton, skeletons_match
from service.text.detect import LanguageDetector

K = FindingKind


@pytest.fixture(scope="module")
def detector():
    return LanguageDetector()


def kinds(findings):
    return sorted(f.kind for f in findings)


def spanned(text, finding):
    start, end = finding.span
    return text[start:end]


# --- score and choice ---------------------------------------------------------------------


def test_score_is_one_without_findings_and_falls_with_each():
    one = [Finding(K.NAME_MISSING, "x")]
    two = one + [Finding(K.NAME_MISSING, "y")]
    assert check_score([]) == 1.0
    assert 0.0 < check_score(two) < check_score(one) < 1.0
    assert check_score([Finding(K.ECHO, "x")]) < check_score([Finding(K.NAME_MISSING, "x")])
    assert check_score([Finding(kind, "x") for kind in K for _ in range(5)]) >= 0.0


def test_pick_better_prefers_fewer_and_lighter_findings():
    clean = CheckedText("good", ())
    echo = CheckedText("bad", (Finding(K.ECHO, "copied"),))
    name = CheckedText("meh", (Finding(K.NAME_MISSING, "x"),))
    assert pick_better(echo, clean) is clean
    assert pick_better(clean, echo) is clean
    assert pick_better(echo, name) is name
    tie = CheckedText("same", ())
    assert pick_better(clean, tie) is clean


# --- tokens and transliteration --------------------------------------------------------------


def test_tokens_keep_offsets_and_split_scripts():
    text = "l’Arizona, Kai-Fu 2018年 Ibrox俱乐部 مُحَمَّد"
    words = tokens(text)
    assert [w.text for w in words] == [
        "l",
        "Arizona",
        "Kai",
        "Fu",
        "2018",
        "年",
        "Ibrox",
        "俱",
        "乐",
        "部",
        "مُحَمَّد",
    ]
    assert all(text[w.start : w.end] == w.text for w in words)
    assert fold("Agüero") == "aguero" and fold("أحمد") == "احمد"


@pytest.mark.parametrize(
    ("latin", "other"),
    [
        ("Livingston", "Ливингстон"),
        ("Gerrard", "Джеррарда"),
        ("Livingston", "ليفينغستون"),
        ("Somerset", "سومرسيت"),
    ],
)
def test_consonant_skeletons_match_across_scripts(latin, other):
    assert skeletons_match(skeleton(latin), skeleton(other))


def test_consonant_skeletons_tell_names_apart():
    assert not skeletons_match(skeleton("Brighton"), skeleton("Манчестер"))
    assert not skeletons_match(skeleton("Microsoft"), skeleton("ممارس"))  # a common word, not the name


# --- REPETITION ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "loop"),
    [
        (
            "The talks will resume in the city in the city in the city next week.",
            "in the city in the city in the city",
        ),
        (
            "Переговоры продолжатся на следующей неделе на следующей неделе.",
            "на следующей неделе на следующей неделе",
        ),
        ("ستستأنف المحادثات الأسبوع المقبل الأسبوع المقبل في جنيف.", "الأسبوع المقبل الأسبوع المقبل"),
        ("会谈将于下周在日内瓦日内瓦日内瓦恢复。", "日内瓦日内瓦日内瓦"),
    ],
)
def test_repetition_found_with_its_span(text, loop):
    findings = find_repetition(text)
    assert kinds(findings) == [K.REPETITION]
    assert spanned(text, findings[0]) == loop


@pytest.mark.parametrize(
    "text",
    [
        "It was very, very cold, and the score was 10 10 at half time.",
        "他们谢谢大家，常常去看看朋友。",
        "Он сказал, что это очень, очень важно.",
        "قال إن الأمر مهم جدا جدا للمنطقة.",
    ],
)
def test_natural_doubling_is_not_repetition(text):
    assert find_repetition(text) == []


def test_a_long_passage_said_twice_is_repetition():
    sentence = "The minister said the new budget would protect hospitals and schools across the country."
    text = f"{sentence} Talks resume on Monday. {sentence}"
    findings = find_repetition(text)
    assert kinds(findings) == [K.REPETITION]
    assert findings[0].span == (text.index(sentence, 1), len(text) - 1)  # its words, not the full stop


# --- ECHO and WRONG_LANGUAGE -----------------------------------------------------------------

SOURCE = (
    "The mayor of Lyon said on Tuesday that the new tram line would open in 2026 after two years of work."
)
FR = (
    "Le maire de Lyon a déclaré mardi que la nouvelle ligne de tramway ouvrirait en 2026 "
    "après deux ans de travaux."
)
DE = (
    "Der Bürgermeister von Lyon sagte am Dienstag, die neue Straßenbahnlinie werde 2026 "
    "nach zwei Jahren Bauzeit eröffnet."
)
RU = "Мэр Лиона заявил во вторник, что новая линия трамвая откроется в 2026 году после двух лет работ."
AR = "قال عمدة ليون يوم الثلاثاء إن خط الترام الجديد سيفتتح في عام 2026 بعد عامين من العمل."
ZH = "里昂市长周二表示，经过两年的施工，新的有轨电车线路将于2026年开通。"


@pytest.mark.parametrize(
    ("target", "reference"), [("fr", FR), ("de", DE), ("ru", RU), ("ar", AR), ("zh", ZH)]
)
def test_a_good_translation_has_no_findings(detector, target, reference):
    assert check_translation(SOURCE, reference, "en", target, detector=detector) == []


@pytest.mark.parametrize("target", ["fr", "ru", "ar", "zh"])
def test_the_source_as_output_is_an_echo(detector, target):
    findings = check_translation(SOURCE, SOURCE, "en", target, detector=detector)
    assert kinds(findings) == [K.ECHO]
    assert findings[0].span == (0, len(SOURCE))


def test_a_sentence_left_untranslated_is_an_echo_with_its_span(detector):
    source = SOURCE + " Residents along the route have complained about the noise for months."
    output = FR + " Residents along the route have complained about the noise for months."
    findings = check_translation(source, output, "en", "fr", detector=detector)
    assert K.ECHO in kinds(findings)
    echo = next(f for f in findings if f.kind is K.ECHO)
    assert spanned(output, echo) == "Residents along the route have complained about the noise for months."


@pytest.mark.parametrize(
    ("target", "output", "detected"), [("de", FR, "fr"), ("ar", RU, "ru"), ("fr", AR, "ar")]
)
def test_output_in_another_language(detector, target, output, detected):
    findings = check_translation(SOURCE, output, "en", target, detector=detector)
    assert kinds(findings) == [K.WRONG_LANGUAGE]
    assert findings[0].span == (0, len(output)) and f"'{detected}'" in findings[0].detail


def test_one_sentence_in_another_language_is_spanned(detector):
    source = SOURCE + " Residents along the route have complained about the noise for months."
    spanish = "Los vecinos de la ruta se han quejado del ruido durante meses, según la prensa local."
    output = f"{FR} {spanish}"
    findings = check_translation(source, output, "en", "fr", detector=detector)
    wrong = [f for f in findings if f.kind is K.WRONG_LANGUAGE]
    assert len(wrong) == 1 and spanned(output, wrong[0]) == spanish


# --- OMISSION -------------------------------------------------------------------------------------


def test_an_output_far_too_short_is_an_omission():
    findings = check_omission(SOURCE, "Le maire de Lyon a parlé.", "en", "fr")
    assert kinds(findings) == [K.OMISSION] and findings[0].span is None


def test_a_dropped_sentence_is_spanned_in_the_source():
    first = "The mayor of Lyon said on Tuesday that the new tram line would open after two years of work."
    second = "Residents along the route have complained for months about the noise and the closed streets."
    third = "The city council will vote on the final budget of the project at its next meeting in March."
    source = f"{first} {second} {third}"
    kept = [
        "Le maire de Lyon a déclaré mardi que la nouvelle ligne de tramway ouvrirait "
        "après deux ans de travaux.",
        "Le conseil municipal votera le budget définitif du projet lors de sa prochaine séance en mars.",
    ]
    findings = check_omission(source, " ".join(kept), "en", "fr")
    assert kinds(findings) == [K.OMISSION]
    assert findings[0].in_source and spanned(source, findings[0]) == second
    complete = (
        kept[0] + " Les riverains se plaignent depuis des mois du bruit et des rues fermées. " + kept[1]
    )
    assert check_omission(source, complete, "en", "fr") == []


def test_chinese_length_is_counted_by_characters_weight():
    assert check_omission(SOURCE, ZH, "en", "zh") == []
    assert kinds(check_omission(SOURCE, "里昂市长周二表示。", "en", "zh")) == [K.OMISSION]


# --- NUMBERS -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "output"),
    [
        ("fr", "Des voleurs ont pris 26 750 $ et 1,5 million d’euros."),
        ("de", "Diebe nahmen 26.750 Dollar und 1,5 Millionen Euro."),
        ("es", "Unos ladrones se llevaron 26 750 dólares y 1,5 millones de euros."),
        ("ru", "Воры похитили 26 750 долларов и 1,5 млн евро."),
        ("ar", "سرق اللصوص ٢٦٬٧٥٠ دولارا و1.5 مليون يورو."),
        ("zh", "小偷偷走了26,750美元和150万欧元。"),
    ],
)
def test_numbers_match_in_every_locale(language, output):
    assert check_numbers("Thieves took $26,750 and 1.5 million euros.", output, "en", language) == []


def test_numbers_written_as_words_count():
    source = "The country approaches the 50th anniversary; 3 men were held."
    assert (
        check_numbers(
            source, "Le pays approche des cinquante ans ; trois hommes ont été arrêtés.", "en", "fr"
        )
        == []
    )
    assert (
        check_numbers(
            source, "Страна приближается к пятидесятой годовщине; задержаны трое мужчин.", "en", "ru"
        )
        == []
    )
    assert check_numbers(source, "该国即将迎来五十周年，三名男子被拘留。", "en", "zh") == []


def test_a_changed_number_is_altered_and_spanned_in_the_output():
    output = "Au moins 394 personnes sont mortes samedi."
    findings = check_numbers("At least 384 people were killed on Saturday.", output, "en", "fr")
    assert kinds(findings) == [K.NUMBER_ALTERED]
    assert spanned(output, findings[0]) == "394" and not findings[0].in_source


def test_a_dropped_number_is_missing_and_spanned_in_the_source():
    source = "At least 384 people were killed on Saturday."
    findings = check_numbers(source, "Des personnes sont mortes samedi.", "en", "fr")
    assert kinds(findings) == [K.NUMBER_MISSING]
    assert findings[0].in_source and spanned(source, findings[0]) == "384"


def test_number_spellings_keep_every_reading():
    (mention,) = find_numbers("1.500", "de")
    assert mention.values == {1500.0, 1.5}
    assert [m.text for m in find_numbers("1,2 and 3", "en")] == ["1", "2", "3"]
    assert find_numbers("٣٨٤", "ar")[0].values == {384.0}


# --- NAMES --------------------------------------------------------------------------------------

NAMED = "Steven Gerrard met officials of Livingston in Aleppo on Monday."


def test_names_are_read_without_sentence_starts_and_generic_words():
    text = (
        "Promoted Livingston beat Rangers. Mr. Doseba said the Supreme Court met on Saturday "
        "in Manchester, England."
    )
    names = [n.text for n in find_names(text, "en")]
    # "Mr." opens a sentence there, so the name starts after it.
    assert names == ["Livingston", "Rangers", "Doseba", "Manchester", "England"]
    assert [n.text for n in find_names("He met Mr. Doseba.", "en")] == ["Mr. Doseba"]
    assert find_names("Der Präsident traf die Kanzlerin in Berlin.", "de") == []


@pytest.mark.parametrize(
    ("target", "output"),
    [
        ("fr", "Steven Gerrard a rencontré lundi des responsables de Livingston à Alep."),
        ("ru", "Стивен Джеррард встретился в понедельник с представителями «Ливингстона» в Алеппо."),
        ("ar", "التقى ستيفن جيرارد يوم الاثنين مسؤولين من ليفينغستون في حلب."),
        ("zh", "史蒂文·杰拉德周一在阿勒颇会见了利文斯顿的官员。"),
    ],
)
def test_names_found_by_letters_consonants_or_local_name(target, output):
    assert check_names(NAMED, output, "en", target) == []


def test_a_dropped_name_is_missing_and_spanned_in_the_source():
    findings = check_names(NAMED, "Steven Gerrard a rencontré lundi des responsables à Alep.", "en", "fr")
    assert kinds(findings) == [K.NAME_MISSING]
    assert findings[0].in_source and spanned(NAMED, findings[0]) == "Livingston"


def test_a_changed_name_is_altered_and_spanned_in_the_output():
    output = "Steven Gerrard se reunió el lunes con responsables del Livingston en Alejandría."
    findings = check_names(NAMED, output, "en", "es")
    assert kinds(findings) == [K.NAME_ALTERED]
    assert spanned(output, findings[0]) == "Alejandría"


def test_a_changed_name_in_cyrillic_is_caught():
    output = "Стивен Джеррард встретился в понедельник с представителями «Брайтона» в Алеппо."
    findings = check_names(NAMED, output, "en", "ru")
    assert kinds(findings) == [K.NAME_ALTERED]
    assert spanned(output, findings[0]) == "Брайтона"


def test_a_dropped_name_in_arabic_is_missing():
    findings = check_names(NAMED, "التقى ستيفن جيرارد يوم الاثنين مسؤولين في حلب.", "en", "ar")
    assert kinds(findings) == [K.NAME_MISSING]
    assert spanned(NAMED, findings[0]) == "Livingston"


def test_chinese_names_are_exempt_unless_a_latin_name_replaces_them():
    assert check_names(NAMED, "史蒂文·杰拉德周一在阿勒颇会见了官员。", "en", "zh") == []
    output = "Steven Jones周一在阿勒颇会见了利文斯顿的官员。"
    findings = check_names(NAMED, output, "en", "zh")
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(output, findings[0]) == "Jones"


def test_a_place_left_in_english_is_altered():
    source = "The leaders of Turkey and Germany met in Berlin."
    assert (
        check_names(source, "Die Staatschefs der Türkei und Deutschlands trafen sich in Berlin.", "en", "de")
        == []
    )
    findings = check_names(
        source, "Die Staatschefs der Turkey und Deutschlands trafen sich in Berlin.", "en", "de"
    )
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(source, findings[0]) == "Turkey"


def test_a_country_after_a_found_city_may_be_left_out():
    source = "City won 2-0 on Saturday in Manchester, England."
    assert check_names(source, "City a gagné 2-0 samedi à Manchester.", "en", "fr") == []


# --- summaries ------------------------------------------------------------------------------------

ARTICLE = (
    "The mayor of Lyon, Grégory Doucet, said on Tuesday that the new tram line would open in 2026. "
    "Work on the 12-kilometre line starts in March and will cost 250 million euros, the city said. "
    "Residents have complained about the noise for months."
)


def test_a_faithful_summary_has_no_findings(detector):
    summary = (
        "Lyon's mayor Grégory Doucet says the 12-kilometre tram line, costing 250 million euros, "
        "opens in 2026."
    )
    assert check_summary(ARTICLE, summary, "en", detector=detector) == []


def test_summary_numbers_and_names_must_come_from_the_article(detector):
    summary = "Lyon's mayor Pierre Martin says the tram line will cost 350 million euros."
    findings = check_summary(ARTICLE, summary, "en", detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED, K.NUMBER_ALTERED]
    assert (
        spanned(summary, findings[0]) == "Pierre Martin" or spanned(summary, findings[1]) == "Pierre Martin"
    )
    assert "350" in {spanned(summary, f) for f in findings}


def test_summary_in_the_wrong_language_or_looping(detector):
    french = "Le maire de Lyon affirme que la nouvelle ligne de tramway ouvrira en 2026."
    assert kinds(check_summary(ARTICLE, french, "en", detector=detector)) == [K.WRONG_LANGUAGE]
    looping = "The tram line opens in 2026. The tram line opens in 2026. The tram line opens in 2026."
    assert K.REPETITION in kinds(check_summary(ARTICLE, looping, "en", detector=detector))


def test_empty_outputs():
    assert kinds(check_translation(SOURCE, "", "en", "fr")) == [K.OMISSION]
    assert check_summary(ARTICLE, " ", "en") == []


# --- the evaluation, on crafted lines ---------------------------------------------------------------

_CRAFTED = [
    (SOURCE, {"fr": FR, "de": DE, "ru": RU}),
    (
        "Anna Keller, who runs a bakery in Zurich, said sales fell by 30 percent after the new road "
        "opened last year.",
        {
            "fr": "Anna Keller, qui tient une boulangerie à Zurich, a déclaré que les ventes avaient "
            "baissé de 30 % après l’ouverture de la nouvelle route l’an dernier.",
            "de": "Anna Keller, die in Zürich eine Bäckerei führt, sagte, der Umsatz sei nach der "
            "Eröffnung der neuen Straße im vergangenen Jahr um 30 Prozent gesunken.",
            "ru": "Анна Келлер, владелица пекарни в Цюрихе, рассказала, что после открытия новой "
            "дороги в прошлом году продажи упали на 30 процентов.",
        },
    ),
    (
        "Officials in Porto expect 40,000 visitors for the festival, which returns after a pause "
        "of three years.",
        {
            "fr": "Les autorités de Porto attendent 40 000 visiteurs pour le festival, qui revient "
            "après trois ans d’interruption.",
            "de": "Die Behörden in Porto erwarten 40.000 Besucher für das Festival, das nach drei "
            "Jahren Pause zurückkehrt.",
            "ru": "Власти Порту ожидают 40 000 посетителей фестиваля, который возвращается после "
            "трехлетнего перерыва.",
        },
    ),
]


@pytest.fixture
def crafted_data(tmp_path):
    lines = []
    for n, (source, references) in enumerate(_CRAFTED):
        for language, reference in references.items():
            row = {"id": f"crafted.{n}.en-{language}", "src_lang": "en", "tgt_lang": language, "src": source}
            lines.append(json.dumps({**row, "ref": reference}, ensure_ascii=False))
    (tmp_path / "translation.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    summary = {
        "id": "crafted.summary",
        "lang": "en",
        "article": ARTICLE,
        "references": ["Lyon's new tram line opens in 2026 and will cost 250 million euros."],
    }
    (tmp_path / "summaries.jsonl").write_text(json.dumps(summary) + "\n", encoding="utf-8")
    return tmp_path


def test_evaluation_runs_on_crafted_lines(crafted_data, detector):
    items = integrity.load_translations(crafted_data / "translation.jsonl")
    assert len(items) == 9 and set(items[0].siblings) == {"de", "ru"}
    report = integrity.evaluate(
        items, integrity.load_summaries(crafted_data / "summaries.jsonl"), detector=detector
    )
    assert integrity.false_alarm_rate(report) == (0, 9)
    assert all(not found for group in report.summaries.values() for _, found in group)
    by_fault = {fault: [o for o in report.outcomes if o.fault == fault] for fault in integrity.FAULTS}
    for fault in ("echo", "loop", "wrong_language", "number", "drop_sentence"):
        assert by_fault[fault] and all(o.as_expected for o in by_fault[fault]), fault
    caught, total = integrity.catch_rate(report)
    assert total == len(report.outcomes) and caught >= 0.9 * total
    markdown = integrity.render(report, "crafted")
    assert "| echo | 9 | 9/9 (100%)" in markdown and "crafted.0.en-fr" not in markdown.split("## Items")[0]


def test_evaluation_main_writes_the_report(crafted_data, tmp_path, capsys):
    out = tmp_path / "INTEGRITY.md"
    assert integrity.main(["--data", str(crafted_data), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith("# Integrity checks on human references")
    assert "False alarms on reference translations" in capsys.readouterr().out
