"""Attention backend selection through diffusers' dispatcher, per model rather than process-wide.

diffusers' `ModelMixin.set_attention_backend` also changes a process-wide default that
`reset_attention_backend` does not undo. We instead set the backend on each attention processor of our
model only, so other models in the process keep theirs.
"""

from __future__ import annotations

import importlib.util

import torch
from diffusers.models.attention import AttentionModuleMixin
from diffusers.models.attention_dispatch import AttentionBackendName, _check_attention_backend_requirements
from torch import nn

from ..errors import ModelError

ATTENTION_BACKENDS: tuple[str, ...] = ("native", "_native_flash", "_native_cudnn", "flash", "xformers")
_NEEDS_CUDA = {"_native_flash", "_native_cudnn", "flash", "xformers"}
_NEEDS_PACKAGE = {"flash": ("flash_attn", "flash-attn>=2.6.3"), "xformers": ("xformers", "xformers")}


def check_attention_backend(name: str) -> AttentionBackendName:
    """Validate that `name` is supported and usable here; raise a clear error otherwise."""
    if name not in ATTENTION_BACKENDS:
        raise ModelError(f"attention backend must be one of {list(ATTENTION_BACKENDS)}, got {name!r}")
    if name in _NEEDS_CUDA and not torch.cuda.is_available():
        raise RuntimeError(f"attention backend {name!r} needs a CUDA device; on the CPU use 'native'")
    if name in _NEEDS_PACKAGE:
        module, requirement = _NEEDS_PACKAGE[name]
        if importlib.util.find_spec(module) is None:
            raise ImportError(
                f"attention backend {name!r} needs the package {requirement} "
                "(install the extra one4d-model[gpu] on a CUDA machine)"
            )
    backend = AttentionBackendName(name)
    _check_attention_backend_requirements(backend)
    return backend


def set_module_attention_backend(module: nn.Module, name: str) -> None:
    """Set the attention backend of every diffusers attention processor inside `module` (only there)."""
    backend = check_attention_backend(name)
    for sub in module.modules():
        if isinstance(sub, AttentionModuleMixin):
            sub.processor._attention_backend = backend
