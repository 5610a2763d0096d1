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
from service.checks.dates import check_dates, find_dates, spell_unit
from service.checks.demonyms import COUNTRIES, LANGUAGES, check_nationalities, find_nationalities
from service.checks.exonyms import PLACES
from service.checks.lexicon import parse_forms
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


# --- dates and nationalities written with words (the issue's own failures) -------------------------

DATED = "The referendum will be held on Saturday, March 3, the electoral commission said."
DATED_RIGHT = {
    "fr": "Le référendum aura lieu le samedi 3 mars, a annoncé la commission électorale.",
    "de": "Das Referendum findet am Samstag, dem 3. März, statt, teilte die Wahlkommission mit.",
    "es": "El referéndum se celebrará el sábado 3 de marzo, según informó la comisión electoral.",
    "ru": "Референдум пройдет в субботу, 3 марта, сообщила избирательная комиссия.",
    "ar": "قالت اللجنة الانتخابية إن الاستفتاء سيجرى يوم السبت 3 مارس.",
    "zh": "选举委员会表示，公投将于3月3日星期六举行。",
}
# The same with Sunday for Saturday and May for March.
DATED_WRONG = {
    "fr": (
        "Le référendum aura lieu le dimanche 3 mai, a annoncé la commission électorale.",
        "dimanche",
        "mai",
    ),
    "de": (
        "Das Referendum findet am Sonntag, dem 3. Mai, statt, teilte die Wahlkommission mit.",
        "Sonntag",
        "Mai",
    ),
    "es": (
        "El referéndum se celebrará el domingo 3 de mayo, según informó la comisión electoral.",
        "domingo",
        "mayo",
    ),
    "ru": ("Референдум пройдет в воскресенье, 3 мая, сообщила избирательная комиссия.", "воскресенье", "мая"),
    "ar": ("قالت اللجنة الانتخابية إن الاستفتاء سيجرى يوم الأحد 3 مايو.", "الأحد", "مايو"),
    "zh": ("选举委员会表示，公投将于5月3日星期日举行。", "星期日", "5月"),
}


@pytest.mark.parametrize("target", sorted(DATED_RIGHT))
def test_a_date_translated_with_its_month_and_weekday_has_no_findings(detector, target):
    assert check_translation(DATED, DATED_RIGHT[target], "en", target, detector=detector) == []


@pytest.mark.parametrize("target", sorted(DATED_WRONG))
def test_a_changed_month_and_weekday_are_altered_numbers(detector, target):
    output, weekday, month = DATED_WRONG[target]
    findings = check_translation(DATED, output, "en", target, detector=detector)
    assert kinds(findings) == [K.NUMBER_ALTERED, K.NUMBER_ALTERED]
    assert {spanned(output, f) for f in findings} == {weekday, month}
    assert any("Sunday for Saturday" in f.detail for f in findings)


def test_a_month_or_weekday_left_out_is_missing_but_a_month_in_digits_is_kept():
    findings = check_dates(DATED, "Le référendum aura lieu le 3 mars.", "en", "fr")
    assert kinds(findings) == [K.NUMBER_MISSING]
    assert findings[0].in_source and spanned(DATED, findings[0]) == "Saturday"
    source = "The match is on September 29."
    assert check_dates(source, "Das Spiel findet am 29.9. statt.", "en", "de") == []
    assert check_dates(source, "Le match aura lieu le 29/09.", "en", "fr") == []


def test_a_date_in_a_dropped_or_untranslated_sentence_is_left_to_that_finding(detector):
    source = (
        "The port said on Friday that the dockers would return to work. "
        "Union leaders warned that the strike could resume in April. "
        "Shipping companies had diverted more than a dozen vessels during the dispute."
    )
    first = "Le port a annoncé vendredi que les dockers reprendraient le travail."
    third = "Les compagnies maritimes avaient dérouté plus d’une douzaine de navires pendant le conflit."
    dropped = check_translation(source, f"{first} {third}", "en", "fr", detector=detector)
    assert kinds(dropped) == [K.OMISSION]
    echoed = f"{first} Union leaders warned that the strike could resume in April. {third}"
    assert kinds(check_translation(source, echoed, "en", "fr", detector=detector)) == [K.ECHO]


def test_words_that_only_look_like_months_are_not_dates():
    # A name, not the month; a capitalised lower-case month inside a sentence is a name too.
    assert [m.unit for m in find_dates("Theresa May met Plácido Domingo.", "en")] == [4]
    assert not [m for m in find_dates("Theresa May met Plácido Domingo.", "en") if m.strong]
    assert [m.strong for m in find_dates("Cantó Plácido Domingo el domingo.", "es")] == [False, True]
    assert [m.text for m in find_dates("They met in May and on May 3.", "en") if m.strong] == ["May", "May"]
    # "Theresa May" stays a name in French: no month is missing, no other month added.
    source = "Theresa May spoke on Thursday."
    assert check_dates(source, "Theresa May a pris la parole jeudi.", "en", "fr") == []
    # Arabic "مارس" is also a verb ("exerted"): a month only next to a digit.
    assert [m.strong for m in find_dates("مارس الضغط في 3 مارس", "ar")] == [False, True]
    # Chinese "一周一次" (once a week) holds no Monday; "周一" does.
    assert [m.unit for m in find_dates("一周一次，周一，十二月，3个月", "zh")] == [12, 11]


def test_german_and_dutch_weekdays_join_parts_of_the_day():
    assert [m.text for m in find_dates("am Freitagmorgen, nicht die Montage", "de")] == ["Freitagmorgen"]
    assert [m.unit for m in find_dates("op zaterdagavond", "nl")] == [17]


def test_spell_unit_keeps_the_form_of_the_word_it_replaces():
    assert spell_unit(2, "ru", "января") == "марта"
    assert spell_unit(18, "fr", "Samedi") == "Dimanche"
    assert spell_unit(4, "zh", "9月") == "5月" and spell_unit(11, "zh", "三月") == "十二月"
    assert spell_unit(18, "zh", "周六") == "周日"
    assert spell_unit(18, "ar", "السبت") is None  # "الأحد" alone is also "anyone": no confirmed form


NATIONAL = "Russian officials met the Syrian delegation in Geneva on Monday."
NATIONAL_RIGHT = {
    "fr": "Des responsables russes ont rencontré lundi la délégation syrienne à Genève.",
    "de": "Russische Beamte trafen am Montag die syrische Delegation in Genf.",
    "es": "Funcionarios rusos se reunieron el lunes con la delegación siria en Ginebra.",
    "ru": "Российские официальные лица встретились в понедельник с сирийской делегацией в Женеве.",
    "ar": "التقى مسؤولون روس يوم الاثنين بالوفد السوري في جنيف.",
    "zh": "俄罗斯官员周一在日内瓦会见了叙利亚代表团。",
}


@pytest.mark.parametrize("target", sorted(NATIONAL_RIGHT))
def test_nationalities_translated_have_no_findings(detector, target):
    assert check_translation(NATIONAL, NATIONAL_RIGHT[target], "en", target, detector=detector) == []


@pytest.mark.parametrize(
    ("target", "output", "wrong"),
    [
        ("fr", "Des responsables français ont rencontré lundi la délégation syrienne à Genève.", "français"),
        ("de", "Französische Beamte trafen am Montag die syrische Delegation in Genf.", "Französische"),
        ("es", "Funcionarios franceses se reunieron el lunes con la delegación siria en Ginebra.",
         "franceses"),
        ("ru", "Французские официальные лица встретились в понедельник с сирийской делегацией в Женеве.",
         "Французские"),
        ("zh", "法国官员周一在日内瓦会见了叙利亚代表团。", "法国"),
    ],
)  # fmt: skip
def test_another_nationality_is_an_altered_name(detector, target, output, wrong):
    # The French summary: "Russian officials" became "les responsables français".
    findings = check_translation(NATIONAL, output, "en", target, detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED]
    assert spanned(output, findings[0]) == wrong and "'Russian'" in findings[0].detail


def test_a_changed_nationality_inside_a_sentence_is_reported_once(detector):
    source = "The talks with Russian officials resumed on Monday in Geneva."
    output = "Les pourparlers avec les responsables français ont repris lundi à Genève."
    findings = check_translation(source, output, "en", "fr", detector=detector)
    # check_names alone sees "Russian" missing; the nationality check says what took its place.
    assert kinds(check_names(source, output, "en", "fr")) == [K.NAME_MISSING]
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(output, findings[0]) == "français"


def test_a_made_up_german_nationality_is_altered(detector):
    # The German summary: "Syrianischen".
    output = "Russische Beamte trafen am Montag die Syrianischen Delegation in Genf."
    findings = check_translation(NATIONAL, output, "en", "de", detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(output, findings[0]) == "Syrianischen"
    assert "'Syrian'" in findings[0].detail


def test_turkey_left_in_english_in_german_is_altered(detector):
    # The German summary leaves "Turkey" in English: inside a sentence (check_names) and
    # opening one, where capitals say nothing and only the nationality table can tell.
    inside = "The leaders of Turkey and Germany met in Berlin on Saturday."
    output = "Die Staatschefs der Turkey und Deutschlands trafen sich am Samstag in Berlin."
    findings = check_translation(inside, output, "en", "de", detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(inside, findings[0]) == "Turkey"
    opening = "Turkey and Germany signed the agreement in Berlin on Saturday."
    output = "Turkey und Deutschland unterzeichneten das Abkommen am Samstag in Berlin."
    findings = check_translation(opening, output, "en", "de", detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(output, findings[0]) == "Turkey"
    right = "Die Türkei und Deutschland unterzeichneten das Abkommen am Samstag in Berlin."
    assert check_translation(opening, right, "en", "de", detector=detector) == []
    findings = check_nationalities(opening, "Turkey和德国周六在柏林签署了协议。", "en", "zh")
    assert kinds(findings) == [K.NAME_ALTERED]


def test_aleppo_turned_into_alexandria_is_still_caught(detector):
    # The Spanish summary: Aleppo became "Alejandría".
    output = "Steven Gerrard se reunió el lunes con responsables del Livingston en Alejandría."
    findings = check_translation(NAMED, output, "en", "es", detector=detector)
    assert kinds(findings) == [K.NAME_ALTERED] and spanned(output, findings[0]) == "Alejandría"


def test_nationalities_that_are_no_change():
    # Britain, England and Scotland stand for one another; a country added beside the source's
    # own is context, not a change; a country left out with none in its place is a choice.
    assert (
        check_nationalities("British officials said so.", "Des responsables anglais l'ont dit.", "en", "fr")
        == []
    )
    source = "Russian officials met on Monday."
    assert (
        check_nationalities(source, "Des responsables russes, selon la presse française.", "en", "fr") == []
    )
    assert check_nationalities(source, "Des responsables se sont réunis lundi.", "en", "fr") == []
    # "British Airways" is kept as a name, not left untranslated.
    assert (
        check_nationalities("He flew British Airways.", "Il a volé avec British Airways.", "en", "fr") == []
    )


def test_lower_case_words_that_spell_a_country_are_not_one():
    assert find_nationalities("uma conversa franca", "pt") == []
    assert [m.key for m in find_nationalities("a França", "pt")] == ["france"]
    assert find_nationalities("the turkey and the china", "en") == []
    assert [m.key for m in find_nationalities("印度尼西亚和印度", "zh")] == ["indonesia", "india"]
    assert [m.key for m in find_nationalities("EE.\u00a0UU. y la UE", "es")] == ["united states"]


def test_every_country_form_reads_as_its_own_country():
    places = {place.english for place in PLACES}
    for country in COUNTRIES:
        assert country.key in places
        assert set(country.forms) == set(LANGUAGES), country.key
        for language, cell in country.forms.items():
            for form in parse_forms(country.group, cell):
                found = find_nationalities(form.written, language)
                assert [(m.key, m.text) for m in found] == [(country.group, form.written)], (language, form)


def test_every_calendar_form_reads_as_its_own_month_or_day():
    for language in ("en", "fr", "de", "es", "it", "pt", "nl", "ru", "ar"):
        for unit in range(19):
            word = spell_unit(unit, language)
            if word is not None:
                assert [m.unit for m in find_dates(word, language)] == [unit], (language, word)


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


def test_summary_countries_must_come_from_the_article(detector):
    article = "Russian officials said on Tuesday that the talks would resume in Geneva next week."
    assert check_summary(article, "Russia says talks resume next week.", "en", detector=detector) == []
    findings = check_summary(
        article, "The talks will resume, Chinese officials say.", "en", detector=detector
    )
    assert kinds(findings) == [K.NAME_ALTERED]


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
        "Anna Keller, who runs a bakery in Zurich, said sales to German tourists fell by 30 percent "
        "after the new road opened last year.",
        {
            "fr": "Anna Keller, qui tient une boulangerie à Zurich, a déclaré que les ventes aux touristes "
            "allemands avaient baissé de 30 % après l’ouverture de la nouvelle route l’an dernier.",
            "de": "Anna Keller, die in Zürich eine Bäckerei führt, sagte, der Umsatz mit deutschen Touristen "
            "sei nach der Eröffnung der neuen Straße im vergangenen Jahr um 30 Prozent gesunken.",
            "ru": "Анна Келлер, владелица пекарни в Цюрихе, рассказала, что после открытия новой "
            "дороги в прошлом году продажи немецким туристам упали на 30 процентов.",
        },
    ),
    (
        "Officials in Porto expect 40,000 Spanish visitors for the festival, which returns after a pause "
        "of three years.",
        {
            "fr": "Les autorités de Porto attendent 40 000 visiteurs espagnols pour le festival, qui revient "
            "après trois ans d’interruption.",
            "de": "Die Behörden in Porto erwarten 40.000 spanische Besucher für das Festival, das nach drei "
            "Jahren Pause zurückkehrt.",
            "ru": "Власти Порту ожидают 40 000 испанских посетителей фестиваля, который возвращается после "
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
    for fault in ("echo", "loop", "wrong_language", "number", "drop_sentence", "date", "nationality"):
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
