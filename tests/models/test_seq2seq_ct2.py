"""The seq2seq backend's CTranslate2 runtime on the tiny models of four families, next to transformers.

What is checked is what the runtime controls: the conversion and its cache, the probe that refuses a bad
conversion, the same tokens as transformers for the same input, batching, several targets in one batch,
cancellation, the forced output length the benchmarks use, and a cached conversion that rots.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("ctranslate2")

from service.errors import ModelLoadError, RequestCancelledError  # noqa: E402
from service.models import ct2_convert, ct2_fingerprint  # noqa: E402
from service.models.base import (  # noqa: E402
    SUMMARIZE,
    TRANSLATE,
    GenerationParams,
    LoadContext,
    ModelSpec,
    MultiTargetTranslator,
)
from service.models.ct2_fingerprint import FINGERPRINT_FILE, Fingerprint  # noqa: E402
from service.models.decoding import Request  # noqa: E402
from service.models.seq2seq import Seq2SeqModel  # noqa: E402
from tests.models.ct2_damage import damage_weights  # noqa: E402

pytestmark = [
    pytest.mark.models,
    # MarianTokenizer asks for an optional punctuation normaliser that the service does not need.
    pytest.mark.filterwarnings("ignore:Recommended. pip install sacremoses:UserWarning"),
]

TEXT = (
    "The senior delegation arrived in Damascus on Monday and met the president. "
    "Officials discussed the military situation in the north of the country."
)
SENTENCE = "Wheat prices rose on Monday."
SHORT = GenerationParams(max_new_tokens=6, num_beams=1)

# What each family's model is configured for, and the request the tests send it.
SPECS: dict[str, dict[str, Any]] = {
    "marian": {"tasks": (TRANSLATE,), "pairs": (("en", "de"),)},
    "bart": {"tasks": (SUMMARIZE,), "languages": ("en",)},
    "t5": {"tasks": (SUMMARIZE, TRANSLATE), "languages": ("en",), "pairs": (("en", "de"),)},
    "m2m100": {"tasks": (TRANSLATE,), "pairs": (("en", "fr"), ("en", "de"))},
}
REQUESTS = {
    "marian": Request(TRANSLATE, "en", "de"),
    "bart": Request(SUMMARIZE, "en", "en"),
    "t5": Request(TRANSLATE, "en", "de"),
    "m2m100": Request(TRANSLATE, "en", "fr"),
}
FAMILIES = list(SPECS)


@pytest.fixture
def folder_of(request: pytest.FixtureRequest) -> Any:
    def folder(family: str) -> Path:
        return Path(request.getfixturevalue(f"{family}_dir"))

    return folder


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every conversion the backend starts during the test, by output folder."""
    seen: list[Path] = []
    convert = ct2_convert.convert_checkpoint

    def counting(hf_folder: Path, output: Path, quantization: str, **kwargs: Any) -> None:
        seen.append(output)
        convert(hf_folder, output, quantization, **kwargs)

    monkeypatch.setattr(ct2_convert, "convert_checkpoint", counting)
    return seen


def load(
    folder: Path, family: str, cache: Path, *, runtime: str = "ctranslate2", **options: Any
) -> Seq2SeqModel:
    spec = ModelSpec(
        name=f"tiny-{family}", backend="seq2seq", source=str(folder), options=options, **SPECS[family]
    )
    return Seq2SeqModel(spec, LoadContext(cache_dir=cache, threads=1, runtime=runtime, offline=True))


# -- conversion and cache -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_converts_once_and_loads_from_the_cache(
    family: str, folder_of: Any, tmp_path: Path, conversions: list[Path]
) -> None:
    first = load(folder_of(family), family, tmp_path)

    assert first.describe().runtime == "ctranslate2"
    [entry] = (tmp_path / "seq2seq").iterdir()
    assert entry.name.startswith(f"tiny-{family}-")
    model_file = entry / "ct2-int8" / "model.bin"
    assert model_file.is_file() and len(conversions) == 1
    # Nothing half-built is left next to it.
    assert sorted(p.name for p in entry.iterdir() if not p.name.startswith(".")) == ["ct2-int8"]
    written = model_file.stat().st_mtime_ns

    second = load(folder_of(family), family, tmp_path)
    assert len(conversions) == 1 and model_file.stat().st_mtime_ns == written
    request = REQUESTS[family]
    assert second.generate_ids([TEXT], request, SHORT, 6) == first.generate_ids([TEXT], request, SHORT, 6)


def test_a_changed_source_folder_is_converted_again(
    t5_dir: Path, tmp_path: Path, conversions: list[Path]
) -> None:
    folder = tmp_path / "t5"
    folder.mkdir()
    for path in t5_dir.iterdir():
        (folder / path.name).write_bytes(path.read_bytes())
    load(folder, "t5", tmp_path / "cache")
    config = folder / "config.json"
    config.write_text(config.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    load(folder, "t5", tmp_path / "cache")
    assert len(conversions) == 2 and len(list((tmp_path / "cache" / "seq2seq").iterdir())) == 2


def test_a_conversion_that_computes_something_else_is_refused(
    m2m100_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ctranslate2.converters import transformers as converters

    # A converter bug of a kind that still writes a loadable model: positions shifted by two.
    def shifted(self: Any, spec: Any, module: Any) -> None:
        spec.encodings = module.weights[: -module.offset]

    monkeypatch.setattr(converters.M2M100Loader, "set_position_encodings", shifted)
    with pytest.raises(ModelLoadError) as caught:
        load(m2m100_dir, "m2m100", tmp_path)
    message = str(caught.value)
    assert "disagrees with transformers" in message and "runtime 'transformers'" in message
    assert "\n" not in message
    # Refused conversions are not cached.
    [entry] = (tmp_path / "seq2seq").iterdir()
    assert [p.name for p in entry.iterdir() if not p.name.startswith(".")] == []


# -- the same tokens as transformers --------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_greedy_tokens_match_transformers(family: str, folder_of: Any, model_cache: Path) -> None:
    # float32, so that only float rounding separates the runtimes; int8 may pick other tokens.
    converted = load(folder_of(family), family, model_cache, compute_type="float32")
    reference = load(folder_of(family), family, model_cache, runtime="transformers")
    request = REQUESTS[family]
    texts = [TEXT, SENTENCE]

    ours = converted.generate_ids(texts, request, SHORT, 8)
    theirs = reference.generate_ids(texts, request, SHORT, 8)
    for mine, expected in zip(ours, theirs, strict=True):
        assert mine[: len(expected)] == expected
        # OPUS-MT's checkpoint forces its end token into the last place, which CTranslate2 does not do.
        assert len(expected) >= min(len(mine), 8 - 1)


@pytest.mark.parametrize("family", FAMILIES)
def test_scores_match_transformers(family: str, folder_of: Any, model_cache: Path) -> None:
    """Both runtimes report the mean log-probability of what they wrote (the end token counted, a forced
    language token not): for the same tokens, the same figure."""
    converted = load(folder_of(family), family, model_cache, compute_type="float32")
    reference = load(folder_of(family), family, model_cache, runtime="transformers")
    request = REQUESTS[family]
    texts = [TEXT, SENTENCE]
    params = GenerationParams(max_new_tokens=12, num_beams=1)
    if request.task == SUMMARIZE:
        ours = converted.summarize_many(texts, "en", params)
        theirs = reference.summarize_many(texts, "en", params)
    else:
        ours = converted.translate_scored(texts, request.source, request.target, params)  # type: ignore[assignment]
        theirs = reference.translate_scored(texts, request.source, request.target, params)  # type: ignore[assignment]
        assert [o.text for o in ours] == converted.translate(texts, request.source, request.target, params)
    for mine, expected in zip(ours, theirs, strict=True):
        assert mine.log_prob is not None and expected.log_prob is not None and mine.log_prob < 0
        # OPUS-MT's checkpoint forces an end token (log-probability 0) into the last place, which
        # CTranslate2 does not do: there the two runtimes write different things.
        if family != "marian":
            assert mine.text == expected.text
            assert mine.log_prob == pytest.approx(expected.log_prob, abs=1e-3)


# -- batching and several targets -----------------------------------------------------------------------


def test_batched_translation_keeps_count_and_order(m2m100_dir: Path, model_cache: Path) -> None:
    model = load(m2m100_dir, "m2m100", model_cache, batch_size=2)
    texts = [SENTENCE, "", "Wheat harvest.", "The port was closed by a strike.", "Regulators approved it."]
    alone = [model.translate([text], "en", "fr", SHORT)[0] for text in texts]
    # Otherwise the order check below could not fail.
    assert len({text for text in alone if text}) >= 3

    together = model.translate(texts, "en", "fr", SHORT)
    assert together == alone and together[1] == ""


def test_many_targets_go_in_one_batch_each_with_its_language_forced(
    m2m100_dir: Path, marian_dir: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load(m2m100_dir, "m2m100", model_cache)
    assert isinstance(model, MultiTargetTranslator)
    # One OPUS-MT model per pair: the pipeline asks it target by target.
    assert not isinstance(load(marian_dir, "marian", model_cache), MultiTargetTranslator)

    calls: list[tuple[list[list[int]], list[list[int]]]] = []
    generate = model.runtime.generate

    def spy(sources: Any, prefixes: Any, decode: Any) -> list[list[int]]:
        rows = generate(sources, prefixes, decode)
        calls.append((list(prefixes), rows))
        return rows

    monkeypatch.setattr(model.runtime, "generate", spy)
    texts = [SENTENCE, "", "Wheat harvest."]
    result = model.translate_to_many(texts, "en", ["fr", "de"], SHORT)

    assert list(result) == ["fr", "de"]
    [(prefixes, rows)] = calls
    tokenizer = model.codec.tokenizer
    language_ids = {tokenizer.get_lang_id("fr"), tokenizer.get_lang_id("de")}
    assert len(rows) == 4 and {prefix[0] for prefix in prefixes} == language_ids
    for prefix, row in zip(prefixes, rows, strict=True):
        assert row[0] == prefix[0]
    calls.clear()
    for target in ("fr", "de"):
        assert result[target] == model.translate(texts, "en", target, SHORT)
        assert result[target][1] == "" and all("__" not in text for text in result[target])


@pytest.mark.parametrize(
    ("family", "target", "token"), [("mbart50", "zh", "zh_CN"), ("nllb", "ru", "rus_Cyrl")]
)
def test_mbart50_and_nllb_convert_and_open_with_the_target_language(
    family: str, target: str, token: str, folder_of: Any, model_cache: Path
) -> None:
    spec = ModelSpec(
        name=f"tiny-{family}",
        backend="seq2seq",
        source=str(folder_of(family)),
        tasks=(TRANSLATE,),
        pairs=(("en", target), ("en", "fr")),
    )
    model = Seq2SeqModel(spec, LoadContext(cache_dir=model_cache, runtime="ctranslate2", offline=True))
    assert isinstance(model, MultiTargetTranslator)
    ids = model.generate_ids([TEXT], Request(TRANSLATE, "en", target), SHORT, 4)
    assert ids[0][0] == model.codec.tokenizer.convert_tokens_to_ids(token)


def test_transformers_runtime_translates_to_many_the_same_way(m2m100_dir: Path, model_cache: Path) -> None:
    model = load(m2m100_dir, "m2m100", model_cache, runtime="transformers")
    texts = [SENTENCE, "Wheat harvest."]
    result = model.translate_to_many(texts, "en", ["fr", "de"], SHORT)
    assert result == {target: model.translate(texts, "en", target, SHORT) for target in ("fr", "de")}


# -- batching across requests ---------------------------------------------------------------------------

CONCURRENT_TEXTS = [SENTENCE, "Wheat harvest.", "The port was closed by a strike.", TEXT]


def run_together(calls: list[Any]) -> list[Any]:
    """Start the calls at one moment on their own threads, as concurrent requests do."""
    barrier = threading.Barrier(len(calls))

    def run(call: Any) -> Any:
        barrier.wait()
        try:
            return call()
        except Exception as err:  # returned, so that the test sees each outcome
            return err

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# These tests give the batch a long gathering delay and a size cap of exactly the rows they send: the
# batch runs as soon as every row is in, however slowly a loaded machine starts the threads.


def test_concurrent_requests_decode_in_one_batch(marian_dir: Path, model_cache: Path) -> None:
    model = load(marian_dir, "marian", model_cache, max_batch=4, max_batch_delay_ms=1000)
    alone = [model.translate([text], "en", "de", SHORT) for text in CONCURRENT_TEXTS]
    assert len({tuple(result) for result in alone}) >= 3  # otherwise a mix-up could not show
    batcher = model.runtime.batcher
    before = batcher.batches_run

    together = run_together(
        [lambda text=text: model.translate([text], "en", "de", SHORT) for text in CONCURRENT_TEXTS]
    )

    assert together == alone
    assert batcher.largest_batch == len(CONCURRENT_TEXTS) and batcher.batches_run == before + 1


class RecordingTranslator:
    """Wraps a real ctranslate2.Translator: records each translate_batch call's rows, its max_batch_size and
    the threads its step callback ran on (one per replica that decoded part of it).

    A replica's first step waits a little: the tiny model decodes a part in milliseconds, so without it the
    replica that took the first part could finish it and take the second before the other replica woke."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.calls: list[tuple[int, int, int]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def translate_batch(self, source: list[Any], *args: Any, **kwargs: Any) -> Any:
        threads: set[int] = set()
        callback = kwargs.get("callback")
        if callback is not None:

            def recorded(step: Any) -> bool:
                if threading.get_ident() not in threads:
                    threads.add(threading.get_ident())
                    time.sleep(0.05)
                return callback(step)

            kwargs["callback"] = recorded
        out = self.real.translate_batch(source, *args, **kwargs)
        self.calls.append((len(source), kwargs.get("max_batch_size", 0), len(threads)))
        return out


def test_two_replicas_decode_one_call_side_by_side_and_match_one_by_one(
    marian_dir: Path, model_cache: Path
) -> None:
    model = load(marian_dir, "marian", model_cache, max_batch=2, max_batch_delay_ms=1000, inter_threads=2)
    assert model.describe().thread_layout == "2x1"
    assert model.runtime.translator.num_translators == 2
    alone = [model.translate([text], "en", "de", SHORT) for text in CONCURRENT_TEXTS]
    recording = RecordingTranslator(model.runtime.translator)
    model.runtime.translator = recording

    together = run_together(
        [lambda text=text: model.translate([text], "en", "de", SHORT) for text in CONCURRENT_TEXTS]
    )

    assert together == alone
    # One batch of up to `max_batch` rows per replica, which CTranslate2 splits evenly between the two.
    assert recording.calls == [(4, 2, 2)]


def test_a_measured_layout_is_one_of_the_candidates(marian_dir: Path, tmp_path: Path) -> None:
    spec = ModelSpec(
        name="tiny-marian",
        backend="seq2seq",
        source=str(marian_dir),
        options={"thread_layout": "measure"},
        **SPECS["marian"],
    )
    model = Seq2SeqModel(
        spec, LoadContext(cache_dir=tmp_path, threads=2, runtime="ctranslate2", offline=True)
    )
    assert model.describe().thread_layout in ("1x2", "2x1")
    assert model.translate(["Hello world."], "en", "de", SHORT)


class StepCounter:
    """Wraps the CTranslate2 translator and counts the decoding steps each batch row took."""

    def __init__(self, translator: Any) -> None:
        self._translator = translator
        self.steps: list[dict[int, int]] = []

    def translate_batch(self, *args: Any, callback: Any = None, **kwargs: Any) -> Any:
        steps: dict[int, int] = {}
        self.steps.append(steps)

        def counting(step: Any) -> bool:
            steps[step.batch_id] = steps.get(step.batch_id, 0) + 1
            return bool(callback(step))

        return self._translator.translate_batch(*args, callback=counting, **kwargs)


def test_rows_of_one_batch_stop_at_their_own_budgets(marian_dir: Path, model_cache: Path) -> None:
    model = load(marian_dir, "marian", model_cache, max_batch=4, max_batch_delay_ms=1000)
    request = Request(TRANSLATE, "en", "de")
    budgets = [3, 9, 5, 20]
    alone = [model.generate_ids([TEXT], request, SHORT, n)[0] for n in budgets]
    counter = StepCounter(model.runtime.translator)
    model.runtime.translator = counter

    together = run_together([lambda n=n: model.generate_ids([TEXT], request, SHORT, n)[0] for n in budgets])

    assert together == alone
    [steps] = counter.steps
    # Each row decoded as far as its own budget, not to the longest one. (This model writes no end
    # token that early, so every row runs its full budget: see `alone`.)
    assert [len(row) for row in alone] == budgets
    assert sorted(steps.values()) == sorted(budgets)


def test_a_stopped_request_leaves_its_batch_neighbours_running(marian_dir: Path, model_cache: Path) -> None:
    model = load(
        marian_dir, "marian", model_cache, max_batch=2, max_batch_delay_ms=1000, force_output_tokens=30
    )
    expected = model.translate([SENTENCE], "en", "de", SHORT)
    calls, should_stop = stop_on_poll(4)
    stopping = GenerationParams(max_new_tokens=6, num_beams=1, should_stop=should_stop)

    stopped, finished = run_together(
        [
            lambda: model.translate([TEXT], "en", "de", stopping),
            lambda: model.translate([SENTENCE], "en", "de", SHORT),
        ]
    )

    assert isinstance(stopped, RequestCancelledError) and calls == [4]
    assert finished == expected
    assert model.runtime.batcher.largest_batch == 2


# -- cancellation ---------------------------------------------------------------------------------------


def stop_on_poll(n: int) -> tuple[list[int], Any]:
    calls = [0]

    def should_stop() -> bool:
        calls[0] += 1
        return calls[0] >= n

    return calls, should_stop


def test_should_stop_is_polled_between_greedy_steps(bart_dir: Path, model_cache: Path) -> None:
    model = load(bart_dir, "bart", model_cache)
    calls, should_stop = stop_on_poll(3)
    params = GenerationParams(max_new_tokens=40, min_new_tokens=40, should_stop=should_stop)
    with pytest.raises(RequestCancelledError):
        model.summarize(TEXT, "en", params)
    # Polled before generating and once per step, and generation ended as soon as it said so.
    assert calls == [3]

    with pytest.raises(RequestCancelledError):
        model.summarize(TEXT, "en", GenerationParams(should_stop=lambda: True))


def test_beam_search_is_stopped_between_batches(m2m100_dir: Path, model_cache: Path) -> None:
    model = load(m2m100_dir, "m2m100", model_cache, batch_size=1)
    calls, should_stop = stop_on_poll(2)
    params = GenerationParams(max_new_tokens=6, num_beams=2, should_stop=should_stop)
    with pytest.raises(RequestCancelledError):
        model.translate([SENTENCE, "Wheat harvest.", "A strike."], "en", "fr", params)
    assert calls == [2]


# -- forced output length -------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_force_output_tokens_writes_exactly_that_many(family: str, folder_of: Any, model_cache: Path) -> None:
    request = REQUESTS[family]
    for runtime in ("ctranslate2", "transformers"):
        model = load(folder_of(family), family, model_cache, runtime=runtime, force_output_tokens=7)
        rows = model.generate_ids([TEXT, SENTENCE], request, GenerationParams(max_new_tokens=2), 2)
        assert [len(row) for row in rows] == [7, 7], runtime


# -- no torch once converted ----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]


def test_a_converted_model_loads_and_translates_without_importing_torch(
    marian_dir: Path, model_cache: Path
) -> None:
    load(marian_dir, "marian", model_cache)  # converted into the cache, unless an earlier test did it
    # A fresh interpreter, since this one has imported torch long ago.
    script = textwrap.dedent(
        f"""
        import json, os, sys
        from pathlib import Path
        from service.models.base import GenerationParams, LoadContext, ModelSpec
        from service.models.registry import create_model

        spec = ModelSpec(
            name="tiny-marian", backend="seq2seq", source={str(marian_dir)!r},
            tasks=("translate",), pairs=(("en", "de"),),
        )
        context = LoadContext(cache_dir=Path({str(model_cache)!r}), runtime="ctranslate2", offline=True)
        model = create_model(spec, context)
        [text] = model.translate(["Wheat prices rose."], "en", "de", GenerationParams(max_new_tokens=4))
        torch = sorted(name for name in sys.modules if name.split(".")[0] == "torch")
        print(json.dumps({{"text": text, "torch": torch}}), flush=True)
        # Interpreter shutdown with a live CTranslate2 model now and then aborts in its C++ destructors, which
        # is not what this test is about: leave at once.
        os._exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(result["text"], str)
    assert result["torch"] == []


# -- configuration --------------------------------------------------------------------------------------


def test_hub_ids_convert_from_the_cached_snapshot(
    t5_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, conversions: list[Path]
) -> None:
    import huggingface_hub

    snapshot = tmp_path / "hub" / "snapshots" / "0123abcd"
    snapshot.mkdir(parents=True)
    for path in t5_dir.iterdir():
        (snapshot / path.name).symlink_to(path)
    seen: list[dict[str, Any]] = []

    def snapshot_download(repo_id: str, **kwargs: Any) -> str:
        seen.append({"repo_id": repo_id, **kwargs})
        if repo_id != "example/t5-tiny":
            raise OSError("We couldn't find it in the cached files.\nMore details follow.")
        return str(snapshot)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    spec = ModelSpec(name="t5-hub", backend="seq2seq", source="example/t5-tiny", **SPECS["t5"])
    context = LoadContext(cache_dir=tmp_path / "cache", threads=1, runtime="ctranslate2", offline=True)
    model = Seq2SeqModel(spec, context)
    Seq2SeqModel(spec, context)

    assert model.describe().runtime == "ctranslate2" and len(conversions) == 1
    assert seen[0]["repo_id"] == "example/t5-tiny" and seen[0]["local_files_only"] is True

    missing = ModelSpec(name="gone", backend="seq2seq", source="example/missing", **SPECS["t5"])
    with pytest.raises(ModelLoadError) as caught:
        Seq2SeqModel(missing, context)
    message = str(caught.value)
    assert "hf download example/missing" in message and "cached files" in message and "\n" not in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"runtime": "onnx"}, "unknown runtime 'onnx'; known: ctranslate2, transformers"),
        ({"compute_type": "int4"}, "unknown compute_type 'int4'"),
        ({"force_output_tokens": 0}, "force_output_tokens must be a positive integer"),
        ({"max_batch_delay_ms": -1}, "max_batch_refill_ms between 0 and 1000"),
    ],
)
def test_bad_options_fail_to_load(
    options: dict[str, Any], match: str, t5_dir: Path, model_cache: Path
) -> None:
    with pytest.raises(ModelLoadError, match=match):
        load(t5_dir, "t5", model_cache, **options)


@pytest.mark.parametrize("runtime", ["ctranslate2", "transformers"])
def test_summarize_many_batches_the_texts_and_matches_one_by_one(
    runtime: str, bart_dir: Path, model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = load(bart_dir, "bart", model_cache, runtime=runtime, batch_size=2)
    texts = [TEXT, SENTENCE, "Officials discussed the military situation."]
    params = GenerationParams(max_new_tokens=8, min_new_tokens=2, num_beams=1)
    alone = [model.summarize(text, "en", params).text for text in texts]
    rows: list[int] = []
    generate = model.runtime.generate

    def spy(sources: Any, prefixes: Any, decode: Any) -> list[list[int]]:
        rows.append(len(sources))
        return generate(sources, prefixes, decode)

    monkeypatch.setattr(model.runtime, "generate", spy)
    assert [s.text for s in model.summarize_many(texts, "en", params)] == alone
    assert rows == [2, 1]  # batch_size texts to a call


# -- bit-rot in the cache --------------------------------------------------------------------------------


def converted_folder(cache: Path) -> Path:
    [entry] = (cache / "seq2seq").iterdir()
    return entry / "ct2-int8"


def test_a_conversion_records_its_fingerprint(t5_dir: Path, tmp_path: Path) -> None:
    load(t5_dir, "t5", tmp_path)
    folder = converted_folder(tmp_path)
    recorded = Fingerprint.read(folder)
    assert recorded is not None
    assert recorded.files["model.bin"].size == (folder / "model.bin").stat().st_size
    assert list(recorded.probes) == ["cpu/int8"] and recorded.probes["cpu/int8"].log_probs
    assert recorded.changed_files(folder, full=True) == []


@pytest.mark.parametrize("family", ["t5", "marian"])
def test_a_damaged_weight_tensor_is_found_at_start_and_converted_again(
    family: str, folder_of: Any, tmp_path: Path, conversions: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    first = load(folder_of(family), family, tmp_path)
    request = REQUESTS[family]
    expected = first.generate_ids([TEXT], request, SHORT, 6)
    damage_weights(converted_folder(tmp_path) / "model.bin")
    with caplog.at_level(logging.WARNING, logger="service.models.ct2_convert"):
        second = load(folder_of(family), family, tmp_path)
    assert len(conversions) == 2
    assert "is damaged (model.bin changed since the conversion)" in caplog.text
    assert second.generate_ids([TEXT], request, SHORT, 6) == expected


def test_damage_that_the_sampled_blocks_miss_is_found_by_the_probe(
    t5_dir: Path,
    tmp_path: Path,
    conversions: list[Path],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As in a model file far larger than the sample: two blocks of 64 bytes, one at each end.
    monkeypatch.setattr(ct2_fingerprint, "_SAMPLE_BLOCKS", 2)
    monkeypatch.setattr(ct2_fingerprint, "_SAMPLE_BYTES", 64)
    load(t5_dir, "t5", tmp_path)
    folder = converted_folder(tmp_path)
    damage_weights(folder / "model.bin", margin=64)
    recorded = Fingerprint.read(folder)
    assert recorded is not None and recorded.changed_files(folder, full=False) == []  # the sample misses it
    with caplog.at_level(logging.WARNING, logger="service.models.ct2_convert"):
        load(t5_dir, "t5", tmp_path)
    assert len(conversions) == 2
    assert "model.bin changed since the conversion; the probe's" in caplog.text


def test_a_damaged_model_in_a_read_only_cache_stops_the_start_with_one_line(
    t5_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    load(t5_dir, "t5", tmp_path)
    folder = converted_folder(tmp_path)
    damage_weights(folder / "model.bin")
    for path in (folder, folder.parent):
        path.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: the file modes do not stop it, so the check is told
        monkeypatch.setattr(ct2_convert, "_writable", lambda _folder: False)
    try:
        with pytest.raises(ModelLoadError) as refused:
            load(t5_dir, "t5", tmp_path)
    finally:
        for path in (folder, folder.parent):
            path.chmod(0o755)
    message = str(refused.value)
    assert "damaged (model.bin changed since the conversion)" in message and "read-only" in message
    assert "\n" not in message


def test_a_conversion_from_before_fingerprints_is_fingerprinted_as_found(
    t5_dir: Path, tmp_path: Path, conversions: list[Path]
) -> None:
    load(t5_dir, "t5", tmp_path)
    folder = converted_folder(tmp_path)
    recorded = Fingerprint.read(folder)
    (folder / FINGERPRINT_FILE).unlink()
    load(t5_dir, "t5", tmp_path)
    assert len(conversions) == 1
    assert Fingerprint.read(folder) == recorded


def test_a_probe_that_moved_on_intact_files_is_recorded_anew(
    t5_dir: Path, tmp_path: Path, conversions: list[Path], caplog: pytest.LogCaptureFixture
) -> None:
    """Another CPU may round differently: the full checksums say the files are sound, so it is not damage."""
    load(t5_dir, "t5", tmp_path)
    folder = converted_folder(tmp_path)
    recorded = Fingerprint.read(folder)
    assert recorded is not None
    probe = recorded.probes["cpu/int8"]
    moved = dataclasses.replace(probe, log_probs=tuple(p - 1.0 for p in probe.log_probs))
    dataclasses.replace(recorded, probes={"cpu/int8": moved}).write(folder)
    with caplog.at_level(logging.WARNING, logger="service.models.ct2_convert"):
        load(t5_dir, "t5", tmp_path)
    assert len(conversions) == 1
    assert "although its files are intact" in caplog.text
    assert Fingerprint.read(folder) == recorded
