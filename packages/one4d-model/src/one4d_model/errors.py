"""one4d_model's errors, under the project's root `one4d_geometry.errors.One4DError`."""

from __future__ import annotations

from one4d_geometry.errors import One4DError


class ModelError(One4DError, ValueError):
    """A bad setting, input or file for the model (shapes, variants, VAE and checkpoint formats)."""


class WeightsError(ModelError, KeyError):
    """Weights that do not fit the model: missing or unexpected tensors, unknown branches."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0]) if self.args else ""
