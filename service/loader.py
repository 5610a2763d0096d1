"""Builds the pipeline for a profile: checks the device, then loads every model through the registry,
before serving."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from service.config import Settings
from service.errors import ConfigurationError, ModelLoadError
from service.models.base import SUMMARIZE, TRANSLATE, LoadContext, Model, ModelSpec, Summarizer, Translator
from service.models.devices import CUDA_PROBES, cuda_device_count
from service.models.registry import create_model
from service.pipeline import Limits, SummarizationPipeline
from service.profiles import get_profile
from service.text.detect import LanguageDetector

log = logging.getLogger(__name__)


def load_context(settings: Settings) -> LoadContext:
    return LoadContext(
        cache_dir=settings.cache_dir,
        threads=settings.inference_threads,
        device=settings.device,
        runtime=settings.runtime,
        offline=settings.offline,
        batch_memory_bytes=settings.batch_memory_bytes,
        verify_models=settings.verify_models,
    )


def model_runtimes(models: Iterable[ModelSpec], default: str) -> set[str]:
    """The runtimes the models will run on: each model's `options.runtime`, else the default.

    The extractive summarizer runs no model on any device, so it does not count.
    """
    runtimes = {str(spec.options.get("runtime", default)) for spec in models if spec.backend != "extractive"}
    return runtimes or {default}


def check_device(device: str, runtimes: Iterable[str]) -> None:
    """Stop the start with one line when `device` names a CUDA device that a runtime cannot see.

    Each runtime is asked with its own library (`models/devices.py`, loaded only when a GPU is asked
    for, and only for that runtime): CTranslate2 for "ctranslate2", so that a CTranslate2 server never
    imports torch; torch for "transformers". Other runtime names are the backends' to refuse.
    """
    if device == "cpu":
        return
    index = int(device.partition(":")[2] or 0)
    for runtime in sorted(runtimes):
        if runtime not in CUDA_PROBES:
            continue
        visible = cuda_device_count(runtime, device)
        if visible == 0:
            raise ConfigurationError(
                f"device {device}: no CUDA device is visible to {runtime} on this machine; use --device cpu"
            )
        if index >= visible:
            raise ConfigurationError(
                f"device {device}: {runtime} sees {visible} CUDA device(s), cuda:0 to cuda:{visible - 1}"
            )


def build_pipeline(settings: Settings) -> SummarizationPipeline:
    """Load the profile's models. Raises ConfigurationError (ModelLoadError) with one clear line."""
    profile = get_profile(settings.profile, settings.profile_file)
    runtimes = model_runtimes(profile.models, settings.runtime)
    check_device(settings.device, runtimes)
    context = load_context(settings)
    summarizers: list[Summarizer] = []
    translators: list[Translator] = []
    extractive: Summarizer | None = None
    for spec in profile.models:
        started = time.perf_counter()
        try:
            model: Model = create_model(spec, context)
        except ConfigurationError:
            raise
        except Exception as exc:  # a backend's own failure: name the model, keep the cause in the log
            log.debug("loading %s failed", spec.name, exc_info=True)
            raise ModelLoadError(
                f"model {spec.name} ({spec.source or spec.backend}) failed to load: {exc}"
            ) from exc
        layout = model.describe().thread_layout
        log.info(
            "loaded model %s [%s] in %.1f s%s",
            spec.name,
            spec.backend,
            time.perf_counter() - started,
            f"; thread layout {layout} (batches side by side x threads each)" if layout else "",
        )
        if spec.backend == "extractive":
            extractive = model  # type: ignore[assignment]
            continue
        if SUMMARIZE in spec.tasks:
            summarizers.append(model)  # type: ignore[arg-type]
        if TRANSLATE in spec.tasks:
            translators.append(model)  # type: ignore[arg-type]
    if extractive is None:
        raise ConfigurationError(f"profile {profile.name!r} has no extractive summarizer")
    return SummarizationPipeline(
        profile=profile.name,
        detector=LanguageDetector(),
        summarizers=summarizers,
        translators=translators,
        extractive=extractive,
        limits=Limits.from_settings(settings),
        # Only CTranslate2 batches are sized to the batch memory; transformers runs what it is given.
        max_request_model_bytes=context.batch_memory_bytes if runtimes == {"ctranslate2"} else None,
    )
