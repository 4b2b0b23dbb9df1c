"""The network: the DLC transformer, VAEs, text/image encoders, Wan configs, base weights, the tiny One4D."""
