"""one4d_model: the Decoupled LoRA Control transformer on Wan2.1 (diffusers)."""

from .attention import ATTENTION_BACKENDS, check_attention_backend
from .build import build_one4d_transformer
from .configs import WAN_CONFIGS, wan_config
from .links import ControlLink, default_link_blocks
from .lora import LORA_TARGETS, GroupedLoRALinear, lora_routing
from .pipeline import One4DPipeline, One4DPipelineOutput, find_checkpoint
from .trainable_io import (
    load_trainable,
    load_training_checkpoint,
    lora_adapter_config,
    lora_state_dict,
    save_lora,
    save_trainable,
    trainable_state_dict,
)
from .transformer import COUPLINGS, TRAINABLE_GROUPS, One4DOutput, One4DTransformer, parameter_report
from .wan_weights import load_wan_base

__version__ = "0.1.0"

__all__ = [
    "ATTENTION_BACKENDS",
    "COUPLINGS",
    "LORA_TARGETS",
    "TRAINABLE_GROUPS",
    "WAN_CONFIGS",
    "ControlLink",
    "GroupedLoRALinear",
    "One4DOutput",
    "One4DPipeline",
    "One4DPipelineOutput",
    "One4DTransformer",
    "build_one4d_transformer",
    "check_attention_backend",
    "default_link_blocks",
    "find_checkpoint",
    "load_trainable",
    "load_training_checkpoint",
    "load_wan_base",
    "lora_adapter_config",
    "lora_routing",
    "lora_state_dict",
    "parameter_report",
    "save_lora",
    "save_trainable",
    "trainable_state_dict",
    "wan_config",
]
