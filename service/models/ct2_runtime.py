"""CTranslate2 runtimes, for both backends: one base that batches across requests, and one subclass each
for `ctranslate2.Translator` (encoder-decoders) and `ctranslate2.Generator` (decoder-only chat models).

Every call becomes one `Job` per row and goes through a `MicroBatcher` (when the runtime has a batching
policy), so rows of concurrent requests decode in one batch; `RowStops` stops each row at its own budget or
its own stop signal. The subclasses only say how one gathered batch is decoded. No torch here.

Where CTranslate2 runs several replicas side by side (`inter_threads`), the Translator hands each gathered
batch to CTranslate2 in one call that it splits evenly between them (`max_batch_size`); the Generator,
whose rows' first decoding steps depend on which prompts share its batch, runs one batch per replica
through the batcher's engines instead.

Each row comes back as `ScoredIds`: its ids and the mean log-probability per token CTranslate2 gave
them (its hypothesis score, normalised by length).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

from service.errors import ModelLoadError
from service.models.batching import BatchPolicy, Job, MicroBatcher
from service.models.ct2_fingerprint import ProbeOutput, probe_output
from service.models.decoding import Decode, ScoredIds, mean_log_prob
from service.models.row_stops import RowStops
from service.models.thread_layout import ThreadLayout, as_layout
from service.resources import release_freed_memory

log = logging.getLogger(__name__)

# Prompts of one decoder-only batch differ by at most this many tokens by default: the longer ones are
# read a token per step past the shortest (see BatchPolicy.max_prompt_spread).
GENERATOR_PROMPT_SPREAD = 64
# A decoder-only batch reads at most this many full-length prompts in its first step, which no stop signal
# can interrupt. Reading gains nothing from more (on SmolLM2-135M, four 1,536-token prompts took 4.3 times
# as long as one); only decoding does, and it still batches this many rows, or more of shorter prompts.
GENERATOR_STEP_PROMPTS = 4


def device_and_index(device: str) -> tuple[str, int]:
    """CTranslate2's device and device_index for "cpu", "cuda" or "cuda:N"."""
    kind, _, index = device.partition(":")
    return kind, int(index or 0)


def ct2_options(device: str, compute_type: str, threads: int | ThreadLayout) -> dict[str, Any]:
    """The constructor arguments both CTranslate2 classes take for where and how to run. `threads` is a
    layout (batches side by side x threads each), or a thread count for one batch at a time."""
    kind, index = device_and_index(device)
    layout = as_layout(threads)
    return {
        "device": kind,
        "device_index": index,
        "compute_type": compute_type,
        "intra_threads": layout.intra,
        "inter_threads": layout.inter,
    }


def engines(threads: int | ThreadLayout) -> int:
    """How many batches a runtime with these threads decodes side by side."""
    return threads.inter if isinstance(threads, ThreadLayout) else 1


def tokens_per_s(run_batch: Callable[[], int], parallel: int, rounds: int = 2) -> float:
    """Tokens per second of `parallel` threads each running `run_batch` `rounds` times after one warm-up
    call (`run_batch` returns the tokens it generated). CTranslate2 releases the GIL while it decodes, so
    the threads' batches run side by side on its replicas."""
    import threading

    run_batch()
    made = [0] * parallel

    def work(slot: int) -> None:
        for _ in range(rounds):
            made[slot] += run_batch()

    started = time.perf_counter()
    workers = [threading.Thread(target=work, args=(slot,)) for slot in range(parallel)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sum(made) / max(time.perf_counter() - started, 1e-9)


class CT2Runtime:
    """Runs jobs through the batcher (or at once, without a policy) and resolves each row's output."""

    name = "ctranslate2"

    def __init__(self, batching: BatchPolicy | None, label: str, engines: int = 1) -> None:
        self.batcher = (
            MicroBatcher(
                self.run_batch,
                batching,
                name=f"{label}-batcher",
                model=label,
                engines=engines,
                after_batch=release_freed_memory,  # the batch's working set, once it is reported
            )
            if batching is not None
            else None
        )

    def run_jobs(self, jobs: list[Job]) -> list[list[int]]:
        """Each job's output ids; raises the first job's error."""
        if self.batcher is not None:
            return self.batcher.submit(jobs)
        self.run_batch(jobs)
        release_freed_memory()
        return [job.future.result() for job in jobs]

    def run_batch(self, jobs: list[Job]) -> None:
        """One batched CTranslate2 call over jobs that may come from different requests.

        The first step callback marks the end of reading the prompts: the batcher's estimate of that
        uninterruptible step, against which it weighs its callers' deadlines, learns from it."""
        stops = RowStops(jobs, self.step_offsets(jobs))
        started = time.monotonic()
        outputs = self.decode_batch(jobs, stops)
        if self.batcher is not None and stops.first_step_at is not None:
            self.batcher.prompt_rate.note([len(job.prompt) for job in jobs], stops.first_step_at - started)
        stops.resolve(outputs)

    def decode_batch(self, jobs: list[Job], stops: RowStops) -> list[list[int]]:
        """Output ids per job, in order. `stops` is the step callback for rows that may stop on their own."""
        raise NotImplementedError

    def step_offsets(self, jobs: list[Job]) -> list[int] | None:
        """Where each row's first generated token falls in the step count (None: at step 0)."""
        return None

    def close(self) -> None:
        """Stop the batcher's thread; the runtime is not used after this."""
        if self.batcher is not None:
            self.batcher.close()


class BatchKey(NamedTuple):
    """What one translate_batch call cannot vary per row; rows batch together only when it matches."""

    prefix_length: int
    beams: int
    min_tokens: int
    max_tokens: int | None  # beam search has no per-row stop: its rows share the length too


def search_options(generation: Any) -> dict[str, Any]:
    """The checkpoint's decoding rules that transformers applies by default, spelled for CTranslate2."""
    options: dict[str, Any] = {}
    if generation.no_repeat_ngram_size:
        options["no_repeat_ngram_size"] = int(generation.no_repeat_ngram_size)
    if generation.repetition_penalty not in (None, 1.0):
        options["repetition_penalty"] = float(generation.repetition_penalty)
    if generation.length_penalty not in (None, 1.0):
        options["length_penalty"] = float(generation.length_penalty)
    return options


class TranslatorRuntime(CT2Runtime):
    """A converted encoder-decoder run by CTranslate2's Translator, on the HF tokenizer's token strings."""

    def __init__(
        self,
        folder: Path,
        to_tokens: Callable[[Sequence[int]], list[str]],
        to_ids: Callable[[list[str]], list[int]],
        *,
        device: str,
        compute_type: str,
        threads: int | ThreadLayout,
        generation: Any,
        batching: BatchPolicy,
        label: str,
    ) -> None:
        import ctranslate2

        self.translator = ctranslate2.Translator(str(folder), **ct2_options(device, compute_type, threads))
        self.layout = as_layout(threads)
        self._to_tokens = to_tokens
        self._to_ids = to_ids
        self._options = search_options(generation)
        # One call of up to `max_batch` rows per replica, split evenly between them by CTranslate2: the
        # rows of a steady load then decode as even batches on every replica at once. Separate batches per
        # replica settled into uneven cohorts (13 and 3 rows of 16), each batch paying a step's fixed cost.
        self.replicas = engines(threads)
        if self.replicas > 1:
            batching = dataclasses.replace(batching, max_batch=batching.max_batch * self.replicas)
        super().__init__(batching, label)

    @staticmethod
    def measure(
        folder: Path,
        source: list[str],
        layout: ThreadLayout,
        *,
        compute_type: str,
        rows: int = 8,
        steps: int = 32,
    ) -> float:
        """Tokens per second of `layout` on this machine, as the runtime calls it: one call of `rows`
        copies of `source` per replica, split between them, each forced to `steps` tokens."""
        import ctranslate2

        translator = ctranslate2.Translator(str(folder), **ct2_options("cpu", compute_type, layout))

        def run() -> int:
            translator.translate_batch(
                [source] * (rows * layout.inter),
                max_batch_size=rows,
                beam_size=1,
                max_decoding_length=steps,
                min_decoding_length=steps,
                max_input_length=0,
            )
            return rows * layout.inter * steps

        return tokens_per_s(run, 1)

    def generate(
        self, sources: Sequence[list[int]], prefixes: Sequence[list[int]], decode: Decode
    ) -> list[list[int]]:
        """Output ids per source, opening with its prefix, without the decoder start and end tokens."""
        beams = max(1, decode.num_beams)
        jobs = [
            Job(
                list(source),
                decode.max_tokens,
                decode.should_stop,
                prefix=list(prefix),
                group=BatchKey(
                    len(prefix), beams, decode.min_tokens, decode.max_tokens if beams > 1 else None
                ),
            )
            for source, prefix in zip(sources, prefixes, strict=True)
        ]
        return self.run_jobs(jobs)

    def probe(self, source: Sequence[int], prefix: Sequence[int], steps: int) -> ProbeOutput:
        """Plain greedy output for one source (opening with `prefix`) and the log-probabilities of it."""
        tokens = self._to_tokens(source)
        result = self.translator.translate_batch(
            [tokens],
            [self._to_tokens(prefix)] if prefix else None,
            beam_size=1,
            max_decoding_length=steps,
            max_input_length=0,
        )[0]
        output = result.hypotheses[0]
        scored = self.translator.score_batch([tokens], [output], max_input_length=0)[0]
        return probe_output(self._to_ids(output), scored.log_probs)

    def decode_batch(self, jobs: list[Job], stops: RowStops) -> list[list[int]]:
        """Greedy rows stop at their own budget or their own stop signal (the step callback returns True
        for that row only); beam search has no step callback, so its rows are stopped between batches.
        With several replicas, CTranslate2 splits the rows evenly between them (rows of similar length
        together) and numbers each row's steps by its place in `jobs`."""
        key = cast(BatchKey, jobs[0].group)
        split = math.ceil(len(jobs) / self.replicas) if self.replicas > 1 else 0
        results = self.translator.translate_batch(
            [self._to_tokens(job.prompt) for job in jobs],
            [self._to_tokens(job.prefix) for job in jobs] if key.prefix_length else None,
            beam_size=key.beams,
            max_decoding_length=max(job.max_new_tokens for job in jobs),
            min_decoding_length=key.min_tokens,
            max_input_length=0,  # inputs come truncated to the model's limit
            max_batch_size=split,  # 0: one batch
            callback=stops if key.beams == 1 else None,
            return_scores=True,
            **self._options,
        )
        penalty = float(self._options.get("length_penalty", 1.0))
        rows: list[list[int]] = []
        for job, result in zip(jobs, results, strict=True):
            tokens = result.hypotheses[0]  # the prefix included, the end token not
            length = len(tokens) + (1 if len(tokens) < job.max_new_tokens else 0)  # ended on its own
            log_prob = (
                mean_log_prob(result.scores[0], length, penalty, forced=len(job.prefix))
                if result.scores
                else None
            )
            rows.append(ScoredIds((int(i) for i in self._to_ids(tokens)), log_prob))
        return rows


class GeneratorRuntime(CT2Runtime):
    """A converted decoder-only model run by CTranslate2's Generator, greedy, on its own vocabulary."""

    def __init__(
        self,
        folder: Path,
        *,
        device: str,
        compute_type: str,
        threads: int | ThreadLayout,
        eos_ids: Sequence[int],
        repetition_penalty: float,
        batching: BatchPolicy | None = None,
        label: str = "llm",
    ) -> None:
        import ctranslate2

        self.generator = ctranslate2.Generator(str(folder), **ct2_options(device, compute_type, threads))
        self.layout = as_layout(threads)
        self.tokens: list[str] = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        self.end_tokens = [self.tokens[i] for i in eos_ids]
        self.repetition_penalty = repetition_penalty
        self.min_new_tokens = 0  # the end token is held back until then (force_output_tokens)
        super().__init__(batching, label, engines(threads))

    @staticmethod
    def measure(
        folder: Path,
        prompt: list[int],
        layout: ThreadLayout,
        *,
        compute_type: str,
        rows: int = 4,
        steps: int = 24,
    ) -> float:
        """Tokens per second of `layout` on this machine: `layout.inter` batches of `rows` copies of
        `prompt` side by side, each forced to `steps` tokens."""
        import ctranslate2

        generator = ctranslate2.Generator(str(folder), **ct2_options("cpu", compute_type, layout))
        tokens = json.loads((folder / "vocabulary.json").read_text(encoding="utf-8"))
        text = [tokens[i] for i in prompt]

        def run() -> int:
            generator.generate_batch(
                [text] * rows,
                max_length=steps,
                min_length=steps,
                sampling_topk=1,
                include_prompt_in_result=False,
            )
            return rows * steps

        return tokens_per_s(run, layout.inter)

    def generate(
        self,
        prompts: Sequence[list[int]],
        max_new_tokens: int,
        should_stop: Callable[[], bool] | None,
        static: Sequence[int] = (),
        finished: Callable[[list[int]], bool] | None = None,
    ) -> list[list[int]]:
        """A prompt that opens with `static` is sent as the rest of it, with `static` as CTranslate2's
        static prompt: its model state is computed once and cached, and rows batch only with rows of
        the same static prompt. `finished` ends a row early (RowStops)."""
        jobs = []
        for prompt in prompts:
            if static and len(prompt) > len(static) and prompt[: len(static)] == list(static):
                rest, group = list(prompt[len(static) :]), tuple(static)
            else:
                rest, group = list(prompt), None
            jobs.append(Job(rest, max_new_tokens, should_stop, group=group, finished=finished))
        return self.run_jobs(jobs)

    def probe(self, prompt: Sequence[int], steps: int) -> ProbeOutput:
        """Plain greedy output for `prompt` (no repetition penalty) and the log-probabilities of the prompt
        and the output."""
        tokens = [self.tokens[i] for i in prompt]
        result = self.generator.generate_batch(
            [tokens],
            max_length=steps,
            sampling_topk=1,
            include_prompt_in_result=False,
            end_token=self.end_tokens,
        )[0]
        output = list(result.sequences_ids[0])
        scored = self.generator.score_batch([tokens + [self.tokens[i] for i in output]], max_input_length=0)
        return probe_output(output, scored[0].log_probs)

    def step_offsets(self, jobs: list[Job]) -> list[int]:
        """CTranslate2 reads the shortest prompt of a batch at once and the rest of each longer one a token
        per step, counting those steps: a row writes its first token at its prompt's excess over the
        shortest."""
        shortest = min(len(job.prompt) for job in jobs)
        return [len(job.prompt) - shortest for job in jobs]

    def decode_batch(self, jobs: list[Job], stops: RowStops) -> list[list[int]]:
        """Each job stops at its own budget or its own stop signal; the others carry on."""
        static = cast(tuple[int, ...] | None, jobs[0].group)
        results = self.generator.generate_batch(
            [[self.tokens[i] for i in job.prompt] for job in jobs],
            static_prompt=[self.tokens[i] for i in static] if static else None,
            cache_static_prompt=True,
            max_length=max(job.max_new_tokens for job in jobs),
            min_length=self.min_new_tokens,
            sampling_topk=1,
            repetition_penalty=self.repetition_penalty,
            include_prompt_in_result=False,
            end_token=self.end_tokens,
            callback=stops,
            return_scores=True,  # with the default length penalty (1): the mean over the tokens
        )
        return [
            ScoredIds(result.sequences_ids[0], result.scores[0] if result.scores else None)
            for result in results
        ]


def target_vocabulary(folder: Path) -> list[str]:
    """A converted encoder-decoder's output vocabulary, by id."""
    for name in ("target_vocabulary.json", "shared_vocabulary.json"):
        if (folder / name).is_file():
            return cast(list[str], json.loads((folder / name).read_text(encoding="utf-8")))
    raise ModelLoadError(f"{folder} holds no CTranslate2 target vocabulary")
