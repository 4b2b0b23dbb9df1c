"""A trained model on disk: the model spec, the run format, components built from a spec, LoRA export."""
