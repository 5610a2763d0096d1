"""The CTranslate2 runtime's tokenizer without transformers, next to transformers' on the same folders.

On SmolLM2 (the tiny profile's packaged model) and on the tiny BART and T5 folders the tests build, the
tokenizer.json path must give the ids, the rendered chat prompt, the decoded text and the token strings
that transformers gives; folders it cannot read the same way go to transformers, or fail clearly where
transformers is missing. A converted model then loads and runs with torch and transformers unimportable.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from service.errors import ModelLoadError  # noqa: E402
from service.models.base import SUMMARIZE, TRANSLATE, GenerationParams, LoadContext, ModelSpec  # noqa: E402
from service.models.decoding import Request  # noqa: E402
from service.models.families import detect_family  # noqa: E402
from service.models.hf_files import load_tokenizer, read_config  # noqa: E402
from service.models.llm import gguf_cache_entry  # noqa: E402
from service.models.llm_prompts import summarize_messages, translate_messages  # noqa: E402
from service.models.registry import create_model  # noqa: E402
from service.models.seq2seq_text import Seq2SeqCodec, input_limit  # noqa: E402
from service.models.tokenizer_json import TokenizerJson, runtime_tokenizer, unsupported  # noqa: E402
from service.profiles import get_profile  # noqa: E402

pytestmark = [pytest.mark.models, pytest.mark.filterwarnings("ignore::UserWarning")]

REPO = Path(__file__).resolve().parents[2]
SEED = (REPO / "seeds" / "000_dba0962fc812cd96.txt").read_text(encoding="utf-8")
TINY_LLM = get_profile("tiny").models[0]
# Texts that reach the tokenizer's corners: a long article, accents and symbols, runs of spaces and blank
# lines, special tokens written in the text, a leading space, nothing.
SENTENCE = "Wheat prices rose on Monday."
TEXTS = [
    SEED,
    SENTENCE,
    "Ça coûte 12,5 € ; l’armée n't 'm  deux  espaces\n\nnouvelle ligne",
    "<|im_end|> <s> </s> <pad> written as text",
    "  leading spaces",
    "",
]


def _ids(encoded: Any) -> list[Any]:
    """transformers' input ids, whether it answered a list or a BatchEncoding."""
    ids = encoded["input_ids"] if hasattr(encoded, "keys") else encoded
    return [list(row) if isinstance(row, list) else row for row in ids]


def assert_same_text_side(folder: Path) -> None:
    """Ids, truncation, decoding, token strings and named tokens equal to transformers' tokenizer's."""
    ours, theirs = TokenizerJson(folder), load_tokenizer(folder)
    for text in TEXTS:
        for special in (True, False):
            assert ours(text, add_special_tokens=special)["input_ids"] == _ids(
                theirs(text, add_special_tokens=special)
            ), (text[:40], special)
        ids = _ids(theirs(text))
        for skip in (True, False):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)
        assert ours.convert_ids_to_tokens(ids) == theirs.convert_ids_to_tokens(ids)
        assert ours.convert_tokens_to_ids(ours.convert_ids_to_tokens(ids)) == ids
    batch = [SEED, TEXTS[1], ""]
    for limit in (8, 50):
        assert ours(batch, truncation=True, max_length=limit)["input_ids"] == _ids(
            theirs(batch, truncation=True, max_length=limit)
        )
    assert ours.num_special_tokens_to_add() == theirs.num_special_tokens_to_add()
    for name in ("bos_token_id", "eos_token_id", "unk_token_id", "pad_token_id", "model_max_length"):
        assert getattr(ours, name) == getattr(theirs, name), name
    for token in ("<|im_end|>", "<|endoftext|>", "</s>", "<pad>", "no-such-token"):
        assert ours.convert_tokens_to_ids(token) == theirs.convert_tokens_to_ids(token), token


# -- SmolLM2 -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def smollm2_folder() -> Path:
    """The tiny profile's Hugging Face folder, dequantized and converted into the cache by a first load."""
    model = create_model(TINY_LLM, LoadContext(cache_dir=_cache_dir(), runtime="ctranslate2"))
    assert isinstance(model.tokenizer, TokenizerJson)  # what the CTranslate2 runtime loads
    return gguf_cache_entry(TINY_LLM, _cache_dir()) / "hf"


def _cache_dir() -> Path:
    from service.config import settings_from_env
    from service.loader import load_context

    return load_context(settings_from_env({})).cache_dir


@pytest.fixture(scope="module", params=["tiny", "embedded"])
def llm_folder(request: pytest.FixtureRequest) -> Path:
    """SmolLM2, and Qwen2.5 (whose template trims whitespace) where `make setup` prepared the embedded
    profile; it is not prepared here, which needs minutes and several GB."""
    if request.param == "tiny":
        return Path(request.getfixturevalue("smollm2_folder"))
    folder = gguf_cache_entry(get_profile("embedded").models[0], _cache_dir()) / "hf"
    if not (folder / "tokenizer.json").is_file():
        pytest.skip(f"the embedded profile is not prepared in {folder.parent}")
    return folder


def test_llm_tokenizes_as_transformers_does(llm_folder: Path) -> None:
    assert unsupported(llm_folder) is None
    assert_same_text_side(llm_folder)


@pytest.mark.parametrize(
    "messages",
    [
        summarize_messages(SEED, "en", 3),
        translate_messages("Le conseil a voté le budget lundi.", "fr", "en"),
        [{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "Say OK."}],
    ],
    ids=["summarize", "translate", "system"],
)
def test_llm_renders_the_chat_prompt_as_transformers_does(
    llm_folder: Path, messages: list[dict[str, str]]
) -> None:
    ours, theirs = TokenizerJson(llm_folder), load_tokenizer(llm_folder)
    for generation_prompt in (True, False):
        rendered = ours.apply_chat_template(messages, add_generation_prompt=generation_prompt, tokenize=False)
        assert rendered == theirs.apply_chat_template(
            messages, add_generation_prompt=generation_prompt, tokenize=False
        )
        ids = ours.apply_chat_template(messages, add_generation_prompt=generation_prompt)
        assert ids == _ids(theirs.apply_chat_template(messages, add_generation_prompt=generation_prompt))
    assert isinstance(rendered, str) and messages[-1]["content"] in rendered


def test_the_llm_runtimes_build_the_same_prompt_ids() -> None:
    """The CTranslate2 backend (tokenizer.json) and the transformers one (transformers' tokenizer)."""
    context = LoadContext(cache_dir=_cache_dir(), runtime="ctranslate2")
    ct2 = create_model(TINY_LLM, context)
    reference = create_model(TINY_LLM, LoadContext(cache_dir=context.cache_dir, runtime="transformers"))
    assert isinstance(ct2.tokenizer, TokenizerJson) and not isinstance(reference.tokenizer, TokenizerJson)
    messages = summarize_messages(SEED, "en", 2)
    assert ct2.prompt_ids(messages) == reference.prompt_ids(messages)
    assert ct2.eos_ids == reference.eos_ids
    assert ct2.count_tokens(SEED) == reference.count_tokens(SEED)


def test_template_features_render_as_transformers_renders_them(smollm2_folder: Path, tmp_path: Path) -> None:
    """Trimmed blocks, loop controls, tojson, the generation tag, special-token variables, raise_exception."""
    from jinja2.exceptions import TemplateError

    folder = _copy_tokenizer(smollm2_folder, tmp_path)
    (folder / "chat_template.jinja").write_text(
        "{{ bos_token }}\n"
        "{% for m in messages %}\n"
        "    {% if m['role'] == 'system' %}{{ raise_exception('no system messages') }}{% endif %}\n"
        "    {% if loop.index > 2 %}{% break %}{% endif %}\n"
        "{{ m['role'] }}: {% generation %}{{ m['content'] | tojson }}{% endgeneration %}{{ eos_token }}\n"
        "{% endfor %}\n"
        "{% if add_generation_prompt %}assistant:{% endif %}",
        encoding="utf-8",
    )
    ours, theirs = TokenizerJson(folder), load_tokenizer(folder)
    messages = [{"role": "user", "content": f"Vingt-deux <b>{n}</b> à « Paris »"} for n in range(3)]
    rendered = ours.render_chat(messages, add_generation_prompt=True)
    assert rendered == theirs.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert "« Paris »" in rendered and "<b>1</b>" in rendered and "<b>2</b>" not in rendered
    for tokenizer in (ours, theirs):
        with pytest.raises(TemplateError, match="no system messages"):
            tokenizer.apply_chat_template([{"role": "system", "content": "x"}], tokenize=False)


def _copy_tokenizer(source: Path, target: Path) -> Path:
    for name in ("tokenizer.json", "tokenizer_config.json", "config.json"):
        (target / name).write_bytes((source / name).read_bytes())
    return target


# -- tiny seq2seq models ------------------------------------------------------------------------------

SEQ2SEQ_REQUESTS = {
    "bart": [Request(SUMMARIZE, "en", "en")],
    "t5": [Request(SUMMARIZE, "en", "en"), Request(TRANSLATE, "en", "de")],
}


@pytest.mark.parametrize("family", list(SEQ2SEQ_REQUESTS))
def test_tiny_seq2seq_tokenizes_as_transformers_does(family: str, request: pytest.FixtureRequest) -> None:
    folder = Path(request.getfixturevalue(f"{family}_dir"))
    assert unsupported(folder) is None
    assert_same_text_side(folder)


@pytest.mark.parametrize("family", list(SEQ2SEQ_REQUESTS))
def test_tiny_seq2seq_codec_is_the_same_on_either_tokenizer(
    family: str, request: pytest.FixtureRequest
) -> None:
    """What the seq2seq backend builds from the tokenizer: family, limit, prompts, prefixes, decoding."""
    folder = Path(request.getfixturevalue(f"{family}_dir"))
    spec = ModelSpec(name=f"tiny-{family}", backend="seq2seq", source=str(folder))
    config = read_config(folder)
    codecs = []
    for tokenizer in (TokenizerJson(folder), load_tokenizer(folder)):
        family_of = detect_family(spec, config.model_type, tokenizer)
        codecs.append(Seq2SeqCodec(spec.name, tokenizer, family_of, input_limit(spec, config, tokenizer), []))
    ours, theirs = codecs
    assert ours.family is theirs.family and ours.input_limit == theirs.input_limit
    requests = SEQ2SEQ_REQUESTS[family]
    assert ours.prompt_reserve(requests) == theirs.prompt_reserve(requests)
    for request_ in requests:
        encoded = ours.encode(TEXTS[:3], request_)
        assert encoded == theirs.encode(TEXTS[:3], request_)
        assert ours.prefix(request_) == theirs.prefix(request_)
        assert ours.decode(encoded) == theirs.decode(encoded)
        assert ours.to_tokens(encoded[1]) == theirs.to_tokens(encoded[1])
    assert [ours.count_tokens(t) for t in TEXTS] == [theirs.count_tokens(t) for t in TEXTS]


@pytest.mark.parametrize("family", ["marian", "m2m100", "mbart50", "nllb"])
def test_tokenizers_it_cannot_read_the_same_way_go_to_transformers(
    family: str, request: pytest.FixtureRequest
) -> None:
    """Sentencepiece files without tokenizer.json (Marian, M2M100), or a source language kept as state
    (mBART-50, NLLB; Marian too)."""
    folder = Path(request.getfixturevalue(f"{family}_dir"))
    assert unsupported(folder) is not None
    tokenizer = runtime_tokenizer(folder, "ctranslate2", family)
    assert not isinstance(tokenizer, TokenizerJson)
    assert type(tokenizer).__name__ == type(load_tokenizer(folder)).__name__


def test_without_transformers_such_a_tokenizer_fails_to_load_clearly(
    marian_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "transformers", None)  # `import transformers` raises ImportError
    with pytest.raises(ModelLoadError, match="tiny-marian.*needs transformers.*no tokenizer.json"):
        runtime_tokenizer(marian_dir, "ctranslate2", "tiny-marian")


def test_the_transformers_runtime_keeps_transformers_tokenizer(bart_dir: Path) -> None:
    assert not isinstance(runtime_tokenizer(bart_dir, "transformers", "tiny-bart"), TokenizerJson)


# -- without torch and transformers ------------------------------------------------------------------

# Run in a fresh interpreter in which importing torch, transformers or accelerate fails, as in the slim
# image: a converted model must load and generate all the same.
_WITHOUT_TORCH = """
import json, os, sys
for name in ("torch", "transformers", "accelerate"):
    sys.modules[name] = None
from pathlib import Path
from service.models.base import GenerationParams, LoadContext, ModelSpec
from service.models.registry import create_model
from service.models.tokenizer_json import TokenizerJson
"""


def _run_without_torch(body: str) -> dict[str, Any]:
    script = _WITHOUT_TORCH + textwrap.dedent(body)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_converted_bart_summarizes_without_torch_or_transformers(bart_dir: Path, model_cache: Path) -> None:
    spec = ModelSpec(
        name="tiny-bart", backend="seq2seq", source=str(bart_dir), tasks=(SUMMARIZE,), languages=("en",)
    )
    context = LoadContext(cache_dir=model_cache, threads=1, runtime="ctranslate2", offline=True)
    short = GenerationParams(max_new_tokens=4, num_beams=1)
    # Converted into the cache here, unless an earlier test did it.
    expected = create_model(spec, context).generate_ids([SENTENCE], Request(SUMMARIZE, "en", "en"), short, 4)
    result = _run_without_torch(
        f"""
        from service.models.decoding import Request
        spec = ModelSpec(
            name="tiny-bart", backend="seq2seq", source={str(bart_dir)!r}, tasks=("summarize",),
            languages=("en",),
        )
        cache = Path({str(model_cache)!r})
        context = LoadContext(cache_dir=cache, threads=1, runtime="ctranslate2", offline=True)
        model = create_model(spec, context)
        short = GenerationParams(max_new_tokens=4, num_beams=1)
        ids = model.generate_ids([{SENTENCE!r}], Request("summarize", "en", "en"), short, 4)
        light = isinstance(model.codec.tokenizer, TokenizerJson)
        print(json.dumps({{"ids": ids, "light": light}}), flush=True)
        os._exit(0)  # a live CTranslate2 model now and then aborts the interpreter's shutdown
        """
    )
    assert result == {"ids": expected, "light": True}
