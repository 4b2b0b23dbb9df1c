"""Inference: `One4DPipeline`, joint sampling, schedulers, long videos, memory modes, parallel inference."""
