"""one4d_model: the Decoupled LoRA Control transformer on Wan2.1 (diffusers), its spec, run format and
pipeline. Internals (LoRA layers and their routing, links, input packing) stay in their modules."""

from one4d_geometry.threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see one4d_geometry.threads)

import importlib

# Names resolve on first use (PEP 562), so `import one4d_model.scene` and the light CLIs (one4d-view,
# one4d-render) start without importing diffusers and the transformer.
_EXPORTS = {
    "init_inference_parallel": "parallel",
    "ATTENTION_BACKENDS": "attention",
    "check_attention_backend": "attention",
    "build_one4d_transformer": "build",
    "Components": "components",
    "build_components": "components",
    "WAN_CONFIGS": "configs",
    "wan_config": "configs",
    "ModelError": "errors",
    "WeightsError": "errors",
    "lora_adapter_config": "lora_export",
    "lora_state_dict": "lora_export",
    "save_lora": "lora_export",
    "One4DPipeline": "pipeline",
    "One4DPipelineOutput": "pipeline",
    "find_checkpoint": "run_format",
    "load_trainable": "run_format",
    "read_spec": "run_format",
    "save_trainable": "run_format",
    "trainable_state_dict": "run_format",
    "ModelSpec": "spec",
    "COUPLINGS": "transformer",
    "TRAINABLE_GROUPS": "transformer",
    "One4DOutput": "transformer",
    "One4DTransformer": "transformer",
    "parameter_report": "transformer",
    "load_wan_base": "wan_weights",
}


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__version__ = "0.1.0"

__all__ = [
    "init_inference_parallel",
    "ATTENTION_BACKENDS",
    "COUPLINGS",
    "TRAINABLE_GROUPS",
    "WAN_CONFIGS",
    "Components",
    "ModelError",
    "ModelSpec",
    "One4DOutput",
    "One4DPipeline",
    "One4DPipelineOutput",
    "One4DTransformer",
    "WeightsError",
    "build_components",
    "build_one4d_transformer",
    "check_attention_backend",
    "find_checkpoint",
    "load_trainable",
    "load_wan_base",
    "lora_adapter_config",
    "lora_state_dict",
    "parameter_report",
    "read_spec",
    "save_lora",
    "save_trainable",
    "trainable_state_dict",
    "wan_config",
]
