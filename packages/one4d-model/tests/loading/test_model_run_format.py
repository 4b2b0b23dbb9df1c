"""The model spec and the run format: one writer, one reader, one loader, one builder."""

from __future__ import annotations

import pytest
import torch
from one4d_model import (
    ModelError,
    ModelSpec,
    One4DPipeline,
    build_one4d_transformer,
    read_spec,
    save_trainable,
)
from one4d_model.loading.run_format import find_checkpoint, run_folder, write_trainable
from one4d_model.loading.spec import SamplerConfig
from safetensors.torch import save_file


def test_spec_round_trips_through_json_and_names_bad_keys():
    spec = ModelSpec(
        "one4d-tiny",
        lora_rank=8,
        lora_alpha=4.0,
        link_blocks=[1, 4],
        num_frames=9,
        height=64,
        width=96,
        sampling=SamplerConfig(20, 1.0, 3.0),
    )
    again = ModelSpec.from_json(spec.to_json())
    assert again == spec and again.sampling == SamplerConfig(20, 1.0, 3.0)
    with pytest.raises(ModelError, match=r"unknown keys \['lora_rnk'\]"):
        ModelSpec.from_json('{"variant": "tiny", "lora_rnk": 4}')
    with pytest.raises(ModelError, match="variant must be one of"):
        ModelSpec("wan9-giant")
    with pytest.raises(ModelError, match="lora_targets"):
        ModelSpec("tiny", lora_targets=["to_q"])


def test_a_bare_model_saved_with_save_trainable_loads_in_the_pipeline(tmp_path):
    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", lora_rank=4, num_links=2)
    with torch.no_grad():
        for params in model.trainable_groups().values():
            for _, p in params:
                p.add_(torch.randn_like(p) * 0.01)
    path = tmp_path / "mine.safetensors"
    save_trainable(model, path)
    spec = read_spec(path)
    assert (spec.variant, spec.coupling, spec.lora_rank, spec.link_blocks) == ("tiny", "dlc", 4, [1, 3])
    pipe = One4DPipeline.from_checkpoint(path)
    # The trained tensors come back exactly (the random "tiny" base itself is not part of the file).
    theirs = dict(pipe.transformer.named_parameters())
    for group in model.trainable_groups().values():
        for name, value in group:
            torch.testing.assert_close(theirs[name], value, rtol=0, atol=0, msg=name)
    assert pipe.sampling == SamplerConfig()  # a bare file records the paper's sampling defaults


def test_the_xyz_condition_departure_is_recorded_and_rebuilt(tmp_path):
    from one4d_model.loading.run_format import load_trainable

    torch.manual_seed(0)
    model = build_one4d_transformer("tiny", lora_rank=4, num_links=1, xyz_condition=True)
    path = tmp_path / "cond.safetensors"
    save_trainable(model, path)
    assert read_spec(path).xyz_condition
    pipe = One4DPipeline.from_checkpoint(path)
    assert pipe.transformer.xyz_condition and pipe.transformer.xyz_patch_embedding.in_channels == 36
    plain = build_one4d_transformer("tiny", lora_rank=4, num_links=1)
    with pytest.raises(ModelError, match=r"xyz_patch_embedding.weight has shape \(48, 36, 1, 2, 2\)"):
        load_trainable(plain, path)


def test_files_without_a_spec_are_refused_by_name(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(1)}, str(path))
    with pytest.raises(ModelError, match="no model spec in its metadata"):
        One4DPipeline.from_checkpoint(path)


def test_run_layout_is_known_in_one_place(tmp_path):
    step = tmp_path / "run" / "checkpoints" / "step_000010"
    step.mkdir(parents=True)
    write_trainable(step / "trainable.safetensors", {"x": torch.zeros(1)}, ModelSpec("tiny"))
    (tmp_path / "run" / "checkpoints" / "latest").write_text("step_000010")
    found = find_checkpoint(tmp_path / "run")
    assert found == step / "trainable.safetensors"
    assert run_folder(found) == (tmp_path / "run").resolve()
    assert run_folder(tmp_path / "loose.safetensors") == tmp_path.resolve()
