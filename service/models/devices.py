"""How many CUDA devices each runtime can see, asked of the runtime's own library.

The loader checks `--device` against this before loading anything. Each library is imported only when a GPU
is asked for, and only for the runtime that needs it, so that a CTranslate2 server never imports torch.
"""

from __future__ import annotations

from collections.abc import Callable

from service.errors import ConfigurationError


def _ctranslate2_devices() -> int:
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def _torch_devices() -> int:
    import torch

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


#: runtime name -> (package to import, device count)
CUDA_PROBES: dict[str, tuple[str, Callable[[], int]]] = {
    "ctranslate2": ("ctranslate2", _ctranslate2_devices),
    "transformers": ("torch", _torch_devices),
}


def cuda_device_count(runtime: str, device: str) -> int:
    """CUDA devices `runtime` sees; a missing package is a one-line ConfigurationError naming `device`."""
    package, count = CUDA_PROBES[runtime]
    try:
        return count()
    except ImportError:
        raise ConfigurationError(f"device {device}: the {package} package is not installed") from None
