"""Where the pipeline's weights live between uses: the memory modes of `One4DPipeline`.

- `full`: every component on the execution device (fastest; the 14B transformer alone is 28 GB in bf16).
- `offload`: every component waits on the CPU and comes to the device only for its stage (text and image
  encoding, VAE encoding, sampling, VAE decoding), as diffusers' model CPU offload does; the encoders go back
  as soon as their states are computed. Peak memory is the largest component plus its activations.
- `sequential`: as `offload` for the encoders and the VAE, and the transformer through diffusers' group
  offloading at leaf level (`diffusers.hooks.apply_group_offloading`: each layer's weights come to the device
  when it runs, prefetched on a CUDA stream): the lowest memory, at the cost of transfers at every step.
  Leaf level rather than block level because One4D's transformer runs the Wan blocks itself (DLC), so the
  base model's own `forward`, on which block-level offloading hangs the rest of the base's weights, is never
  called; parameters outside supported layers (a block's modulation table) come with their module's
  `forward`, and the base's output modulation table is moved where it is used.

The two offloading modes also turn on VAE tiling and slicing where the VAE has them (`AutoencoderKLWan`).
Component moves are `Module.to` calls made around each stage: diffusers' own model offload is a method of
`DiffusionPipeline`, and accelerate's hooks fire on `forward`, which the VAE's `encode` / `decode` and the
encoders' `__call__` are not.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from ..errors import ModelError

MEMORY_MODES = ("full", "offload", "sequential")


def _modules(component) -> list[torch.nn.Module]:
    """The weights of a component: itself when it is a module, its `.model` (the umT5 / CLIP wrappers), or
    none (the tiny stand-in encoders hold fixed tensors only)."""
    if isinstance(component, torch.nn.Module):
        return [component]
    model = getattr(component, "model", None)
    return [model] if isinstance(model, torch.nn.Module) else []


class Residency:
    """Applies a memory mode to the pipeline's components and moves them around each stage (`using`)."""

    def __init__(
        self,
        mode: str,
        device: torch.device | str,
        offload_device: torch.device | str = "cpu",
    ) -> None:
        if mode not in MEMORY_MODES:
            raise ModelError(f"memory mode must be one of {MEMORY_MODES}, got {mode!r}")
        self.mode = mode
        self.device = torch.device(device)
        self.offload_device = torch.device(offload_device)
        self.group_offloaded: set[int] = set()
        # The latest moves, (component name, "on" | "off"), for tests and debugging; bounded, as a pipeline
        # may live for many calls.
        self.moves: deque[tuple[str, str]] = deque(maxlen=64)

    def prepare(self, components: dict[str, object]) -> None:
        """Put every component where the mode keeps it between uses."""
        for name, component in components.items():
            if component is None:
                continue
            if self.mode == "full":
                self._move(component, self.device)
            elif self.mode == "sequential" and name == "transformer":
                self._group_offload(component)
            else:
                self._move(component, self.offload_device)
            if self.mode != "full" and name == "vae" and hasattr(component, "enable_memory_savers"):
                component.enable_memory_savers()

    @contextmanager
    def using(self, name: str, component) -> Iterator[None]:
        """The component on the execution device for the duration of the block (offloading modes)."""
        if self.mode == "full" or component is None or id(component) in self.group_offloaded:
            yield
            return
        self._move(component, self.device)
        self.moves.append((name, "on"))
        try:
            yield
        finally:
            self._move(component, self.offload_device)
            self.moves.append((name, "off"))

    def _move(self, component, device: torch.device) -> None:
        for module in _modules(component):
            module.to(device)

    def _group_offload(self, transformer: torch.nn.Module) -> None:
        from diffusers.hooks import apply_group_offloading

        cuda = self.device.type == "cuda"
        apply_group_offloading(
            transformer,
            onload_device=self.device,
            offload_device=self.offload_device,
            offload_type="leaf_level",
            use_stream=cuda,
        )
        self.group_offloaded.add(id(transformer))
