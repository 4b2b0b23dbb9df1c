"""Wan2.1's context encoders, loaded with transformers from local paths.

Text: umT5 (``UMT5EncoderModel``), last hidden state of the caption's tokens, zero-padded to 512 tokens (the
padding positions are zeros, not the encoder's outputs there, as in Wan's own pipeline). Image: CLIP ViT-H/14
(``CLIPVisionModel``), penultimate hidden states of the first conditioning frame, 257 x 1280.

A path may be a diffusers-layout model folder (``text_encoder/`` + ``tokenizer/``, ``image_encoder/`` +
``image_processor/``) or the component folder itself holding its ``config.json`` and tokenizer or
preprocessor files.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from one4d_data.normalize import unit_to_rgb

from ..errors import ModelError
from .configs import TEXT_CONTEXT_TOKENS

TOKENIZER_FILES = ("tokenizer.json", "spiece.model", "tokenizer_config.json")


def _component_dir(path: str | Path, subfolder: str, what: str) -> Path:
    """``path/subfolder`` when it holds a config.json, else ``path`` itself when it does; else an error."""
    root = Path(path)
    for candidate in (root / subfolder, root):
        if (candidate / "config.json").is_file():
            return candidate
    raise FileNotFoundError(
        f"{what}: no config.json in {root / subfolder} or {root} (expected a local transformers model "
        f"folder, or a diffusers Wan2.1 folder with a {subfolder}/ subfolder)"
    )


def _files_dir(candidates: Sequence[Path], names: Sequence[str], what: str) -> Path:
    for candidate in candidates:
        if any((candidate / name).is_file() for name in names):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"{what}: none of {', '.join(names)} found in {looked}")


def clean_caption(text: str) -> str:
    """HTML entities unescaped and whitespace collapsed (Wan's prompt cleaning, without ftfy)."""
    return re.sub(r"\s+", " ", html.unescape(html.unescape(text))).strip()


class UMT5TextEncoder:
    """Captions -> (B, 512, D) umT5 states, zero beyond each caption's tokens."""

    def __init__(self, model: torch.nn.Module, tokenizer, max_length: int = TEXT_CONTEXT_TOKENS) -> None:
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        self.max_length = int(max_length)

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        tokenizer_path: str | Path | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
        max_length: int = TEXT_CONTEXT_TOKENS,
    ) -> UMT5TextEncoder:
        from transformers import AutoTokenizer, UMT5EncoderModel

        model_dir = _component_dir(path, "text_encoder", "umT5 text encoder")
        root = Path(path)
        tok_candidates = [Path(tokenizer_path)] if tokenizer_path else [root / "tokenizer", model_dir, root]
        tok_dir = _files_dir(tok_candidates, TOKENIZER_FILES, "umT5 tokenizer")
        tokenizer = AutoTokenizer.from_pretrained(str(tok_dir))
        model = UMT5EncoderModel.from_pretrained(str(model_dir), dtype=dtype).to(device)
        return cls(model, tokenizer, max_length)

    @property
    def dim(self) -> int:
        return int(self.model.config.d_model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def __call__(self, captions: Sequence[str]) -> torch.Tensor:
        if isinstance(captions, str):
            raise TypeError("pass a list of captions, not a single string")
        tokens = self.tokenizer(
            [clean_caption(c) for c in captions],
            padding="max_length",
            max_length=self.max_length,
            truncation=True,
            add_special_tokens=True,
            return_attention_mask=True,
            return_tensors="pt",
        )
        mask = tokens.attention_mask.to(self.device)
        states = self.model(input_ids=tokens.input_ids.to(self.device), attention_mask=mask).last_hidden_state
        return states * mask[..., None].to(states.dtype)


def _image_processor_class():
    # transformers 5 splits CLIP preprocessing into a torchvision backend and a PIL one; torchvision is not a
    # dependency here, so ask for the PIL one where it exists (in 4.x it is the only one).
    try:
        from transformers import CLIPImageProcessorPil

        return CLIPImageProcessorPil
    except ImportError:  # pragma: no cover - transformers 4.x
        from transformers import CLIPImageProcessor

        return CLIPImageProcessor


class CLIPImageEncoder:
    """Frames (B, 3, H, W) in [-1, 1] -> (B, 257, D) penultimate CLIP vision states."""

    def __init__(self, model: torch.nn.Module, processor) -> None:
        self.model = model.eval().requires_grad_(False)
        self.processor = processor

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path,
        *,
        processor_path: str | Path | None = None,
        device: torch.device | str = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> CLIPImageEncoder:
        from transformers import CLIPVisionModel

        model_dir = _component_dir(path, "image_encoder", "CLIP image encoder")
        root = Path(path)
        candidates = [Path(processor_path)] if processor_path else [root / "image_processor", model_dir, root]
        proc_dir = _files_dir(candidates, ("preprocessor_config.json",), "CLIP image processor")
        processor = _image_processor_class().from_pretrained(str(proc_dir))
        model = CLIPVisionModel.from_pretrained(str(model_dir), dtype=dtype).to(device)
        return cls(model, processor)

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def num_tokens(self) -> int:
        cfg = self.model.config
        return (cfg.image_size // cfg.patch_size) ** 2 + 1

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @torch.no_grad()
    def __call__(self, frames: torch.Tensor) -> torch.Tensor:
        if frames.ndim != 4 or frames.shape[1] != 3:
            raise ModelError(f"expected frames of shape (B, 3, H, W) in [-1, 1], got {tuple(frames.shape)}")
        pixels = unit_to_rgb(frames.detach().cpu())
        images = [np.ascontiguousarray(p.permute(1, 2, 0).numpy()) for p in pixels]
        inputs = self.processor(images=images, return_tensors="pt")
        dtype = next(self.model.parameters()).dtype
        out = self.model(pixel_values=inputs.pixel_values.to(self.device, dtype), output_hidden_states=True)
        return out.hidden_states[-2]
