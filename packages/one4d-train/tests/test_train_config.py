from pathlib import Path

import pytest
from one4d_train import cli
from one4d_train.config import ConfigError, load_config, save_config


def test_default_is_tiny_cpu_and_paper_preset_matches_the_paper(tmp_path):
    assert load_config().preset == "tiny-cpu"
    paths = [f'{key}="{tmp_path}"' for key in ("model.base_path", "model.vae", "data.cache_dir")]
    paper = load_config(preset="one4d-14b", overrides=paths)
    assert paper.model.lora_rank == 64 and paper.model.num_links == 5
    assert paper.optim.lr == 1e-4 and paper.batch_size == 1 and paper.optim.grad_accum == 4
    assert paper.max_steps == 5500 and paper.data.task_ratios == [0.35, 0.30, 0.35]
    assert (paper.data.num_frames, paper.data.height, paper.data.width) == (81, 352, 624)
    assert paper.distributed == "fsdp"


def test_embedded_default_is_one4d_fine_tuning_on_the_frozen_shipped_base():
    """The issue-9 contract of `uv run one4d-train`: frozen pretrained tiny base, DLC with two LoRA branches
    and links, the shipped VAE, UMC at the paper's ratios, clips encoded once, sampling defaults recorded."""
    config = load_config()
    m, d = config.model, config.data
    assert (m.variant, m.vae, m.coupling, m.base_path) == ("one4d-tiny", "one4d-tiny", "dlc", None)
    assert not m.train_base and m.num_links >= 1
    assert m.lora_alpha == m.lora_rank / 2
    assert d.task_ratios == [0.35, 0.30, 0.35] and d.pre_encode and d.eval_clips >= 6
    assert (config.sampling.steps, config.sampling.guidance_scale, config.sampling.shift) == (20, 1.0, 3.0)


def test_config_file_then_overrides(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text("max_steps = 7\n[optim]\nlr = 0.002\n[data]\nnum_clips = 3\n")
    config = load_config(path, overrides=["optim.lr=5e-4", "model.coupling=spatial"])
    assert (config.max_steps, config.optim.lr, config.data.num_clips, config.model.coupling) == (
        7,
        5e-4,
        3,
        "spatial",
    )
    saved = tmp_path / "resolved.toml"
    save_config(config, saved)
    assert load_config(saved) == config


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lr=-1", "optim.lr"),
        ("model.lora_rnk=8", "unknown config key 'model.lora_rnk'"),
        ("data.num_frames=8", "4k \\+ 1"),
        ("model.coupling=sideways", "model.coupling"),
        ("batch_size=two", "batch_size"),
        ("model.variant=wan2.1-fun-14b-inp", "model.base_path"),
        ("data.source=cache", "data.cache_dir"),
        ("data.task_ratios=[1, 1]", "three or four non-negative weights"),
    ],
)
def test_bad_values_are_named(override, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=[override])


def test_xyz_condition_needs_the_dlc_coupling():
    with pytest.raises(ConfigError, match="model.xyz_condition"):
        load_config(overrides=['model.coupling="channel"', "model.xyz_condition=true"])
    assert load_config(overrides=["model.xyz_condition=true"]).model.xyz_condition


def test_only_cpu_sized_bases_may_be_trained(tmp_path):
    paths = [f'{key}="{tmp_path}"' for key in ("model.base_path", "model.vae")]
    with pytest.raises(ConfigError, match="model.train_base"):
        load_config(
            preset="one4d-14b", overrides=[*paths, "model.train_base=true", 'data.source="synthetic"']
        )


def test_unknown_key_in_file_is_named(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[optim]\nlearning_rate = 1e-4\n")
    with pytest.raises(ConfigError, match="optim.learning_rate"):
        load_config(path)


def test_cli_fails_fast_before_loading_anything(monkeypatch, capsys):
    import one4d_train.trainer as trainer

    def never(*args, **kwargs):  # pragma: no cover - reaching it is the failure
        raise AssertionError("training started despite a bad config")

    monkeypatch.setattr(trainer, "run_training", never)
    assert cli.main(["--set", "optim.lr=0"]) == 2
    assert "optim.lr" in capsys.readouterr().err
    assert cli.main(["--config", "/nonexistent.toml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_wan_variants_need_encoders_unless_training_from_a_cache(tmp_path):
    paths = [f'{key}="{tmp_path}"' for key in ("model.base_path", "model.vae")]
    online = [*paths, 'data.source="synthetic"', "model.train_base=false"]
    with pytest.raises(ConfigError, match="model.text_encoder"):
        load_config(preset="wan-1.3b", overrides=online)
    with pytest.raises(ConfigError, match="model.image_encoder"):
        load_config(preset="wan-1.3b", overrides=[*online, f'model.text_encoder="{tmp_path}"'])
    encoders = [f'model.text_encoder="{tmp_path}"', f'model.image_encoder="{tmp_path}"']
    assert load_config(preset="wan-1.3b", overrides=[*online, *encoders]).model.text_encoder == str(tmp_path)
    cached = load_config(preset="wan-1.3b", overrides=[*paths, f'data.cache_dir="{tmp_path}"'])
    assert cached.data.source == "cache" and cached.model.text_encoder == ""


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (['model.text_encoder="/no/such/umt5"'], "model.text_encoder.*existing local path.*/no/such/umt5"),
        (['model.vae="/no/such/vae"'], "model.vae.*/no/such/vae"),
        (['data.source="datasets"'], "data.datasets"),
        (['data.source="datasets"', 'data.datasets=["kitti:/tmp"]'], r"data.datasets\[0\].*FORMAT"),
        (['data.source="datasets"', 'data.datasets=["tartanair:/no/such/root"]'], "root folder that exists"),
        (
            ['data.source="datasets"', 'data.datasets=["tartanair:/tmp"]', "data.dataset_weights=[1.0, 2.0]"],
            "data.dataset_weights",
        ),
        (["data.strides=[0]"], "data.strides"),
    ],
)
def test_paths_and_dataset_specs_are_checked_before_loading(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_config(overrides=overrides)


def test_cli_trains_then_prints_the_held_out_geometry_beside_its_references(tmp_path, capsys):
    small = str(Path(__file__).parent / "small.toml")
    assert cli.main(["--config", small, "--output-dir", str(tmp_path / "run"), "--max-steps", "1"]) == 0
    captured = capsys.readouterr()
    text = captured.out + captured.err
    for row in ("full video (all frames)", "sparse frames (observed)", "single image (frame 0)"):
        assert f"| {row} |" in text
    assert "| reference: constant |" in text and "| reference: GT through VAE |" in text
    assert "full-video depth AbsRel" in text and "checkpoint in" in text
    # one4d-heldout gives the same table for the run, and takes other sampling settings.
    from one4d_train.heldout_cli import main as heldout

    lines = text[text.index("| held-out |") :].splitlines()
    table = "\n".join(lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))])
    assert heldout([str(tmp_path / "run")]) == 0
    assert table in capsys.readouterr().out
    assert heldout([str(tmp_path / "run"), "--steps", "1"]) == 0
    assert "1 steps, guidance 1.0" in capsys.readouterr().out
    assert heldout([str(tmp_path / "run"), "--steps", "1", "--ensemble", "2"]) == 0
    assert "full video: mean of 2 samples" in capsys.readouterr().out


def test_every_package_error_is_a_one4d_error():
    from one4d_data.errors import DataError
    from one4d_geometry.errors import GeometryError, One4DError, RecoveryError
    from one4d_model.errors import ModelError, WeightsError

    for error in (GeometryError, RecoveryError, DataError, ModelError, WeightsError, ConfigError):
        assert issubclass(error, One4DError) and issubclass(error, ValueError), error
    assert issubclass(WeightsError, KeyError)
    assert str(WeightsError("run.safetensors: missing tensors")) == "run.safetensors: missing tensors"


def test_what_the_config_repeats_of_the_model_is_the_models():
    """The config module repeats the model's sampling defaults, variant names and VAE names (it stays free of
    heavy imports so that bad configs fail fast); this keeps the copies from drifting apart."""
    from one4d_model.loading.spec import NAMED_VAES, SamplerConfig
    from one4d_model.models.configs import WAN_CONFIGS
    from one4d_train import config as train_config
    from one4d_train.config import SamplingConfig

    assert set(train_config.VARIANTS) == set(WAN_CONFIGS)
    assert set(train_config.NAMED_VAES) == set(NAMED_VAES)

    ours, model = SamplingConfig(), SamplerConfig()
    assert (ours.steps, ours.guidance_scale, ours.shift) == (
        model.num_steps,
        model.guidance_scale,
        model.shift,
    )
