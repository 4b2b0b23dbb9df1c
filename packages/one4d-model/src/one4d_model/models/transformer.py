"""The One4D transformer: Decoupled LoRA Control (and the coupling baselines) on Wan2.1."""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from diffusers import WanTransformer3DModel
from torch import nn
from torch.utils.checkpoint import checkpoint

from ..errors import ModelError
from .attention import set_module_attention_backend
from .inputs import validate_inputs
from .links import ControlLink, default_link_blocks
from .lora import GroupedLoRALinear, inject_grouped_lora, lora_routing

COUPLINGS: tuple[str, ...] = ("dlc", "channel", "spatial")
TRAINABLE_GROUPS: tuple[str, ...] = ("lora_rgb", "lora_xyz", "links", "xyz_heads")


@dataclass
class One4DOutput:
    """Predicted flow-matching velocities, (B, 16, f, h, w) each."""

    rgb: torch.Tensor
    xyz: torch.Tensor


def _in_dtype_of(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run `layer` on x in the layer's dtype (trainables may be fp32 over a bf16 base); return x's dtype."""
    return layer(x.to(layer.weight.dtype)).to(x.dtype)


def _tokens(grid: torch.Tensor) -> torch.Tensor:
    """(B, dim, f, h, w) -> (B, f*h*w, dim), contiguous."""
    return grid.flatten(2).transpose(1, 2).contiguous()


class One4DTransformer(nn.Module):
    """RGB + XYZ velocity prediction on a frozen diffusers `WanTransformer3DModel` (`self.base`).

    coupling="dlc": both branches run as one batch (rows [0, B) RGB, [B, 2B) XYZ) through the shared frozen
    base with per-branch LoRA, zero-initialised control links after `link_blocks`, and an XYZ patch
    embedding and output head of its own. "channel" and "spatial" are the paper's Figure-2 baselines (one
    shared LoRA; XYZ concatenated on channels, or side by side along width). The base is modified in place
    (its block Linears are wrapped); outside our forward those wrappers act as the plain base Linears, so
    `model.base(...)` still computes the frozen base model.
    """

    def __init__(
        self,
        base: WanTransformer3DModel,
        *,
        coupling: str = "dlc",
        lora_rank: int = 64,
        lora_alpha: float | None = None,
        lora_dropout: float = 0.0,
        link_blocks: Sequence[int] | None = None,
        num_links: int = 5,
        gradient_checkpointing: bool = False,
        attention_backend: str = "native",
        xyz_condition: bool = False,
    ) -> None:
        super().__init__()
        if coupling not in COUPLINGS:
            raise ModelError(f"coupling must be one of {list(COUPLINGS)}, got {coupling!r}")
        if xyz_condition and coupling != "dlc":
            raise ModelError(f"xyz_condition is an option of the dlc coupling, not of {coupling!r}")
        cfg = base.config
        if cfg.in_channels <= 2 * cfg.out_channels:
            raise ModelError(
                f"base in_channels ({cfg.in_channels}) must hold noisy + mask + cond latents "
                f"(> 2 x out_channels = {2 * cfg.out_channels}); use an InP (Fun) variant"
            )
        self.base = base
        self.coupling = coupling
        self.xyz_condition = xyz_condition
        self.base.requires_grad_(False)
        self.branches = ("rgb", "xyz") if coupling == "dlc" else ("shared",)
        self.gradient_checkpointing = gradient_checkpointing
        dim = cfg.num_attention_heads * cfg.attention_head_dim
        latent_ch = cfg.out_channels
        weight = base.patch_embedding.weight
        factory = {"device": weight.device, "dtype": weight.dtype}

        inject_grouped_lora(base.blocks, self.branches, lora_rank, lora_alpha, lora_dropout)

        # XYZ input: its own Conv3d(16 -> dim). DLC/spatial: a copy of the base's first 16 input channels
        # (the noisy-latent ones) and its bias. Channel: the extra input channels of a widened patch
        # embedding, zero so the base behaviour is preserved (the base's own 36 channels stay frozen).
        # xyz_condition (a departure from the paper, which feeds the conditioning to the RGB branch only):
        # Conv3d(36 -> dim), a copy of the whole base patch embedding, so the XYZ branch reads the UMC mask
        # and conditioning latents beside its noisy latents, pixel-aligned, from its first layer.
        self.xyz_patch_embedding = nn.Conv3d(
            cfg.in_channels if xyz_condition else latent_ch,
            dim,
            kernel_size=cfg.patch_size,
            stride=cfg.patch_size,
            bias=coupling != "channel",
            **factory,
        )
        with torch.no_grad():
            if coupling == "channel":
                self.xyz_patch_embedding.weight.zero_()
            else:
                self.xyz_patch_embedding.weight.copy_(weight[:, : self.xyz_patch_embedding.in_channels])
                self.xyz_patch_embedding.bias.copy_(base.patch_embedding.bias)
        # XYZ output head: a copy of the base proj_out (channel: the widened half of the head).
        self.xyz_proj_out = copy.deepcopy(base.proj_out).requires_grad_(True)

        self.link_blocks: tuple[int, ...] = ()
        self.links = nn.ModuleDict()
        if coupling == "dlc":
            blocks = default_link_blocks(cfg.num_layers, num_links) if link_blocks is None else link_blocks
            blocks = sorted({int(i) for i in blocks})
            bad = [i for i in blocks if not 0 <= i < cfg.num_layers]
            if bad:
                raise ModelError(f"link_blocks must be block indices in [0, {cfg.num_layers}), got {bad}")
            self.link_blocks = tuple(blocks)
            self.links = nn.ModuleDict({str(i): ControlLink(dim, **factory) for i in blocks})
        self.domain_embedding = None
        if coupling == "spatial":
            self.domain_embedding = nn.Parameter(torch.zeros(2, dim, **factory))
        self.set_attention_backend(attention_backend)

    # -- configuration -------------------------------------------------------------------------------------

    @property
    def config(self):
        return self.base.config

    def enable_gradient_checkpointing(self) -> None:
        """Recompute each block in backward (non-reentrant checkpointing)."""
        self.gradient_checkpointing = True

    def disable_gradient_checkpointing(self) -> None:
        self.gradient_checkpointing = False

    def set_attention_backend(self, name: str) -> None:
        """One of `ATTENTION_BACKENDS`, for this model only (no process-wide default is changed)."""
        set_module_attention_backend(self.base, name)
        self.attention_backend = name

    def lora_layers(self) -> dict[str, GroupedLoRALinear]:
        """The grouped LoRA layers by their diffusers module name (e.g. "blocks.0.attn1.to_q")."""
        return {n: m for n, m in self.base.named_modules() if isinstance(m, GroupedLoRALinear)}

    def trainable_groups(self) -> dict[str, list[tuple[str, nn.Parameter]]]:
        """Trainable parameters by group (for the baselines the shared LoRA is reported as "lora_rgb")."""
        groups: dict[str, list[tuple[str, nn.Parameter]]] = {g: [] for g in TRAINABLE_GROUPS}
        for name, layer in self.lora_layers().items():
            for branch in layer.branches:
                group = "lora_xyz" if branch == "xyz" else "lora_rgb"
                for kind in ("lora_A", "lora_B"):
                    groups[group].append(
                        (f"base.{name}.{kind}.{branch}.weight", getattr(layer, kind)[branch].weight)
                    )
        groups["links"] = [(f"links.{n}", p) for n, p in self.links.named_parameters()]
        heads = [(f"xyz_patch_embedding.{n}", p) for n, p in self.xyz_patch_embedding.named_parameters()]
        heads += [(f"xyz_proj_out.{n}", p) for n, p in self.xyz_proj_out.named_parameters()]
        if self.domain_embedding is not None:
            heads.append(("domain_embedding", self.domain_embedding))
        groups["xyz_heads"] = heads
        return groups

    # -- forward -------------------------------------------------------------------------------------------

    def forward(
        self,
        rgb_latents: torch.Tensor,
        xyz_latents: torch.Tensor,
        cond_latents: torch.Tensor,
        cond_mask: torch.Tensor,
        timestep: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        encoder_hidden_states_image: torch.Tensor | None = None,
    ) -> One4DOutput:
        """Velocities for noisy RGB and XYZ latents (B, 16, f, h, w) under UMC conditioning.

        cond_latents (B, 16, f, h, w): VAE latents of the conditioning video (unobserved frames zero);
        cond_mask (B, 4, f, h, w): the observed-frame mask at latent resolution; timestep (B,) in [0, 1000];
        encoder_hidden_states (B, 512, text_dim); encoder_hidden_states_image (B, 257, image_dim) for the
        image-conditioned variants. Classifier-free guidance is just a larger B.
        """
        validate_inputs(
            self.config,
            rgb_latents,
            xyz_latents,
            cond_latents,
            cond_mask,
            timestep,
            encoder_hidden_states,
            encoder_hidden_states_image,
        )
        rgb_input = torch.cat([rgb_latents, cond_mask, cond_latents], dim=1)
        rotary_emb = self.base.rope(rgb_input)
        temb, timestep_proj, context = self._embed_conditions(
            timestep, encoder_hidden_states, encoder_hidden_states_image
        )
        if self.coupling == "dlc":
            return self._forward_dlc(rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb)
        if self.coupling == "channel":
            return self._forward_channel(rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb)
        return self._forward_spatial(rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb)

    # Mirrors diffusers models/transformers/transformer_wan.py:WanTransformer3DModel.forward (0.42.1), its
    # condition-embedding part; checked by test_model_dlc.py::test_at_init_each_branch_equals_the_base_model.
    def _embed_conditions(self, timestep, encoder_hidden_states, encoder_hidden_states_image):
        """Timestep, text and image embeddings, computed once per sample (as the base model does)."""
        temb, timestep_proj, context, image_context = self.base.condition_embedder(
            timestep, encoder_hidden_states, encoder_hidden_states_image
        )
        timestep_proj = timestep_proj.unflatten(1, (6, -1))
        if image_context is not None:
            context = torch.cat([image_context, context], dim=1)
        return temb, timestep_proj, context

    def _run_block(self, block, hidden_states, context, timestep_proj, rotary_emb):
        # Routing is set inside the checkpointed function so the recompute routes rows identically.
        with lora_routing(self.branches):
            return block(hidden_states, context, timestep_proj, rotary_emb)

    def _blocks(self, hidden_states, context, timestep_proj, rotary_emb, after_block=None):
        checkpointing = self.gradient_checkpointing and torch.is_grad_enabled()
        for index, block in enumerate(self.base.blocks):
            run = functools.partial(self._run_block, block)
            if checkpointing:
                hidden_states = checkpoint(
                    run, hidden_states, context, timestep_proj, rotary_emb, use_reentrant=False
                )
            else:
                hidden_states = run(hidden_states, context, timestep_proj, rotary_emb)
            if after_block is not None:
                hidden_states = after_block(index, hidden_states)
        return hidden_states

    def _apply_links(self, index: int, hidden_states: torch.Tensor) -> torch.Tensor:
        key = str(index)
        return self.links[key](hidden_states) if key in self.links else hidden_states

    # Mirrors diffusers models/transformers/transformer_wan.py:WanTransformer3DModel.forward (0.42.1), its
    # output norm; checked by test_model_dlc.py::test_at_init_each_branch_equals_the_base_model.
    def _output_norm(self, hidden_states: torch.Tensor, temb: torch.Tensor) -> torch.Tensor:
        """The base's final LayerNorm with timestep shift/scale (shared and frozen for both branches)."""
        shift, scale = (self.base.scale_shift_table.to(temb.device) + temb.unsqueeze(1)).chunk(2, dim=1)
        normed = self.base.norm_out(hidden_states.float()) * (1 + scale) + shift
        return normed.type_as(hidden_states)

    # Mirrors diffusers models/transformers/transformer_wan.py:WanTransformer3DModel.forward (0.42.1), its
    # unpatchify; checked by test_model_dlc.py::test_at_init_each_branch_equals_the_base_model.
    def _unpatchify(self, tokens: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """(B, f'*h'*w', C*p_t*p_h*p_w) -> (B, C, f, h, w), the layout of the base proj_out."""
        p_t, p_h, p_w = self.config.patch_size
        f, h, w = grid
        x = tokens.reshape(tokens.shape[0], f, h, w, p_t, p_h, p_w, -1)
        # One reshape of the permuted tensor copies it: the output is not a view (FSDP2 warns about views).
        shape = (tokens.shape[0], x.shape[-1], f * p_t, h * p_h, w * p_w)
        return x.permute(0, 7, 1, 4, 2, 5, 3, 6).reshape(shape)

    def _patch_grid(self, latents: torch.Tensor) -> tuple[int, int, int]:
        p_t, p_h, p_w = self.config.patch_size
        _, _, f, h, w = latents.shape
        return f // p_t, h // p_h, w // p_w

    def _forward_dlc(self, rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb) -> One4DOutput:
        grid = self._patch_grid(xyz_latents)
        rgb_tokens = _tokens(self.base.patch_embedding(rgb_input))
        if self.xyz_condition:  # rgb_input's channels after the noisy latents: mask and conditioning
            xyz_latents = torch.cat([xyz_latents, rgb_input[:, xyz_latents.shape[1] :]], dim=1)
        xyz_tokens = _tokens(_in_dtype_of(self.xyz_patch_embedding, xyz_latents))
        hidden = torch.cat([rgb_tokens, xyz_tokens.to(rgb_tokens.dtype)], dim=0)
        # Both branches of a sample share its condition embeddings: computed for B, repeated for 2B rows.
        temb2, timestep_proj2, context2 = (torch.cat([t, t], dim=0) for t in (temb, timestep_proj, context))
        hidden = self._blocks(hidden, context2, timestep_proj2, rotary_emb, after_block=self._apply_links)
        rgb_hidden, xyz_hidden = self._output_norm(hidden, temb2).chunk(2, dim=0)
        rgb = self._unpatchify(self.base.proj_out(rgb_hidden), grid)
        xyz = self._unpatchify(_in_dtype_of(self.xyz_proj_out, xyz_hidden), grid)
        return One4DOutput(rgb=rgb, xyz=xyz)

    def _forward_channel(self, rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb):
        grid = self._patch_grid(xyz_latents)
        # A patch embedding widened to 36 + 16 input channels == base conv + conv of the extra channels.
        hidden = _tokens(self.base.patch_embedding(rgb_input))
        xyz_tokens = _tokens(_in_dtype_of(self.xyz_patch_embedding, xyz_latents))
        hidden = hidden + xyz_tokens.to(hidden.dtype)
        hidden = self._blocks(hidden, context, timestep_proj, rotary_emb)
        hidden = self._output_norm(hidden, temb)
        # A head widened to 32 channels == base proj_out (RGB half) + xyz_proj_out (XYZ half).
        rgb = self._unpatchify(self.base.proj_out(hidden), grid)
        xyz = self._unpatchify(_in_dtype_of(self.xyz_proj_out, hidden), grid)
        return One4DOutput(rgb=rgb, xyz=xyz)

    def _forward_spatial(self, rgb_input, xyz_latents, temb, timestep_proj, context, rotary_emb):
        f, h, w = self._patch_grid(xyz_latents)
        rgb_grid = self.base.patch_embedding(rgb_input)
        xyz_grid = _in_dtype_of(self.xyz_patch_embedding, xyz_latents)
        domain = self.domain_embedding.to(rgb_grid.dtype)[:, :, None, None, None]
        side_by_side = torch.cat([rgb_grid + domain[0], xyz_grid.to(rgb_grid.dtype) + domain[1]], dim=-1)
        hidden = _tokens(side_by_side)  # (B, f*h*2w, dim)
        # Same RoPE positions for both halves: repeat each row's width positions.
        rotary_emb = tuple(
            r.reshape(f, h, w, -1).repeat(1, 1, 2, 1).reshape(1, f * h * 2 * w, 1, -1) for r in rotary_emb
        )
        hidden = self._blocks(hidden, context, timestep_proj, rotary_emb)
        hidden = self._output_norm(hidden, temb).reshape(-1, f, h, 2 * w, hidden.shape[-1])
        rgb_hidden, xyz_hidden = (half.flatten(1, 3) for half in hidden.chunk(2, dim=3))
        rgb = self._unpatchify(self.base.proj_out(rgb_hidden), (f, h, w))
        xyz = self._unpatchify(_in_dtype_of(self.xyz_proj_out, xyz_hidden), (f, h, w))
        return One4DOutput(rgb=rgb, xyz=xyz)


def parameter_report(model: One4DTransformer) -> dict[str, int]:
    """Parameter counts per trainable group plus "trainable" and "frozen" (works on the meta device)."""
    groups = model.trainable_groups()
    report = {name: sum(p.numel() for _, p in params) for name, params in groups.items()}
    trainable_ids = {id(p) for params in groups.values() for _, p in params}
    report["trainable"] = sum(report[g] for g in groups)
    report["frozen"] = sum(p.numel() for p in model.parameters() if id(p) not in trainable_ids)
    return report
