import numpy as np
import pytest
import torch
from one4d_data.dataset import ClipDataset, SyntheticSource, WeightedMixture, collate_samples
from one4d_data.errors import DataError
from one4d_data.normalize import INVALID_POINT_CODE
from one4d_data.synthetic import make_clip
from one4d_data.umc import TASKS, TaskRatios
from torch.utils.data import DataLoader


def assert_close(actual, expected, atol=1e-5):
    """numpy comparison of tensors (avoids importing torch.testing, slow on first use)."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), rtol=1e-5, atol=atol)


def _dataset(**kwargs):
    options = dict(num_frames=9, height=32, width=48, seed=5)
    options.update(kwargs)
    return ClipDataset(SyntheticSource(6, 9, 32, 48, seed=1), **options)


def test_item_shapes_ranges_and_geometry():
    item = _dataset()[2]
    for key in ("rgb", "xyz", "cond_rgb"):
        assert item[key].shape == (3, 9, 32, 48) and item[key].dtype == torch.float32
        assert item[key].min() >= -1 and item[key].max() <= 1
    assert item["xyz_valid"].shape == (9, 32, 48) and item["xyz_valid"].dtype == torch.bool
    assert (item["xyz"][:, ~item["xyz_valid"]] == INVALID_POINT_CODE).all()  # the out-of-box code
    assert item["frame_mask"].shape == (9,) and item["frame_mask"][0] == 1
    assert item["task"].dtype == torch.int64 and 0 <= int(item["task"]) < len(TASKS)
    assert (
        item["K"].shape == (9, 3, 3) and item["c2w"].shape == (9, 4, 4) and item["depth"].shape == (9, 32, 48)
    )
    assert_close(item["c2w"][0], torch.eye(4))
    assert isinstance(item["caption"], str) and item["caption"]
    # The normalized xyz, denormalized, equals the clip's first-frame pointmaps where not clamped.
    clip = make_clip(SyntheticSource(6, 9, 32, 48, seed=1).clip_seed(2), 9, 32, 48)
    xyz = item["xyz"].permute(1, 2, 3, 0).double().numpy()
    world = xyz * float(item["norm_scale"]) + item["norm_center"].double().numpy()
    keep = item["xyz_valid"].numpy() & (np.abs(xyz) < 0.999).all(-1)
    assert keep.mean() > 0.5
    np.testing.assert_allclose(world[keep], clip.pointmaps[keep], rtol=1e-4, atol=1e-4)
    # Conditioning frames are the observed RGB frames, others zero.
    observed = item["frame_mask"].bool()
    assert torch.equal(item["cond_rgb"][:, observed], item["rgb"][:, observed])
    assert (item["cond_rgb"][:, ~observed] == 0).all()


def test_items_deterministic_and_epoch_dependent():
    ds = _dataset(task_ratios=TaskRatios(0.3, 0.4, 0.3))
    a, b = ds[1], ds[1]
    assert torch.equal(a["rgb"], b["rgb"]) and torch.equal(a["frame_mask"], b["frame_mask"])
    masks0 = [ds[i]["frame_mask"] for i in range(6)]
    ds.set_epoch(1)
    masks1 = [ds[i]["frame_mask"] for i in range(6)]
    assert any(not torch.equal(x, y) for x, y in zip(masks0, masks1, strict=False))


def test_task_ratios_control_the_task():
    ds = _dataset(task_ratios=TaskRatios(0.0, 0.0, 1.0))
    assert all(int(ds[i]["task"]) == TASKS.index("full_video") for i in range(3))
    assert ds[0]["frame_mask"].sum() == 9
    ds = _dataset(task_ratios=TaskRatios(1.0, 0.0, 0.0))
    assert ds[0]["frame_mask"].tolist() == [1.0] + [0.0] * 8


def test_longer_and_larger_clips_are_sampled_resized_and_relifted():
    source = SyntheticSource(2, 21, 48, 80, seed=3)
    ds = ClipDataset(source, num_frames=9, height=32, width=48, strides=(1, 2), random_crop=True)
    item = ds[0]
    assert item["rgb"].shape == (3, 9, 32, 48)
    assert_close(item["c2w"][0], torch.eye(4))
    # Intrinsics were rescaled: focal of 48 x 80 crop to 32 x 48 changes by 48 / crop width.
    assert item["K"][0, 0, 0] < source[0].K[0, 0, 0]


def test_same_batches_with_zero_and_two_workers():
    ds = _dataset()
    batches = []
    for workers in (0, 2):
        loader = DataLoader(ds, batch_size=2, num_workers=workers, collate_fn=collate_samples)
        batches.append(list(loader))
    assert len(batches[0]) == len(batches[1]) == 3
    for b0, b1 in zip(*batches, strict=False):
        assert b0["rgb"].shape == (2, 3, 9, 32, 48)
        assert b0["caption"] == b1["caption"] and len(b0["caption"]) == 2
        for key in ("rgb", "xyz", "cond_rgb", "frame_mask", "task", "norm_scale"):
            assert torch.equal(b0[key], b1[key]), key


def test_weighted_mixture_follows_weights():
    a = _dataset()
    b = ClipDataset([make_clip(100, 9, 32, 48)], num_frames=9, height=32, width=48)
    mix = WeightedMixture([a, b], [3.0, 1.0], length=400, seed=2)
    picks = [mix.locate(i)[0] for i in range(400)]
    assert 0.68 < picks.count(0) / 400 < 0.82
    assert mix.locate(7) == mix.locate(7)
    assert mix[0]["rgb"].shape == (3, 9, 32, 48)
    with pytest.raises(ValueError):
        WeightedMixture([a, b], [1.0], length=4)


class _Flaky:
    """A source whose odd clips have depth of the wrong frame count."""

    def __len__(self):
        return 4

    def __getitem__(self, index):
        clip = make_clip(index, 9, 32, 48)
        if index % 2:
            clip.depth = clip.depth[:5]
            clip.source["path"] = f"flaky/{index}"
        return clip


def test_bad_clips_raise_or_are_skipped_and_counted():
    strict = ClipDataset(_Flaky(), num_frames=9, height=32, width=48)
    with pytest.raises(DataError, match=r"flaky/1: depth has shape \(5, 32, 48\)"):
        strict[1]
    lenient = ClipDataset(_Flaky(), num_frames=9, height=32, width=48, skip_bad=True)
    item = lenient[1]
    assert item["rgb"].shape == (3, 9, 32, 48)
    assert [index for index, _ in lenient.bad_clips] == [1]


def test_callable_source_and_argument_checks():
    ds = ClipDataset(lambda i: make_clip(i, 9, 32, 48), num_frames=9, height=32, width=48, length=2)
    assert len(ds) == 2 and ds[1]["rgb"].shape == (3, 9, 32, 48)
    with pytest.raises(ValueError, match="length"):
        ClipDataset(lambda i: make_clip(i, 9, 32, 48), num_frames=9, height=32, width=48)
    with pytest.raises(ValueError, match="4k"):
        _dataset(num_frames=8)
    with pytest.raises(ValueError, match="multiples of 16"):
        _dataset(height=30)
    with pytest.raises(DataError, match="fewer than the 9 needed"):
        ClipDataset([make_clip(0, 5, 32, 48)], num_frames=9, height=32, width=48)[0]
