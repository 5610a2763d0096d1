"""Builds the pipeline for a profile: loads every model through the registry, before serving."""

from __future__ import annotations

import logging
import os
import time

from service.config import Settings
from service.errors import ConfigurationError, ModelLoadError
from service.models.base import SUMMARIZE, TRANSLATE, LoadContext, Model, Summarizer, Translator
from service.models.registry import create_model
from service.pipeline import Limits, SummarizationPipeline
from service.profiles import get_profile
from service.text.detect import LanguageDetector

log = logging.getLogger(__name__)


def load_context(settings: Settings) -> LoadContext:
    return LoadContext(
        cache_dir=settings.cache_dir,
        threads=settings.inference_threads,
        runtime=settings.runtime,
        offline=os.environ.get("HF_HUB_OFFLINE") == "1",
    )


def build_pipeline(settings: Settings) -> SummarizationPipeline:
    """Load the profile's models. Raises ConfigurationError (ModelLoadError) with one clear line."""
    profile = get_profile(settings.profile, settings.profile_file)
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
        log.info("loaded model %s [%s] in %.1f s", spec.name, spec.backend, time.perf_counter() - started)
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
        limits=Limits(
            max_text_chars=settings.max_text_chars,
            max_targets=settings.max_targets,
            max_translate_texts=settings.max_translate_texts,
        ),
    )
