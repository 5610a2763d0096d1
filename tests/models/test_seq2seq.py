"""The seq2seq backend on tiny random-weight models of each family, loaded from local folders.

Random weights write nonsense, so these tests check what the backend controls: the input it builds, the
language tokens it forces, the lengths it allows, cancellation, batching and loading errors.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from service.errors import ModelLoadError, RequestCancelledError  # noqa: E402
from service.models import seq2seq_text  # noqa: E402
from service.models.base import (  # noqa: E402
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    LoadContext,
    ModelSpec,
    Summarizer,
    Translator,
)
from service.models.decoding import Request  # noqa: E402
from service.models.registry import create_model  # noqa: E402
from service.models.seq2seq import Seq2SeqModel  # noqa: E402

pytestmark = [
    pytest.mark.models,
    # MarianTokenizer asks for an optional punctuation normaliser that the service does not need.
    pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses:UserWarning"),
]

TEXT = (
    "The senior delegation arrived in Damascus on Monday and met the president. "
    "Officials discussed the military situation in the north of the country."
)
# Translations get a budget from their input's length, so they are kept short to keep the tests fast.
SENTENCE = "Wheat prices rose on Monday."
SHORT = GenerationParams(max_new_tokens=6, num_beams=1)


def load(folder: Path, tmp_path: Path, **fields: Any) -> Seq2SeqModel:
    spec = ModelSpec(name=fields.pop("name", "tiny"), backend="seq2seq", source=str(folder), **fields)
    return Seq2SeqModel(spec, LoadContext(cache_dir=tmp_path, threads=1, offline=True))


def first_input_token(model: Seq2SeqModel, request: Request) -> str:
    return model.codec.tokenizer.convert_ids_to_tokens(model.codec.encode([TEXT], request)[0][0])


def translate(source: str, target: str) -> Request:
    return Request(TRANSLATE, source, target)


def summary(language: str) -> Request:
    return Request(SUMMARIZE, language, language)


# -- Marian (OPUS-MT) -----------------------------------------------------------------------------------


def test_marian_single_pair_translates_its_pair_only(marian_dir: Path, tmp_path: Path) -> None:
    model = load(marian_dir, tmp_path, tasks=(TRANSLATE,), pairs=(("en", "de"),))

    assert model.family == "marian"
    assert isinstance(model, Translator)
    assert model.translates("en", "de")
    assert not model.translates("de", "en")
    assert not model.translates("en", "fr")
    assert not model.summarizes("en")
    # No target tokens in this vocabulary: the text goes in as it is.
    assert not first_input_token(model, translate("en", "de")).startswith(">>")
    out = model.translate([SENTENCE, "Second sentence."], "en", "de", SHORT)
    assert len(out) == 2 and all(isinstance(text, str) for text in out)


def test_marian_multi_target_prefixes_the_target_token(marian_multi_dir: Path, tmp_path: Path) -> None:
    pairs = (("en", "fr"), ("en", "es"), ("en", "de"))
    model = load(marian_multi_dir, tmp_path, tasks=(TRANSLATE,), pairs=pairs)

    # Three-letter and two-letter spellings are both found; German has no token in this vocabulary.
    assert first_input_token(model, translate("en", "fr")) == ">>fra<<"
    assert first_input_token(model, translate("en", "es")) == ">>es<<"
    assert model.translates("en", "fr") and model.translates("en", "es")
    assert not model.translates("en", "de")
    # The target token is counted into the room kept for the prompt.
    assert model.max_input_tokens == 64 - 1


def test_marian_input_longer_than_the_model_is_truncated_not_an_error(
    marian_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = load(marian_dir, tmp_path, tasks=(TRANSLATE,), pairs=(("en", "de"),))
    long_text = " ".join([TEXT] * 10)
    total = model.count_tokens(long_text)
    assert total > 64

    with caplog.at_level(logging.DEBUG, logger=seq2seq_text.__name__):
        [source] = model.codec.encode([long_text], translate("en", "de"))
    assert len(source) == 64
    assert f"input of {total} tokens truncated to 64" in caplog.text
    # The output budget grows with the input but stays inside the decoder's 64 positions.
    ids = model.generate_ids([long_text], translate("en", "de"), SHORT, None)
    assert len(ids[0]) <= 64


# -- BART -----------------------------------------------------------------------------------------------


def test_bart_summarizes_plain_input_within_the_requested_length(bart_dir: Path, tmp_path: Path) -> None:
    model = load(bart_dir, tmp_path, languages=("en",))

    assert model.family == "plain"
    assert isinstance(model, Summarizer)
    assert model.summarizes("en") and not model.summarizes("fr")
    assert not model.translates("en", "fr")
    assert model.max_input_tokens == 128
    [source] = model.codec.encode([TEXT], summary("en"))
    assert model.codec.tokenizer.decode(source, skip_special_tokens=True) == TEXT
    # No language to force, but the checkpoint's own first token (BART's <s>) still opens the output.
    assert model.codec.prefix(summary("en")) == [model.codec.tokenizer.bos_token_id]

    # The checkpoint asks for at least 56 tokens and 4 beams; the service's parameters win.
    params = GenerationParams(max_new_tokens=5, min_new_tokens=3, num_beams=2)
    ids = model.generate_ids([TEXT], summary("en"), params, params.max_new_tokens)
    assert 3 <= len(ids[0]) <= 5 and ids[0][0] == model.codec.tokenizer.bos_token_id
    result = model.summarize(TEXT, "en", params)
    assert isinstance(result.text, str) and result.text


def test_checkpoint_lengths_do_not_warn_on_every_call(
    bart_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = load(bart_dir, tmp_path, languages=("en",))
    with caplog.at_level(logging.WARNING):
        model.summarize(TEXT, "en", SHORT)
    assert [record.getMessage() for record in caplog.records] == []


def test_count_tokens_matches_the_model_input(bart_dir: Path, tmp_path: Path) -> None:
    model = load(bart_dir, tmp_path, languages=("en",))
    assert model.count_tokens(TEXT) == len(model.codec.encode([TEXT], summary("en"))[0])


def test_max_input_tokens_option_lowers_the_limit(bart_dir: Path, tmp_path: Path) -> None:
    model = load(bart_dir, tmp_path, options={"max_input_tokens": 40})
    assert model.max_input_tokens == 40
    assert len(model.codec.encode([" ".join([TEXT] * 5)], summary("en"))[0]) == 40


# -- T5 -------------------------------------------------------------------------------------------------


def test_t5_writes_the_task_prefix(t5_dir: Path, tmp_path: Path) -> None:
    model = load(t5_dir, tmp_path, tasks=(SUMMARIZE, TRANSLATE), languages=("en",), pairs=(("en", "de"),))
    tokenizer = model.codec.tokenizer

    assert model.family == "t5"
    [summary_ids] = model.codec.encode([TEXT], summary("en"))
    assert tokenizer.decode(summary_ids, skip_special_tokens=True).startswith("summarize: The")
    [translation_ids] = model.codec.encode([TEXT], translate("en", "de"))
    decoded = tokenizer.decode(translation_ids, skip_special_tokens=True)
    assert decoded.startswith("translate English to German: The")

    # The room kept for the longest prefix covers it, so a chunk of max_input_tokens is never truncated.
    reserve = 256 - model.max_input_tokens
    assert len(translation_ids) - model.count_tokens(TEXT) <= reserve
    assert reserve > 0
    assert isinstance(model.summarize(TEXT, "en", SHORT).text, str)
    assert len(model.translate([SENTENCE], "en", "de", SHORT)) == 1


def test_family_option_overrides_detection(t5_dir: Path, tmp_path: Path) -> None:
    model = load(t5_dir, tmp_path, options={"family": "plain"})
    [source] = model.codec.encode([TEXT], summary("en"))
    assert model.family == "plain"
    assert model.codec.tokenizer.decode(source, skip_special_tokens=True) == TEXT


def test_unknown_family_option_fails_to_load(t5_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="unknown family 'pegasus-x'.*known: .*marian"):
        load(t5_dir, tmp_path, name="odd", options={"family": "pegasus-x"})


# -- language-code families -----------------------------------------------------------------------------


def test_m2m100_sets_the_source_and_forces_the_target_token(m2m100_dir: Path, tmp_path: Path) -> None:
    pairs = (("en", "fr"), ("en", "de"), ("en", "eo"))
    model = load(m2m100_dir, tmp_path, tasks=(SUMMARIZE, TRANSLATE), languages=("fr",), pairs=pairs)
    tokenizer = model.codec.tokenizer

    assert model.family == "m2m_100"
    assert first_input_token(model, translate("en", "fr")) == "__en__"
    for target in ("fr", "de"):
        ids = model.generate_ids([TEXT], translate("en", target), SHORT, 4)
        # The output opens with the forced language token.
        assert ids[0][0] == tokenizer.get_lang_id(target)
    ids = model.generate_ids([TEXT], summary("fr"), SHORT, 4)
    assert ids[0][0] == tokenizer.get_lang_id("fr")
    assert first_input_token(model, summary("fr")) == "__fr__"
    # The forced token is not part of the text, even though this tokenizer does not mark it special.
    translation = model.translate([SENTENCE], "en", "fr", SHORT)[0]
    assert translation and "__" not in translation
    # Esperanto is configured but M2M100 has no token for it.
    assert model.translates("en", "fr") and not model.translates("en", "eo")
    assert not model.translates("fr", "en")


def test_mbart50_uses_its_language_codes(mbart50_dir: Path, tmp_path: Path) -> None:
    pairs = (("en", "fr"), ("de", "zh"), ("en", "sw"))
    model = load(mbart50_dir, tmp_path, tasks=(TRANSLATE,), pairs=pairs)
    tokenizer = model.codec.tokenizer

    assert model.family == "mbart"
    assert first_input_token(model, translate("en", "fr")) == "en_XX"
    assert first_input_token(model, translate("de", "zh")) == "de_DE"
    ids = model.generate_ids([TEXT], translate("de", "zh"), SHORT, 4)
    assert ids[0][0] == tokenizer.convert_tokens_to_ids("zh_CN")
    # Swahili is not in the service's mBART-50 table.
    assert model.translates("de", "zh") and not model.translates("en", "sw")


def test_nllb_is_told_apart_from_m2m100_by_its_tokenizer(nllb_dir: Path, tmp_path: Path) -> None:
    model = load(nllb_dir, tmp_path, tasks=(TRANSLATE,), pairs=(("en", "ru"), ("ar", "zh")))
    tokenizer = model.codec.tokenizer

    assert model.family == "nllb"
    assert first_input_token(model, translate("ar", "zh")) == "arb_Arab"
    ids = model.generate_ids([TEXT], translate("en", "ru"), SHORT, 4)
    assert ids[0][0] == tokenizer.convert_tokens_to_ids("rus_Cyrl")
    assert len(model.translate([SENTENCE, SENTENCE], "en", "ru", SHORT)) == 2


# -- batching, cancellation, warm-up, loading -----------------------------------------------------------


def test_batched_translation_keeps_count_and_order(m2m100_dir: Path, tmp_path: Path) -> None:
    model = load(m2m100_dir, tmp_path, tasks=(TRANSLATE,), pairs=(("en", "fr"),), options={"batch_size": 2})
    texts = [
        SENTENCE,
        "",
        "Wheat harvest.",
        "The port was closed by a strike.",
        "Regulators approved the wind farm.",
    ]
    alone = [model.translate([text], "en", "fr", SHORT)[0] for text in texts]
    # Otherwise the order check below could not fail.
    assert len({text for text in alone if text}) >= 3

    together = model.translate(texts, "en", "fr", SHORT)
    assert together == alone
    assert together[1] == ""


def test_should_stop_cancels_before_generation(bart_dir: Path, tmp_path: Path) -> None:
    model = load(bart_dir, tmp_path, tasks=(SUMMARIZE, TRANSLATE), languages=("en",), pairs=(("en", "fr"),))
    params = GenerationParams(max_new_tokens=5, should_stop=lambda: True)
    with pytest.raises(RequestCancelledError):
        model.summarize(TEXT, "en", params)
    with pytest.raises(RequestCancelledError):
        model.translate([TEXT], "en", "fr", params)


@pytest.mark.parametrize("num_beams", [1, 2])
def test_should_stop_is_polled_between_decoding_steps(bart_dir: Path, tmp_path: Path, num_beams: int) -> None:
    model = load(bart_dir, tmp_path, languages=("en",))
    calls = 0

    def stop_on_third_poll() -> bool:
        nonlocal calls
        calls += 1
        return calls >= 3

    params = GenerationParams(
        max_new_tokens=40, min_new_tokens=40, num_beams=num_beams, should_stop=stop_on_third_poll
    )
    with pytest.raises(RequestCancelledError):
        model.summarize(TEXT, "en", params)
    # Polled before generating and after each step, and generation ended as soon as it said so.
    assert calls == 3


def test_warmup_describe_and_registry(m2m100_dir: Path, tmp_path: Path) -> None:
    spec = ModelSpec(
        name="m2m-tiny",
        backend="seq2seq",
        source=str(m2m100_dir),
        tasks=(TRANSLATE,),
        languages=("en", "fr", "de"),
        options={"translate_all": True},
    )
    model = create_model(spec, LoadContext(cache_dir=tmp_path, offline=True))
    assert isinstance(model, Seq2SeqModel)
    model.warmup()

    description = model.describe()
    assert description.backend == "seq2seq" and description.runtime == "transformers"
    assert description.source == str(m2m100_dir)
    assert description.tasks == (TRANSLATE,)
    assert set(description.translation_pairs) == {
        (a, b) for a in "en fr de".split() for b in "en fr de".split() if a != b
    }
    assert model.translates("de", "fr")


def test_missing_local_folder_names_the_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        load(tmp_path / "no-such-model", tmp_path, name="opus-mt-xx-yy")
    message = str(caught.value)
    assert "opus-mt-xx-yy" in message and "no-such-model" in message
    assert "\n" not in message


def test_hub_id_offline_miss_says_how_to_fetch(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    seen: dict[str, Any] = {}

    def not_cached(source: str, **kwargs: Any) -> None:
        seen.update(kwargs, source=source)
        raise OSError("We couldn't find it in the cached files.\nMore details follow.")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", not_cached)
    spec = ModelSpec(name="distilbart", backend="seq2seq", source="sshleifer/distilbart-cnn-12-6")
    # Offline mode comes from the load context (Settings reads HF_HUB_OFFLINE), not from the environment.
    with pytest.raises(ModelLoadError) as caught:
        Seq2SeqModel(spec, LoadContext(cache_dir=tmp_path, offline=True))

    assert seen == {"source": "sshleifer/distilbart-cnn-12-6", "local_files_only": True}
    message = str(caught.value)
    assert "distilbart" in message and "hf download sshleifer/distilbart-cnn-12-6" in message
    assert "cached files" in message and "\n" not in message


def test_offline_mode_comes_from_the_load_context_only(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    asked: list[bool] = []

    def not_cached(source: str, **kwargs: Any) -> None:
        asked.append(kwargs["local_files_only"])
        raise OSError("We couldn't find it in the cached files.")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", not_cached)
    # The environment does not decide: Settings reads it once and sets the context.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = ModelSpec(name="distilbart", backend="seq2seq", source="sshleifer/distilbart-cnn-12-6")
    for offline in (False, True):
        with pytest.raises(ModelLoadError):
            Seq2SeqModel(spec, LoadContext(cache_dir=tmp_path, offline=offline))
    assert asked == [False, True]
