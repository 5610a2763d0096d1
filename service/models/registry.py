"""Backends register themselves by name; profiles name them. A miss lists the names that exist."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TypeVar

from service.errors import ConfigurationError
from service.models.base import LoadContext, Model, ModelSpec

BackendFactory = Callable[[ModelSpec, LoadContext], Model]
F = TypeVar("F", bound=BackendFactory)

_FACTORIES: dict[str, BackendFactory] = {}

# Built-in backends, imported on first use so that a profile without torch models never imports torch.
_BUILTIN_MODULES = {
    "extractive": "service.models.extractive",
    "seq2seq": "service.models.seq2seq",
    "llm": "service.models.llm",
}


def register_backend(name: str) -> Callable[[F], F]:
    """Class or function decorator: `@register_backend("seq2seq")`."""

    def decorate(factory: F) -> F:
        if name in _FACTORIES and _FACTORIES[name] is not factory:
            raise ConfigurationError(f"backend {name!r} is registered twice")
        _FACTORIES[name] = factory
        return factory

    return decorate


def backend_names() -> list[str]:
    return sorted(set(_FACTORIES) | set(_BUILTIN_MODULES))


def get_backend(name: str) -> BackendFactory:
    if name not in _FACTORIES and name in _BUILTIN_MODULES:
        importlib.import_module(_BUILTIN_MODULES[name])
    try:
        return _FACTORIES[name]
    except KeyError:
        raise ConfigurationError(
            f"unknown backend {name!r}; available backends: {', '.join(backend_names())}"
        ) from None


def create_model(spec: ModelSpec, context: LoadContext) -> Model:
    return get_backend(spec.backend)(spec, context)
