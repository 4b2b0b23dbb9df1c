"""Finding sequences under dataset roots and mixing datasets into one training dataset, on tiny fake data."""

import csv
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from one4d_data import (
    DataError,
    TaskRatios,
    build_training_dataset,
    discover_sequences,
    find_sequence_folders,
    load_captions,
    parse_dataset_spec,
)
from one4d_data.files import write_png16
from one4d_data.readers import WindowMixture, write_folder
from one4d_data.readers.tartanair import NED_TO_CV
from one4d_data.synthetic import make_clip
from one4d_data.umc import TASKS
from one4d_geometry.cameras import invert_pose
from PIL import Image
from scipy.spatial.transform import Rotation

H, W = 24, 32


def _clip(seed: int, frames: int):
    return make_clip(seed, frames, H, W, scene="room")


def write_pointodyssey(seq: Path, frames: int, seed: int = 0) -> Path:
    clip = _clip(seed, frames)
    (seq / "rgbs").mkdir(parents=True)
    (seq / "depths").mkdir()
    for i in range(frames):
        Image.fromarray(clip.rgb[i]).save(seq / "rgbs" / f"rgb_{i:05d}.jpg", quality=95)
        raw = np.round(np.nan_to_num(clip.depth[i], nan=0.0) / 1000 * 65535).astype(np.uint16)
        write_png16(seq / "depths" / f"depth_{i:05d}.png", raw)
    np.savez(seq / "anno.npz", intrinsics=clip.K, extrinsics=invert_pose(clip.c2w))
    return seq


def write_tartanair(traj: Path, frames: int, seed: int = 0) -> Path:
    clip = _clip(seed, frames)
    (traj / "image_left").mkdir(parents=True)
    (traj / "depth_left").mkdir()
    lines = []
    for i in range(frames):
        Image.fromarray(clip.rgb[i]).save(traj / "image_left" / f"{i:06d}_left.png")
        np.save(traj / "depth_left" / f"{i:06d}_left_depth.npy", clip.depth[i])
        rot_ned = NED_TO_CV.T @ clip.c2w[i, :3, :3] @ NED_TO_CV
        t_ned = NED_TO_CV.T @ clip.c2w[i, :3, 3]
        lines.append(" ".join(f"{v:.10f}" for v in [*t_ned, *Rotation.from_matrix(rot_ned).as_quat()]))
    (traj / "pose_left.txt").write_text("\n".join(lines) + "\n")
    return traj


def write_omniworld_meta(scene: Path, splits: list[list[int]]) -> Path:
    """split_info.json and per-split cameras (no images: enough to open, not to read)."""
    (scene / "camera").mkdir(parents=True)
    for k, frames in enumerate(splits):
        n = len(frames)
        cam = {
            "focals": [50.0] * n,
            "cx": 16.0,
            "cy": 12.0,
            "quats": [[1, 0, 0, 0]] * n,
            "trans": [[0] * 3] * n,
        }
        (scene / "camera" / f"split_{k}.json").write_text(json.dumps(cam))
    (scene / "split_info.json").write_text(json.dumps({"split_num": len(splits), "split": splits}))
    return scene


def write_bedlam_meta(scene: Path, sequences: list[str], frames: int = 2) -> Path:
    (scene / "ground_truth" / "camera").mkdir(parents=True)
    for seq in sequences:
        (scene / "png" / seq).mkdir(parents=True)
        for i in range(frames):
            Image.new("RGB", (W, H)).save(scene / "png" / seq / f"{seq}_{i:04d}.png")
        with (scene / "ground_truth" / "camera" / f"{seq}_camera.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["name", "x", "y", "z", "yaw", "pitch", "roll", "focal_length"])
            writer.writerows([[f"{seq}_{i:04d}", i, 0, 0, 0, 0, 0, 28] for i in range(frames)])
    return scene


def write_spatialvid_meta(clip_dir: Path, frames: int = 2) -> Path:
    clip_dir.mkdir(parents=True)
    np.save(clip_dir / "poses.npy", np.tile([0.0, 0, 0, 0, 0, 0, 1], (frames, 1)))
    np.save(clip_dir / "intrinsics.npy", np.tile([1.0, 1, 0.5, 0.5], (frames, 1)))
    (clip_dir / "indexes.txt").write_text("\n".join(map(str, range(frames))))
    with zipfile.ZipFile(clip_dir / "depth.zip", "w") as archive:
        for i in range(frames):
            archive.writestr(f"{i:05d}.exr", b"")
    return clip_dir


def write_sintel_meta(training: Path, sequences: list[str], frames: int = 2) -> Path:
    for seq in sequences:
        for sub, ext in (("final", "png"), ("depth", "dpt"), ("camdata_left", "cam")):
            (training / sub / seq).mkdir(parents=True)
            for i in range(frames):
                (training / sub / seq / f"frame_{i + 1:04d}.{ext}").write_bytes(b"")
    return training


def write_tum_meta(seq: Path, frames: int = 3) -> Path:
    seq.mkdir(parents=True)
    stamps = [1.0 + i / 30 for i in range(frames)]
    (seq / "rgb.txt").write_text("".join(f"{t:.6f} rgb/{t:.6f}.png\n" for t in stamps))
    (seq / "depth.txt").write_text("".join(f"{t:.6f} depth/{t:.6f}.png\n" for t in stamps))
    (seq / "groundtruth.txt").write_text("".join(f"{t:.6f} 0 0 0 0 0 0 1\n" for t in stamps))
    return seq


def _names(discovery, root):
    return [str(seq.path.relative_to(root)) for seq in discovery.sequences]


def test_discovers_nested_pointodyssey_and_tartanair_in_sorted_order(tmp_path):
    po = tmp_path / "po"
    for name in ("train/seq_b", "train/seq_a", "val/seq_c", ".cache/seq_hidden"):
        write_pointodyssey(po / name, 2)
    found = discover_sequences("pointodyssey", po)
    assert _names(found, po) == ["train/seq_a", "train/seq_b", "val/seq_c"]
    assert found.skipped == [] and all(len(s) == 2 for s in found.sequences)
    # The root may be one sequence.
    assert len(discover_sequences("pointodyssey", po / "train" / "seq_b").sequences) == 1

    ta = tmp_path / "ta"
    for name in ("office/Hard/P001", "office/Easy/P000", "abandoned/Easy/P002"):
        write_tartanair(ta / name, 2)
    found = discover_sequences("tartanair", ta)
    assert _names(found, ta) == ["abandoned/Easy/P002", "office/Easy/P000", "office/Hard/P001"]
    assert find_sequence_folders("tartanair", ta / "office") == [
        ta / "office/Easy/P000",
        ta / "office/Hard/P001",
    ]


def test_discovers_splits_scene_sequences_and_other_layouts(tmp_path):
    write_omniworld_meta(tmp_path / "omni" / "b_scene", [[0, 1]])
    write_omniworld_meta(tmp_path / "omni" / "a_scene", [[0, 1, 2], [5, 6]])
    found = discover_sequences("omniworld", tmp_path / "omni")
    assert [(s.path.name, len(s)) for s in found.sequences] == [
        ("a_scene", 3),
        ("a_scene", 2),
        ("b_scene", 2),
    ]

    write_bedlam_meta(tmp_path / "bedlam" / "batch1", ["seq_000002", "seq_000001"])
    found = discover_sequences("bedlam", tmp_path / "bedlam")
    assert [s.path.name for s in found.sequences] == ["seq_000001", "seq_000002"]

    write_spatialvid_meta(tmp_path / "svid" / "group_0001" / "clip_x")
    assert len(discover_sequences("spatialvid", tmp_path / "svid").sequences) == 1

    write_folder(_clip(0, 2), tmp_path / "mine" / "a")
    write_folder(_clip(1, 3), tmp_path / "mine" / "deeper" / "b")
    found = discover_sequences("folder", tmp_path / "mine")
    assert [len(s) for s in found.sequences] == [2, 3]

    sintel = tmp_path / "MPI-Sintel"
    write_sintel_meta(sintel / "training", ["market_2", "alley_1"])
    (sintel / "test" / "final" / "ambush_1").mkdir(parents=True)  # no depth: not a training folder
    found = discover_sequences("sintel", sintel)
    assert [s.path.name for s in found.sequences] == ["alley_1", "market_2"]
    single = discover_sequences("sintel", sintel / "training" / "final" / "market_2")
    assert [s.path.name for s in single.sequences] == ["market_2"]

    write_tum_meta(tmp_path / "tum" / "rgbd_dataset_freiburg3_walking_xyz")
    (tmp_path / "tum" / "incomplete").mkdir()
    (tmp_path / "tum" / "incomplete" / "rgb.txt").write_text("")
    assert len(discover_sequences("tum", tmp_path / "tum").sequences) == 1


def test_bad_sequences_raise_or_are_skipped(tmp_path):
    root = tmp_path / "po"
    write_pointodyssey(root / "a", 2)
    bad = write_pointodyssey(root / "b", 2)
    np.savez(
        bad / "anno.npz", intrinsics=np.tile(np.eye(3), (1, 1, 1)), extrinsics=np.tile(np.eye(4), (2, 1, 1))
    )
    with pytest.raises(DataError, match=r"po/b: mismatched frame counts: images=2, depths=2, intrinsics=1"):
        discover_sequences("pointodyssey", root)
    found = discover_sequences("pointodyssey", root, skip_bad=True)
    assert _names(found, root) == ["a"]
    assert [(s.path, s.options) for s in found.skipped] == [(bad, {})]
    assert "intrinsics=1" in found.skipped[0].message
    with pytest.raises(DataError, match=r"po/b: all 1 pointodyssey sequences found are bad \(first: .*po/b"):
        discover_sequences("pointodyssey", bad, skip_bad=True)

    omni = write_omniworld_meta(tmp_path / "omni" / "scene", [[0, 1]])
    (omni / "split_info.json").write_text("{}")
    with pytest.raises(DataError, match=r'scene/split_info.json: expected JSON with a "split" list'):
        discover_sequences("omniworld", tmp_path / "omni")
    with pytest.raises(DataError, match="all 1 omniworld sequences found are bad"):
        discover_sequences("omniworld", tmp_path / "omni", skip_bad=True)


def test_nothing_found_and_bad_arguments(tmp_path):
    write_pointodyssey(tmp_path / "po" / "a", 2)
    with pytest.raises(DataError) as info:
        discover_sequences("tartanair", tmp_path / "po")
    assert (
        str(info.value)
        == f"{tmp_path / 'po'}: no tartanair sequences found (looked for folders holding pose_left.txt)"
    )
    with pytest.raises(DataError, match="missing: folder not found"):
        discover_sequences("pointodyssey", tmp_path / "missing")
    with pytest.raises(DataError, match="got a file"):
        discover_sequences("pointodyssey", tmp_path / "po" / "a" / "anno.npz")
    with pytest.raises(ValueError, match=r"unknown format 'kitti'; choose from \['bedlam', 'bonn'"):
        discover_sequences("kitti", tmp_path)


def test_parse_dataset_spec():
    assert parse_dataset_spec("pointodyssey:/data/po") == ("pointodyssey", Path("/data/po"))
    assert parse_dataset_spec("TartanAir:C:/data:x") == ("tartanair", Path("C:/data:x"))  # first colon only
    with pytest.raises(
        ValueError, match=r"bad dataset spec 'kitti:/data' \(unknown format 'kitti'\): expected FORMAT:ROOT"
    ):
        parse_dataset_spec("kitti:/data")
    for text in ("pointodyssey:", "pointodyssey", ":/data"):
        with pytest.raises(ValueError, match=f"bad dataset spec '{text}' .*expected FORMAT:ROOT"):
            parse_dataset_spec(text)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Two PointOdyssey sequences (12 and 10 frames) and two TartanAir trajectories (9 frames each)."""
    root = tmp_path_factory.mktemp("corpus")
    write_pointodyssey(root / "po" / "train" / "s0", 12, seed=1)
    write_pointodyssey(root / "po" / "train" / "s1", 10, seed=2)
    write_tartanair(root / "ta" / "env" / "Easy" / "P000", 9, seed=3)
    write_tartanair(root / "ta" / "env" / "Hard" / "P001", 9, seed=4)
    return root


def _build(corpus, weights=None, **options):
    specs = [f"pointodyssey:{corpus / 'po'}", f"tartanair:{corpus / 'ta'}"]
    kwargs = dict(num_frames=5, height=16, width=32, task_ratios=TaskRatios(), seed=3, strides=(1, 2))
    kwargs.update(options)
    return build_training_dataset(specs, weights, **kwargs)


def test_training_dataset_items(corpus):
    ds = _build(corpus)
    # Windows of (5 - 1) * 2 + 1 = 9 frames: one per sequence.
    assert len(ds) == ds.source.num_windows == 4
    assert [len(d.sequences) for d in ds.source.discoveries] == [2, 2]
    for i in range(len(ds)):
        item = ds[i]
        for key in ("rgb", "xyz", "cond_rgb"):
            assert item[key].shape == (3, 5, 16, 32) and item[key].dtype == torch.float32
            assert item[key].min() >= -1 and item[key].max() <= 1
        assert item["xyz_valid"].shape == (5, 16, 32) and item["xyz_valid"].float().mean() > 0.5
        assert item["frame_mask"].shape == (5,) and item["frame_mask"][0] == 1
        assert 0 <= int(item["task"]) < len(TASKS) and isinstance(item["caption"], str)
        np.testing.assert_allclose(item["c2w"][0].numpy(), np.eye(4), atol=1e-6)
    assert len(_build(corpus, length=7)) == 7


def test_windows_are_sampled_from_seed_epoch_and_index(corpus):
    a, b = _build(corpus), _build(corpus)
    for i in range(len(a)):
        x, y = a[i], b[i]
        for key in ("rgb", "xyz", "frame_mask", "task", "K"):
            assert torch.equal(x[key], y[key]), key
    before = [a.source.locate(i)[2].tolist() for i in range(20)]
    a.set_epoch(1)
    assert a.source.epoch == 1
    assert [a.source.locate(i)[2].tolist() for i in range(20)] != before
    # Every start of every stride is reachable, and frames stay inside the sequence.
    starts = {}
    for i in range(400):
        group, seq, frames = a.source.locate(i)
        length = len(a.source.groups[group][seq])
        assert frames[0] >= 0 and frames[-1] < length and len(set(np.diff(frames))) == 1
        starts.setdefault((group, seq, int(frames[1] - frames[0])), set()).add(int(frames[0]))
    assert starts[(0, 0, 1)] == set(range(12 - 4)) and starts[(0, 0, 2)] == set(range(12 - 8))


def test_mixture_weights(corpus):
    ds = _build(corpus, weights=(1.0, 0.0), length=40)
    assert all(ds.source.locate(i)[0] == 0 for i in range(len(ds)))
    assert {ds.source(i).source["dataset"] for i in range(6)} == {"pointodyssey"}
    mix = _build(corpus, weights=(1.0, 3.0)).source
    picks = [mix.locate(i)[0] for i in range(400)]
    assert 0.18 < picks.count(0) / 400 < 0.32
    with pytest.raises(ValueError, match="one weight per dataset spec"):
        _build(corpus, weights=(1.0,))


def test_too_short_dataset_names_its_spec(corpus, tmp_path):
    write_tartanair(tmp_path / "short" / "P000", 4)
    specs = [f"pointodyssey:{corpus / 'po'}", f"tartanair:{tmp_path / 'short'}"]
    message = rf"tartanair:{tmp_path / 'short'}: no sequence has the 5 frames needed .* \(longest has 4\)"
    with pytest.raises(ValueError, match=message):
        build_training_dataset(specs, num_frames=5, height=16, width=32)
    with pytest.raises(ValueError, match=r"bad dataset spec 'kitti:/x'"):
        build_training_dataset(["kitti:/x"], num_frames=5, height=16, width=32)


def test_window_mixture_counts_windows():
    class Fake:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    mix = WindowMixture([[Fake(9), Fake(17), Fake(18), Fake(8)]], num_frames=5, strides=(1, 2))
    assert mix.span == 9 and [mix.windows_in(n) for n in (8, 9, 17, 18, 26, 27)] == [0, 1, 1, 2, 2, 3]
    assert mix.num_windows == 1 + 1 + 2


def test_captions_file_names_sequences_by_relative_or_absolute_folder(corpus, tmp_path):
    captions_file = tmp_path / "captions.json"
    absolute = str(corpus / "ta" / "env" / "Hard" / "P001")
    captions_file.write_text(json.dumps({"train/s0/": "a person walks", absolute: "a robot flies"}))
    captions = load_captions(captions_file)
    ds = _build(corpus, captions=captions, length=40)
    assert ds.source.captioned == [1, 1]
    expected = {
        ("po", 0): "a person walks",  # relative to the pointodyssey root, trailing slash ignored
        ("po", 1): "",
        ("ta", 0): "",
        ("ta", 1): "a robot flies",
    }
    seen = set()
    for i in range(40):
        group, seq, _ = ds.source.locate(i)
        key = ("po", "ta")[group], seq
        assert ds[i]["caption"] == expected[key]
        seen.add(key)
    assert seen == set(expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [("{not json", "not valid JSON"), ('["a", "b"]', "sequence folder -> caption"), ('{"a": 3}', "caption")],
)
def test_bad_captions_files_are_named(tmp_path, content, message):
    path = tmp_path / "captions.json"
    path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        load_captions(path)
    assert str(path) in str(error.value)
    with pytest.raises(DataError, match="not found"):
        load_captions(tmp_path / "missing.json")
