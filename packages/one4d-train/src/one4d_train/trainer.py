"""The training loop: one process, DDP, or FSDP2 under torchrun."""

from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path

import numpy as np
import torch
from one4d_data.umc import TASKS
from one4d_model import One4DPipeline
from one4d_model.loading.components import build_transformer
from one4d_model.loading.run_format import write_trainable
from one4d_model.loading.spec import SamplerConfig
from one4d_model.models.transformer import parameter_report

from .batches import CachedBatches, EncodedBatches, dataset_clips, pre_encode_dir, synthetic_clips
from .cache import encode_into_cache
from .checkpoint import latest_checkpoint, load_checkpoint, save_checkpoint
from .components import build_context_encoders, build_video_vae
from .config import TrainConfig, model_spec, save_config, to_dict
from .distributed import (
    DistEnv,
    all_reduce_mean,
    init_distributed,
    resolve_strategy,
    shutdown_distributed,
    unwrap,
    wrap_model,
)
from .evaluation import evaluate_geometry, flatten_scores, format_geometry_table, held_out_losses
from .losses import draw_noise, flow_matching_loss
from .metrics_log import MetricsLog
from .positions import PositionSchedule, sample_positions
from .schedule import build_scheduler


def build_model(config: TrainConfig, device: torch.device) -> torch.nn.Module:
    """The run's transformer (`one4d_model.loading.components.build_transformer` on its spec), with the base
    made trainable where the config says so and every trainable tensor in fp32."""
    m = config.model
    model = build_transformer(
        model_spec(config),
        device=device,
        dtype=torch.bfloat16 if config.precision == "bf16" else torch.float32,
        gradient_checkpointing=m.gradient_checkpointing,
    )
    if m.train_base:
        model.base.requires_grad_(True)
    # Trainable state in fp32 (the frozen base may be bf16).
    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()
    return model


def seed_everything(seed: int) -> None:
    """Python's, numpy's and torch's global generators (per-sample randomness has its own seeded generators,
    `batches.sample_generator`; this covers initialisation and anything else that draws globally)."""
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global state is what third-party code draws from)
    torch.manual_seed(seed)


class Trainer:
    def __init__(self, config: TrainConfig, env: DistEnv | None = None, resume: bool = False) -> None:
        self.config = config
        self.env = env or init_distributed()
        self.output_dir = Path(config.output_dir)
        self.resume = resume
        seed_everything(config.seed)
        env = self.env
        if env.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            save_config(config, self.output_dir / "config.toml")
        self.strategy = resolve_strategy(config.distributed, env)
        core = build_model(config, env.device)
        self.report = parameter_report(core)
        self.data = self._build_data()
        self.eval_data, self.eval_clips = None, []
        if config.data.source == "synthetic":
            held_out = synthetic_clips(config, held_out=True)
            self.eval_data = EncodedBatches(
                held_out, held_out.seed, self.vae, self.text_encoder, self.image_encoder, env.device
            )
            self.eval_clips = [held_out.source[i] for i in range(len(held_out))]
        self.model = wrap_model(core, self.strategy, env, bf16=config.precision == "bf16")
        params = [p for p in self.model.parameters() if p.requires_grad]
        o = config.optim
        self.optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay)
        self.scheduler = build_scheduler(self.optimizer, o.schedule, o.warmup_steps, config.max_steps)
        self.step = 0
        if resume:
            path = latest_checkpoint(self.output_dir)
            if path is not None:
                self.step = load_checkpoint(path, self.model, self.optimizer, self.scheduler, env)

    def _build_data(self):
        """Training batches; also sets the VAE and context encoders (None when training reads a cache)."""
        config, env = self.config, self.env
        self.vae = self.text_encoder = self.image_encoder = None
        if config.data.source == "cache":
            return CachedBatches(config, env.device)
        clips = synthetic_clips(config) if config.data.source == "synthetic" else dataset_clips(config)
        # The linear patch VAE is fitted on rank 0 first, so every rank loads the same file.
        if config.model.vae == "linear-patch" and env.distributed:
            if env.is_main:
                build_video_vae(config, env.device, clips)
            torch.distributed.barrier()
        self.vae = build_video_vae(config, env.device, clips)
        self.text_encoder, self.image_encoder = build_context_encoders(config, env.device)
        if config.data.pre_encode:  # encode every clip once, then train from the cache
            cache_dir = pre_encode_dir(config)
            encode_into_cache(clips, self.vae, self.text_encoder, self.image_encoder, cache_dir, env)
            return CachedBatches(config, env.device, cache_dir)
        return EncodedBatches(clips, clips.seed, self.vae, self.text_encoder, self.image_encoder, env.device)

    @property
    def core(self) -> torch.nn.Module:
        return unwrap(self.model)

    def _autocast(self):
        if self.config.precision == "bf16" and self.env.device.type == "cuda" and self.strategy != "fsdp":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return torch.autocast(self.env.device.type, enabled=False)

    def train_step(self) -> dict[str, float]:
        """One optimizer step over `grad_accum` micro-batches; returns the step's metrics."""
        c, env = self.config, self.env
        accum = c.optim.grad_accum
        totals = {"loss": 0.0, "loss_rgb": 0.0, "loss_xyz": 0.0}
        per_task: dict[int, list[float]] = {}
        samples = 0
        self.model.train()
        for micro in range(accum):
            positions = sample_positions(self.step, micro, accum, env.world_size, env.rank, c.batch_size)
            batch = self.data.batch(positions)
            sigmas, noise_rgb, noise_xyz, drop = draw_noise(batch, c.seed, c.timestep_shift, c.cfg_dropout)
            sync = micro == accum - 1 or self.strategy != "ddp"
            context = self.model.no_sync() if not sync else contextlib.nullcontext()
            with context, self._autocast():
                terms = flow_matching_loss(self.model, batch, sigmas, noise_rgb, noise_xyz, drop)
                (terms.total / accum).backward()
            totals["loss"] += terms.total.item() / accum
            totals["loss_rgb"] += terms.rgb.detach().mean().item() / accum
            totals["loss_xyz"] += terms.xyz.detach().mean().item() / accum
            for task, value in zip(
                batch.task.tolist(), (terms.rgb + terms.xyz).detach().tolist(), strict=True
            ):
                per_task.setdefault(task, []).append(value)
            samples += len(positions)
        params = [p for p in self.model.parameters() if p.requires_grad]
        if c.optim.max_grad_norm > 0:
            grad_norm = torch.nn.utils.clip_grad_norm_(params, c.optim.max_grad_norm)
        else:
            grad_norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        metrics = {k: float(all_reduce_mean(torch.tensor(v), env)) for k, v in totals.items()}
        metrics["grad_norm"] = float(
            grad_norm.full_tensor() if hasattr(grad_norm, "full_tensor") else grad_norm
        )
        metrics["lr"] = self.scheduler.get_last_lr()[0]
        for task, values in per_task.items():
            metrics[f"loss_task/{TASKS[task]}"] = sum(values) / len(values)
        metrics["samples"] = samples * env.world_size
        return metrics

    def sampler(self) -> SamplerConfig:
        return model_spec(self.config).sampling

    def evaluate(self, geometry: bool = True) -> tuple[dict[str, float], str] | None:
        """Held-out flow-matching losses and, with `geometry`, the geometry table of `evaluation`
        (through `One4DPipeline` with the run's sampling settings); returns (values, table)."""
        if self.eval_data is None:
            return None
        seed = self.config.seed
        with self._autocast():
            values = held_out_losses(self.core, self.eval_data, seed)
            if not geometry:
                return values, ""
            pipeline = One4DPipeline(
                self.core,
                self.vae,
                self.text_encoder,
                self.image_encoder,
                device=self.env.device,
                sampling=self.sampler(),
            )
            rows = evaluate_geometry(pipeline, self.vae, self.eval_clips, seed, model_spec(self.config))
        self.model.train()
        values.update(flatten_scores(rows))
        return values, format_geometry_table(rows)

    def save(self) -> Path:
        # The model's spec for whoever rebuilds it; the training config and step for our own records.
        spec = model_spec(self.config)
        record = {
            "one4d_train": json.dumps({"step": str(self.step), "config": json.dumps(to_dict(self.config))})
        }

        def write(state, path):
            write_trainable(path, state, spec, extra=record)

        return save_checkpoint(
            self.output_dir,
            self.step,
            self.model,
            self.optimizer,
            self.scheduler,
            self.env,
            self.config.keep_last,
            write,
        )

    def _train_until_done(self, log: MetricsLog) -> int:
        """Steps up to max_steps with logging, periodic saves and evaluations; returns the last saved step."""
        c = self.config
        tick, window = time.perf_counter(), 0
        last_saved = self.step
        while self.step < c.max_steps:
            metrics = self.train_step()
            window += metrics["samples"]
            if self.step % c.log_every == 0 or self.step == c.max_steps:
                elapsed = time.perf_counter() - tick
                metrics["samples_per_s"] = window / max(elapsed, 1e-9)
                tick, window = time.perf_counter(), 0
                log.log(self.step, metrics)
            log.progress(self.step, {"loss": metrics["loss"], "lr": metrics["lr"]})
            if self.step % c.save_every == 0:
                self.save()
                last_saved = self.step
            if c.eval_every and self.step % c.eval_every == 0 and self.step < c.max_steps:
                result = self.evaluate(geometry=False)
                if result:
                    log.log(self.step, {f"eval/{k}": v for k, v in result[0].items()})
        return last_saved

    def fit(self, run_eval: bool = True) -> dict[str, object]:
        c, env = self.config, self.env
        log = MetricsLog(self.output_dir, env.is_main, c.max_steps, self.step)
        summary: dict[str, object] = {"parameters": self.report, "start_step": self.step}
        log.message(
            f"one4d-train: preset {c.preset}, {self.strategy} on {env.world_size} x {env.device.type}, "
            f"trainable {self.report['trainable']:,} / frozen {self.report['frozen']:,} parameters"
        )
        if run_eval and self.step == 0:
            before = self.evaluate(geometry=False)
            if before:
                summary["eval_before"] = before[0]
                log.log(0, {f"eval/{k}": v for k, v in before[0].items()})
                log.message(_format_losses("before training", before[0]))
        schedule = PositionSchedule(
            self.step, c.max_steps, c.optim.grad_accum, env.world_size, env.rank, c.batch_size
        )
        self.data.start_prefetch(schedule, c.data.num_workers)
        try:
            last_saved = self._train_until_done(log)
        finally:
            self.data.stop_prefetch()
        if last_saved != self.step:
            self.save()
        summary["checkpoint"] = str(self.output_dir / "checkpoints" / "latest")
        if run_eval:
            log.message("one4d-train: held-out evaluation (sampling every task, recovering cameras)")
            after = self.evaluate(geometry=True)
            if after:
                values, table = after
                summary["eval_after"], summary["eval_table"] = values, table
                log.log(self.step, {f"eval/{k}": v for k, v in values.items()})
                log.message(_format_losses("after training", values))
                sp = c.sampling
                log.message(
                    f"[held-out, after training] {len(self.eval_clips)} synthetic scenes never seen in "
                    f"training; One4DPipeline with {sp.steps} steps, guidance {sp.guidance_scale}, shift "
                    f"{sp.shift}; cameras and depth by recover_cameras\n{table}"
                )
        log.close()
        summary["final_step"] = self.step
        return summary


def _format_losses(label: str, values: dict[str, float]) -> str:
    return (
        f"[held-out, {label}] flow-matching loss {values['val_loss']:.4f} "
        f"(RGB {values['val_loss_rgb']:.4f}, XYZ {values['val_loss_xyz']:.4f}); XYZ variance explained "
        f"from the frames at sigma 1: {values['val_xyz_explained']:.3f}"
    )


def run_training(config: TrainConfig, resume: bool = False, run_eval: bool = True) -> dict[str, object]:
    env = init_distributed()
    try:
        return Trainer(config, env, resume=resume).fit(run_eval=run_eval)
    finally:
        shutdown_distributed()
