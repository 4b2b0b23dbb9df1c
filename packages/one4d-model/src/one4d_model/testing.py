"""Helpers for tests and benchmarks on the tiny config (random inputs, perturbing zero-init parameters, a
tiny pipeline, recording the transformer's inputs, several processes under torchrun)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .models.configs import IMAGE_CONTEXT_TOKENS, TEXT_CONTEXT_TOKENS, wan_config


def make_tiny_inputs(
    batch: int = 2,
    frames: int = 2,
    height: int = 4,
    width: int = 6,
    seed: int = 1,
    variant: str = "tiny",
    dtype: torch.dtype = torch.float32,
) -> dict[str, torch.Tensor]:
    """Random keyword inputs of One4DTransformer.forward for `variant` (latent sizes f, h, w)."""
    cfg = wan_config(variant)
    g = torch.Generator().manual_seed(seed)
    latent = cfg["out_channels"]
    mask = cfg["in_channels"] - 2 * latent

    def rand(*shape):
        return torch.randn(*shape, generator=g).to(dtype)

    inputs = {
        "rgb_latents": rand(batch, latent, frames, height, width),
        "xyz_latents": rand(batch, latent, frames, height, width),
        "cond_latents": rand(batch, latent, frames, height, width),
        "cond_mask": (torch.rand(batch, mask, frames, height, width, generator=g) > 0.5).to(dtype),
        "timestep": torch.rand(batch, generator=g) * 1000,
        "encoder_hidden_states": rand(batch, TEXT_CONTEXT_TOKENS, cfg["text_dim"]),
    }
    if cfg.get("image_dim") is not None:
        inputs["encoder_hidden_states_image"] = rand(batch, IMAGE_CONTEXT_TOKENS, cfg["image_dim"])
    return inputs


def perturb_(named_params: Iterable[tuple[str, torch.nn.Parameter]], seed: int, scale: float = 0.05) -> None:
    """Add seeded Gaussian noise to parameters in place (e.g. to make zero-initialised LoRA B non-zero)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, p in named_params:
            p.add_((torch.randn(p.shape, generator=g) * scale).to(p.device, p.dtype))


# The words of the synthetic scenes' captions (one4d_data.synthetic) and a few more; others map to <unk>.
TINY_WORDS = (
    "a",
    "an",
    "around",
    "blue",
    "box",
    "brown",
    "camera",
    "forward",
    "green",
    "grey",
    "ground",
    "handheld",
    "indoor",
    "is",
    "left",
    "moves",
    "moving",
    "open",
    "orange",
    "orbits",
    "pans",
    "pink",
    "plane",
    "purple",
    "red",
    "right",
    "room",
    "scene",
    "shakes",
    "sky",
    "slightly",
    "sphere",
    "static",
    "teal",
    "the",
    "under",
    "white",
    "with",
    "yellow",
    "in",
    "of",
    "and",
    "on",
    "cube",
    "orbit",
    "walls",
    "floor",
    "light",
    "dark",
    "small",
    "large",
    ",",
    ";",
    ".",
)


def write_tiny_text_encoder(path: str | Path, dim: int = 32, seed: int = 0) -> Path:
    """A random 2-layer umT5 encoder and a word-level tokenizer, saved with transformers under ``path``
    (``text_encoder/`` and ``tokenizer/``), standing in for umT5-XXL in tests."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    path = Path(path)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2}
    for word in TINY_WORDS:
        vocab.setdefault(word, len(vocab))
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", 1)])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    tokenizer.save_pretrained(str(path / "tokenizer"))
    torch.manual_seed(seed)
    config = UMT5Config(
        vocab_size=len(vocab),
        d_model=dim,
        d_kv=8,
        d_ff=2 * dim,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        pad_token_id=0,
        eos_token_id=1,
    )
    UMT5EncoderModel(config).save_pretrained(str(path / "text_encoder"))
    return path


def write_tiny_image_encoder(path: str | Path, dim: int = 32, seed: int = 0) -> Path:
    """A random 2-layer CLIP vision tower with ViT-H/14's token layout (224 px, patch 14: 257 tokens) and
    CLIP's preprocessing, saved under ``path`` (``image_encoder/`` and ``image_processor/``)."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    from .models.encoders import _image_processor_class

    path = Path(path)
    torch.manual_seed(seed)
    config = CLIPVisionConfig(
        hidden_size=dim,
        intermediate_size=2 * dim,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=224,
        patch_size=14,
    )
    CLIPVisionModel(config).save_pretrained(str(path / "image_encoder"))
    processor = _image_processor_class()(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    processor.save_pretrained(str(path / "image_processor"))
    return path


def tiny_pipeline(**options):
    """A `One4DPipeline` on the tiny config with non-zero LoRA and links (so both branches and their
    coupling matter) and the tiny stand-in encoders; `options` go to the pipeline (e.g. `memory`)."""
    from .loading.build import build_one4d_transformer
    from .models.tiny_encoders import TinyImageEncoder, TinyTextEncoder
    from .models.vae import build_vae
    from .pipelines.pipeline import One4DPipeline

    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", lora_rank=4, num_links=2)
    for i, params in enumerate(model.trainable_groups().values()):
        perturb_(params, seed=i)
    cfg = model.config
    text, image = TinyTextEncoder(cfg.text_dim), TinyImageEncoder(cfg.image_dim)
    return One4DPipeline(model, build_vae("tiny"), text, image, **options)


@contextmanager
def record_forward(model: torch.nn.Module) -> Iterator[list[tuple]]:
    """Record the positional inputs of every `model(...)` call inside the block (the calls still run)."""
    calls: list[tuple] = []
    original = model.forward

    def recording(*args):
        calls.append(args)
        return original(*args)

    model.forward = recording
    try:
        yield calls
    finally:
        del model.forward


def run_processes(args: list[str], nproc: int = 1, timeout: float = 600) -> subprocess.CompletedProcess:
    """`python *args` (a script or `-m module` and its arguments) in `nproc` CPU processes under torchrun
    (plain python for one), one thread each; fails with the tail of stderr unless it exits 0."""
    launcher = (
        ["-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}"] if nproc > 1 else []
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    result = subprocess.run(
        [sys.executable, *launcher, *args], env=env, capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result
