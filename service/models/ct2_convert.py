"""CTranslate2 conversion for both backends: converting a Hugging Face folder once into the cache, and
refusing a conversion that does not compute what transformers computes.

`convert_once` is the one path: the converted folder lives in a cache entry keyed by the source's identity and
`CONVERSION_REVISION` (see convert_cache), is built by `build_once`, and is kept only after
`verify_conversion` passes. What "computes the same" means is a policy per backend: `ScoresAndTokens` for
encoder-decoders (the scores at every step, and the greedy tokens), `GreedyTokens` for decoder-only models.
Neither imports torch: the backend hands them its transformers reference as a function.

A kept conversion carries its fingerprint (ct2_fingerprint), and `load_converted` opens it only once it still
matches: a damaged folder is converted again where the cache is writable, and stops the start with one line
where it is not.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from service.errors import ModelLoadError
from service.models.convert_cache import build_once, cache_entry, file_lock
from service.models.ct2_fingerprint import Fingerprint, ProbeOutput
from service.models.ct2_runtime import CT2Runtime, GeneratorRuntime, target_vocabulary
from service.models.sources import first_line

log = logging.getLogger(__name__)

# Part of every conversion's cache key: bump it when a change here changes what a conversion writes.
CONVERSION_REVISION = 2
# A faithful conversion's scores correlate with transformers' at 0.999 or more, int8 weights included
# (measured on every family); a misplaced position table or foreign weights bring some step to 0.95 or less.
MIN_SCORE_CORRELATION = 0.98
# CTranslate2 writes masked scores (an end token before the minimum length) as the lowest float.
_MASKED = -1e30


def conversion_entry(cache_dir: Path, backend: str, name: str, identity: str) -> Path:
    """The cache folder for what `backend` converts of model `name` from the source `identity`."""
    return cache_entry(cache_dir, backend, name, identity, CONVERSION_REVISION)


# -- converting ------------------------------------------------------------------------------------------

# transformers 5 configs no longer carry these flags, which the converter reads; the modeling code
# hard-wires them (BART normalizes after each block, mBART before).
_LAYOUTS: dict[str, dict[str, bool]] = {
    "bart": {"normalize_before": False, "normalize_embedding": True},
    "mbart": {"normalize_before": True, "normalize_embedding": True},
}


class _ConverterTokenizer:
    """The tokenizer as the converter reads it, with what transformers 5 keeps elsewhere put back."""

    def __init__(self, tokenizer: Any, bos_id: int | None) -> None:
        self._tokenizer = tokenizer
        self._bos_id = bos_id

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    @property
    def bos_token(self) -> str | None:
        if self._tokenizer.bos_token is None and self._bos_id is not None:
            return str(self._tokenizer.convert_ids_to_tokens(self._bos_id))
        return cast("str | None", self._tokenizer.bos_token)

    def get_vocab(self) -> dict[str, int]:
        # M2M100's language tokens sit after the sentencepiece vocabulary but are not part of get_vocab().
        vocab = dict(self._tokenizer.get_vocab())
        for token, index in (getattr(self._tokenizer, "lang_token_to_id", None) or {}).items():
            vocab.setdefault(token, index)
        return vocab


def _fix_encoder_decoder_config(config: Any) -> None:
    for flag, value in _LAYOUTS.get(config.model_type, {}).items():
        setattr(config, flag, value)
    if (
        config.model_type == "mbart"
        and getattr(config, "tokenizer_class", None) is None
        and config.decoder_start_token_id == config.eos_token_id
    ):
        # The converter takes a missing tokenizer class for mBART-25, whose decoder starts with a
        # language code; a decoder that starts with </s> is mBART-50's.
        config.tokenizer_class = "MBart50Tokenizer"


def _encoder_decoder_converter(base: Any) -> Any:
    """CTranslate2's converter with the encoder-decoder fixes for what transformers 5 moved."""

    class EncoderDecoderConverter(base):
        bos_id: int | None = None

        def load_model(self, model_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            model = super().load_model(model_class, model_name_or_path, **kwargs)
            _fix_encoder_decoder_config(model.config)
            self.bos_id = getattr(model.config, "bos_token_id", None)
            return model

        def load_tokenizer(self, tokenizer_class: Any, model_name_or_path: str, **kwargs: Any) -> Any:
            tokenizer = super().load_tokenizer(tokenizer_class, model_name_or_path, **kwargs)
            return _ConverterTokenizer(tokenizer, self.bos_id)

    return EncoderDecoderConverter


def convert_checkpoint(hf_folder: Path, output: Path, quantization: str, *, encoder_decoder: bool) -> None:
    """Write the CTranslate2 model for `hf_folder` into the (empty) folder `output`."""
    from ctranslate2.converters import TransformersConverter

    converter = (
        _encoder_decoder_converter(TransformersConverter) if encoder_decoder else TransformersConverter
    )
    converter(str(hf_folder), low_cpu_mem_usage=True).convert(
        str(output), quantization=quantization, force=True
    )


# -- verifying -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    agrees: bool
    detail: str  # what differs, or how closely it agrees


class ConversionCheck(Protocol):
    def __call__(self, hf_folder: Path, ct2_folder: Path) -> Verdict:
        """Run one probe through transformers (from `hf_folder`) and the conversion, and compare."""
        ...


def verify_conversion(model: str, hf_folder: Path, ct2_folder: Path, check: ConversionCheck) -> None:
    """Refuse a conversion that `check` finds computing something else than transformers."""
    verdict = check(hf_folder, ct2_folder)
    if not verdict.agrees:
        raise ModelLoadError(
            f"model {model!r}: the CTranslate2 conversion disagrees with transformers on a probe "
            f"({verdict.detail}); use runtime 'transformers' for this model (options.runtime)"
        )
    log.info("the CTranslate2 conversion of %s matches transformers on the probe (%s)", model, verdict.detail)


def convert_once(
    *,
    model: str,
    source: str,
    hf_folder: Path,
    target: Path,
    quantization: str,
    encoder_decoder: bool,
    check: ConversionCheck,
) -> bool:
    """Convert `hf_folder` into `target` unless it is there, verified by `check`; return whether this call
    converted. A conversion that fails or is refused leaves nothing behind."""

    def build(tmp: Path) -> None:
        log.info("converting %s to CTranslate2 %s (once; cached in %s)", model, quantization, target)
        started = time.perf_counter()
        try:
            convert_checkpoint(hf_folder, tmp, quantization, encoder_decoder=encoder_decoder)
        except Exception as err:
            raise ModelLoadError(
                f"model {model!r}: CTranslate2 cannot convert {source} ({first_line(err)}); "
                "use runtime 'transformers' for this model (options.runtime)"
            ) from err
        log.info("converted %s in %.1fs", model, time.perf_counter() - started)
        verify_conversion(model, hf_folder, tmp, check)
        Fingerprint.of(tmp).write(tmp)

    return build_once(target, build)


Runtime = TypeVar("Runtime", bound=CT2Runtime)


@dataclass(frozen=True)
class Integrity:
    """How a start checks a converted folder against its fingerprint.

    `probe` runs the fixed probe on an opened runtime; its output is recorded per `probe_key` (device kind and
    compute type), since another compute type rounds differently. `full`: check every file's SHA-256 too,
    not only its size and sampled blocks (`--verify-models`)."""

    probe: Callable[[Any], ProbeOutput]
    probe_key: str
    full: bool = False


def probe_key(device: str, compute_type: str) -> str:
    """Under which name a probe's output is recorded: the device kind and the compute type."""
    return f"{device.partition(':')[0]}/{compute_type}"


def load_converted(
    *,
    model: str,
    source: str,
    hf_folder: Path,
    target: Path,
    quantization: str,
    encoder_decoder: bool,
    check: ConversionCheck,
    open_runtime: Callable[[Path], Runtime],
    integrity: Integrity,
) -> Runtime:
    """The runtime over the conversion of `hf_folder` in `target`, converting it first unless it is there,
    and once it still matches its fingerprint. A folder that does not is converted again (the cache
    writable, the source there), or stops the start with one line (ModelLoadError)."""
    converted = convert_once(
        model=model,
        source=source,
        hf_folder=hf_folder,
        target=target,
        quantization=quantization,
        encoder_decoder=encoder_decoder,
        check=check,
    )
    runtime = open_runtime(target)
    damage = _damage(model, target, runtime, integrity, verified=converted)
    if damage is None:
        return runtime
    runtime.close()
    if not (_writable(target.parent) and hf_folder.is_dir()):
        raise ModelLoadError(
            f"model {model!r}: the converted model in {target} is damaged ({damage}) and cannot be converted "
            "again here (read-only cache or no source); convert it again where the cache is writable"
        )
    log.warning(
        "model %s: the converted model in %s is damaged (%s); converting it again", model, target, damage
    )
    with file_lock(target.with_name(f".{target.name}.lock")):
        shutil.rmtree(target, ignore_errors=True)
    convert_once(
        model=model,
        source=source,
        hf_folder=hf_folder,
        target=target,
        quantization=quantization,
        encoder_decoder=encoder_decoder,
        check=check,
    )
    runtime = open_runtime(target)
    damage = _damage(model, target, runtime, integrity, verified=True)
    if damage is not None:  # a fresh conversion that does not hold still: nothing here can fix that
        runtime.close()
        raise ModelLoadError(
            f"model {model!r}: a fresh conversion in {target} does not match itself ({damage})"
        )
    return runtime


def _damage(
    model: str, target: Path, runtime: CT2Runtime, integrity: Integrity, *, verified: bool
) -> str | None:
    """What is wrong with the converted folder, or None. `verified`: its files were hashed just now."""
    fingerprint = Fingerprint.read(target)
    if fingerprint is None:
        # Converted before conversions kept a fingerprint, and verified against transformers then: taken as
        # found from now on (checking it again would import torch and hold the model twice in memory).
        if not _writable(target):
            log.warning(
                "model %s: %s has no fingerprint and the cache is read-only: not verified", model, target
            )
            return None
        log.info(
            "model %s: recording the fingerprint of %s, converted before fingerprints were kept",
            model,
            target,
        )
        fingerprint, verified = Fingerprint.of(target), True
    changed = fingerprint.changed_files(target, full=integrity.full and not verified)
    if changed:
        return f"{', '.join(changed)} changed since the conversion"
    output = integrity.probe(runtime)
    recorded = fingerprint.probes.get(integrity.probe_key)
    difference = output.difference(recorded) if recorded is not None else None
    if recorded is not None and difference is None:
        return None
    # A probe not recorded yet, or one that differs: the files' full checksums decide whether they are sound.
    changed = [] if verified else fingerprint.changed_files(target, full=True)
    if changed:
        return f"{', '.join(changed)} changed since the conversion" + (
            f"; {difference}" if difference else ""
        )
    if difference is not None:
        log.warning(
            "model %s: %s although its files are intact (another CPU?); recording it anew", model, difference
        )
    fingerprint.probes[integrity.probe_key] = output
    if _writable(target):
        fingerprint.write(target)
    return None


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


@dataclass(frozen=True)
class ScoresAndTokens:
    """The encoder-decoder policy, on one probe input (`source` ids and forced output `prefix`).

    CTranslate2 decodes the probe greedily (float32 compute, so that only the stored weights' rounding
    remains) and reports its scores over the whole vocabulary at every step; transformers scores the same
    tokens in one teacher-forced pass (`reference_scores(hf_folder, source, output)`, one row per step).
    The conversion passes when, at every step, the two score vectors correlate above
    MIN_SCORE_CORRELATION, and the token CTranslate2 picked is transformers' greedy pick too, or loses to it
    by no more than the two runtimes' measured difference at that step (a near tie). Scores rather than
    text, because the tiny random models of the tests write the same token over and over, where a
    comparison of text could not tell a broken conversion from a good one.
    """

    source: list[int]
    prefix: list[int]
    to_tokens: Callable[[Sequence[int]], list[str]]
    reference_scores: Callable[[Path, list[int], list[int]], Any]
    steps: int = 8

    def __call__(self, hf_folder: Path, ct2_folder: Path) -> Verdict:
        import numpy as np

        vocabulary = target_vocabulary(ct2_folder)
        output, converted = self._converted_scores(ct2_folder, vocabulary)
        if len(output) < len(self.prefix) + 1 or len(converted) != len(output):
            return Verdict(
                False, f"CTranslate2 wrote {len(output)} tokens where {self._steps} were asked for"
            )
        reference = np.asarray(self.reference_scores(hf_folder, self.source, output))
        lowest = 1.0
        for step, (token, scores) in enumerate(zip(output, converted, strict=True)):
            correlation, chosen_ok, best = _compare_step(reference[step], scores, token)
            if not correlation >= MIN_SCORE_CORRELATION:
                return Verdict(False, f"scores at output step {step} correlate at {correlation:.3f}")
            lowest = min(lowest, correlation)
            if step >= len(self.prefix) and not chosen_ok:  # forced steps are not chosen
                return Verdict(
                    False,
                    f"greedy token {step} is {vocabulary[token]!r} "
                    f"where transformers picks {vocabulary[best]!r}",
                )
        return Verdict(True, f"score correlation {lowest:.4f} or more")

    @property
    def _steps(self) -> int:
        return max(self.steps, len(self.prefix) + 2)

    def _converted_scores(self, ct2_folder: Path, vocabulary: list[str]) -> tuple[list[int], list[Any]]:
        """CTranslate2's greedy output ids for the probe and its scores at each step, float32 on the CPU."""
        import ctranslate2
        import numpy as np

        index = {token: i for i, token in enumerate(vocabulary)}
        translator = ctranslate2.Translator(str(ct2_folder), device="cpu", compute_type="float32")
        result = translator.translate_batch(
            [self.to_tokens(self.source)],
            [self.to_tokens(self.prefix)] if self.prefix else None,
            beam_size=1,
            max_decoding_length=self._steps,
            min_decoding_length=self._steps,
            max_input_length=0,
            return_logits_vocab=True,
        )[0]
        output = [index[token] for token in result.hypotheses[0]]
        return output, [np.asarray(step, dtype=np.float32) for step in result.logits[0]]


def _compare_step(reference: Any, converted: Any, token: int) -> tuple[float, bool, int]:
    """One output step: the correlation of the two score vectors, whether the converted model's `token` is
    transformers' greedy pick or within the step's noise of it, and transformers' pick."""
    import numpy as np

    # Vocabularies may differ at the end (OPUS-MT's <pad> is not in the converted model).
    width = min(reference.shape[0], converted.shape[0])
    expected, actual = reference[:width], converted[:width]
    usable = np.isfinite(expected) & np.isfinite(actual) & (expected > _MASKED) & (actual > _MASKED)
    # Scores are compared up to a constant: one runtime may report logits, the other log-probabilities.
    x = expected[usable] - expected[usable].mean()
    y = actual[usable] - actual[usable].mean()
    correlation = float(x @ y / max(float(np.linalg.norm(x) * np.linalg.norm(y)), 1e-30))
    noise = float(np.max(np.abs(x - y)))
    best = int(np.argmax(np.where(usable, expected, -np.inf)))
    chosen_ok = token < width and bool(usable[token]) and expected[best] - expected[token] <= 2 * noise
    return correlation, chosen_ok, best


@dataclass(frozen=True)
class GreedyTokens:
    """The decoder-only policy: the first `must_agree` greedy tokens of a probe prompt are the same.

    Quantization may change late tokens; the first few must agree. This catches converter bugs such as a wrong
    rotary base, which produce fluent but different text. `reference(prompt, steps)` is transformers' greedy
    output; the conversion runs float32 on the CPU.
    """

    prompt: list[int]
    eos_ids: Sequence[int]
    reference: Callable[[list[int], int], list[int]]
    threads: int = 1
    steps: int = 12
    must_agree: int = 4

    def __call__(self, hf_folder: Path, ct2_folder: Path) -> Verdict:
        expected = self.reference(self.prompt, self.steps)
        runtime = GeneratorRuntime(
            ct2_folder,
            device="cpu",
            compute_type="float32",
            threads=self.threads,
            eos_ids=self.eos_ids,
            repetition_penalty=1.0,
        )
        converted = runtime.generate([self.prompt], self.steps, None)[0]
        differs = next((i for i, (a, b) in enumerate(zip(expected, converted, strict=False)) if a != b), None)
        if differs is not None and differs < self.must_agree:
            return Verdict(False, f"the greedy output differs from token {differs}")
        return Verdict(True, f"the first {self.must_agree} greedy tokens agree")
