"""The demo's request timed: the seed article into en, fr, de and es on the embedded profile, as `make demo`
sends it, beside the raw engine on the same decoding work.

The service: a fresh server each time (its result cache empty, its start-up's background read of the
prompt rate included, as a user's first request meets them), the seed article streamed into the four
languages, the seconds from sending to each language's arrival.

The raw engine: CTranslate2 alone, in a child that imports no torch, on the two steps the service takes one
after the other: the summary prompt of the article (the service's prompt, its static part as a cached
static prompt, the medium preset's token budget), then the translation prompts of the summary's sentences
into the three other languages as one batch. Greedy decoding makes the engine write what the service's
model writes; it runs each row to its end token or its budget, where the service stops a summary once it
holds the sentences it keeps, and checks (and may repair) each translation.
"""

from __future__ import annotations

import logging
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.models import packaged_llm_folder
from bench.raw import LLMInputs, common_prefix, layouts_for
from bench.raw_engine import EngineError, run_job
from bench.scenarios import Plan, Section, _server_args, llm_inputs, llm_spec, service_compute_type
from devkit.launcher import ServerProcess

log = logging.getLogger(__name__)

SEED = Path(__file__).resolve().parent.parent / "seeds" / "000_dba0962fc812cd96.txt"
TARGETS = ("en", "fr", "de", "es")
SUMMARY_SENTENCES = 3  # the medium preset, the demo's
SUMMARY_TOKENS = 120


@dataclass
class DemoTimes:
    """Seconds from sending to each language's arrival, per fresh server; the raw engine's two steps."""

    arrivals: list[dict[str, float]] = field(default_factory=list)
    raw_summary_s: float = float("nan")
    raw_translation_s: float = float("nan")
    raw_rows: int = 0
    raw_prompt_tokens: int = 0
    raw_summary_tokens: int = 0
    raw_translation_tokens: int = 0
    raw_error: str = ""

    @property
    def totals(self) -> list[float]:
        return [max(seen.values()) for seen in self.arrivals if seen]

    @property
    def median_s(self) -> float:
        return statistics.median(self.totals) if self.totals else float("nan")

    def median_arrival(self, language: str) -> float:
        times = [seen[language] for seen in self.arrivals if language in seen]
        return statistics.median(times) if times else float("nan")

    @property
    def raw_s(self) -> float:
        return self.raw_summary_s + self.raw_translation_s


def measure(section: Section, plan: Plan, service_cache_dir: Path, work_dir: Path, repeats: int) -> None:
    from summarizer_client import LanguageFailed, LanguageSummary, SummarizerClient

    article = SEED.read_text(encoding="utf-8")
    times = DemoTimes()
    section.extra["demo"] = times
    summary = ""
    for i in range(repeats):
        with ServerProcess(
            _server_args("embedded", None, plan.device), work_dir / f"server-demo-{i + 1}.log"
        ) as server:
            server.start(plan.start_timeout_s)
            with SummarizerClient(server.target, timeout=plan.request_timeout_s) as client:
                seen: dict[str, float] = {}
                sent = time.perf_counter()
                for event in client.stream_summarize(article, list(TARGETS)):
                    if isinstance(event, LanguageSummary):
                        seen[event.summary.language] = time.perf_counter() - sent
                        if event.summary.language == "en":
                            summary = event.summary.text
                    elif isinstance(event, LanguageFailed):
                        raise RuntimeError(f"{event.failure.language}: {event.failure.message}")
            times.arrivals.append(seen)
            log.info("demo %d: %s", i + 1, ", ".join(f"{k} at {v:.1f} s" for k, v in seen.items()))
    folder = packaged_llm_folder(service_cache_dir)
    if not plan.raw or folder is None or not summary:
        return
    try:
        _raw(times, plan, folder, article, summary, repeats)
    except EngineError as exc:
        times.raw_error = str(exc).splitlines()[0]


def _raw(times: DemoTimes, plan: Plan, folder: Path, article: str, summary: str, repeats: int) -> None:
    from service.models.llm_prompts import translate_messages
    from service.text.normalize import clean_text
    from service.text.sentences import split_sentences

    # The English summary prompt in the service's style, and its static part (LLMInputs.static).
    inputs = llm_inputs(folder)
    prompt = inputs.prompt_ids(clean_text(article, "text").strip(), "en", SUMMARY_SENTENCES)
    static = inputs.static
    sentences = [s.text for s in split_sentences(summary, "en")]
    targets = [t for t in TARGETS if t != "en"]
    rows = [inputs.chat_ids(translate_messages(s, "en", t)) for t in targets for s in sentences]
    translation_static = common_prefix(
        inputs.chat_ids(translate_messages("Alpha beta.", "en", "fr")),
        inputs.chat_ids(translate_messages("Omega psi.", "en", "de")),
    )
    longest = max(len(inputs.tokenizer(s, add_special_tokens=False)["input_ids"]) for s in sentences)
    layout = layouts_for(plan.device)[0]  # one batch on every core (one replica on a GPU)
    kind_device, _, index = plan.device.partition(":")
    job = {
        "model": str(folder.parent / "ct2-int8"),
        "kind": "generator",
        "device": kind_device,
        "device_index": int(index or 0),
        "compute_type": service_compute_type(plan.device, dict(llm_spec().options)),
        "inter_threads": layout.inter,
        "intra_threads": layout.intra,
        "runs": [
            _run(inputs, "summary", [prompt], static, SUMMARY_TOKENS, repeats),
            _run(inputs, "translations", rows, translation_static, min(2 * longest + 32, 1024), repeats),
        ],
    }
    result = run_job(job, timeout_s=plan.request_timeout_s * 4)
    first, second = result["runs"]
    times.raw_summary_s, times.raw_translation_s = first["wall_s"], second["wall_s"]
    times.raw_prompt_tokens, times.raw_rows = len(prompt), len(rows)
    times.raw_summary_tokens, times.raw_translation_tokens = int(first["tokens"]), int(second["tokens"])


def _run(
    inputs: LLMInputs, label: str, prompts: list[list[int]], static: list[int], budget: int, repeats: int
) -> dict[str, Any]:
    """One raw run: every prompt in one batch, less its static part, greedy to its end token or `budget`."""
    rows = [inputs.tokens(p[len(static) :] if p[: len(static)] == static else p) for p in prompts]
    return {
        "label": label,
        "rows": rows,
        "static_prompt": inputs.tokens(static),
        "options": {
            "max_length": budget,
            "sampling_topk": 1,
            "repetition_penalty": inputs.repetition_penalty,
            "include_prompt_in_result": False,
            "end_token": inputs.end_tokens,
            "cache_static_prompt": True,
        },
        "batch_size": len(rows),
        "in_flight": 1,
        "warmup_rows": 0,  # a first call as the demo's is: nothing read before
        "repeats": repeats,
    }
