"""Pretraining the tiny One4D's own Wan-layout VAE (stage `vae`) and InP base transformer (stage `base`),
which the `tiny-cpu` preset then fine-tunes as One4D does the 14B. `one4d-pretrain` runs the stages."""
