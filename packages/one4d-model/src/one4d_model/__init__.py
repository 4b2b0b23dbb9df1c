"""one4d_model: the Decoupled LoRA Control transformer on Wan2.1 (diffusers), its spec, run format and
pipeline. Its parts live in subpackages: `models` (the network), `pipelines` (inference), `loading` (a trained
model on disk), `viz` (showing a result) and `cli` (the command lines). Internals (LoRA layers and their
routing, links, input packing) stay in their modules."""

from one4d_geometry.threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see one4d_geometry.threads)

import importlib

# Names resolve on first use (PEP 562), so `import one4d_model.viz.scene` and the light CLIs (one4d-view,
# one4d-render) start without importing diffusers and the transformer.
_EXPORTS = {
    "init_inference_parallel": "pipelines.parallel",
    "ATTENTION_BACKENDS": "models.attention",
    "check_attention_backend": "models.attention",
    "build_one4d_transformer": "loading.build",
    "Components": "loading.components",
    "build_components": "loading.components",
    "WAN_CONFIGS": "models.configs",
    "wan_config": "models.configs",
    "ModelError": "errors",
    "WeightsError": "errors",
    "lora_adapter_config": "loading.lora_export",
    "lora_state_dict": "loading.lora_export",
    "save_lora": "loading.lora_export",
    "One4DPipeline": "pipelines.pipeline",
    "One4DPipelineOutput": "pipelines.pipeline",
    "find_checkpoint": "loading.run_format",
    "load_trainable": "loading.run_format",
    "read_spec": "loading.run_format",
    "save_trainable": "loading.run_format",
    "trainable_state_dict": "loading.run_format",
    "ModelSpec": "loading.spec",
    "COUPLINGS": "models.transformer",
    "TRAINABLE_GROUPS": "models.transformer",
    "One4DOutput": "models.transformer",
    "One4DTransformer": "models.transformer",
    "parameter_report": "models.transformer",
    "load_wan_base": "models.wan_weights",
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
