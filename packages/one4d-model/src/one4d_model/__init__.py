"""one4d_model: the Decoupled LoRA Control transformer on Wan2.1 (diffusers), its spec, run format and
pipeline. Internals (LoRA layers and their routing, links, input packing) stay in their modules."""

from .attention import ATTENTION_BACKENDS, check_attention_backend
from .build import build_one4d_transformer
from .components import Components, build_components
from .configs import WAN_CONFIGS, wan_config
from .errors import ModelError, WeightsError
from .lora_export import lora_adapter_config, lora_state_dict, save_lora
from .pipeline import One4DPipeline, One4DPipelineOutput
from .run_format import find_checkpoint, load_trainable, read_spec, save_trainable, trainable_state_dict
from .spec import ModelSpec
from .transformer import COUPLINGS, TRAINABLE_GROUPS, One4DOutput, One4DTransformer, parameter_report
from .wan_weights import load_wan_base

__version__ = "0.1.0"

__all__ = [
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
