"""Training-set readers on small files written in each dataset's on-disk format."""

import csv
import json
import zipfile

import numpy as np
import pytest
from one4d_data.cameras import unproject_to_world
from one4d_data.dataset import ClipDataset
from one4d_data.errors import DataError
from one4d_data.exr import write_exr
from one4d_data.files import write_png16
from one4d_data.readers import WindowSource, iter_clips, open_sequence, write_folder
from one4d_data.readers.bedlam import unreal_camera_to_c2w
from one4d_data.readers.omniworld import decode_omniworld_depth
from one4d_data.readers.tartanair import NED_TO_CV
from one4d_data.synthetic import make_clip
from one4d_geometry.cameras import invert_pose
from PIL import Image
from scipy.spatial.transform import Rotation


def _assert_consistent(clip, reference, depth_atol, pose_atol=1e-6):
    """Reader output matches the reference and its lifted pointmaps match unprojected depth."""
    np.testing.assert_allclose(clip.depth, reference.depth, atol=depth_atol, rtol=0, equal_nan=True)
    np.testing.assert_allclose(clip.K, reference.K, atol=1e-6)
    rel = invert_pose(clip.c2w[0]) @ clip.c2w
    np.testing.assert_allclose(rel, reference.c2w, atol=pose_atol)
    lifted = clip.lifted()
    np.testing.assert_allclose(lifted.c2w[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(
        lifted.pointmaps, unproject_to_world(lifted.depth, lifted.K, lifted.c2w), atol=1e-5, equal_nan=True
    )
    err = np.linalg.norm(lifted.pointmaps - reference.pointmaps, axis=-1)
    assert np.nanmax(err) < 20 * depth_atol + 1e-4


def _ref(seed=0, frames=4, h=24, w=32, **kw):
    return make_clip(seed, frames, h, w, scene="room", **kw)


def test_pointodyssey(tmp_path):
    ref = _ref(1)
    (tmp_path / "rgbs").mkdir()
    (tmp_path / "depths").mkdir()
    for i in range(ref.num_frames):
        Image.fromarray(ref.rgb[i]).save(tmp_path / "rgbs" / f"rgb_{i:05d}.jpg", quality=95)
        write_png16(
            tmp_path / "depths" / f"depth_{i:05d}.png",
            np.round(ref.depth[i] / 1000 * 65535).astype(np.uint16),
        )
    np.savez(
        tmp_path / "anno.npz",
        intrinsics=ref.K,
        extrinsics=invert_pose(ref.c2w),
        trajs_2d=np.zeros((4, 2, 2)),
    )
    seq = open_sequence("pointodyssey", tmp_path)
    clip = seq.read_all()
    _assert_consistent(clip, ref, depth_atol=1000 / 65535 / 2 + 1e-6)
    assert np.abs(clip.rgb.astype(int) - ref.rgb).mean() < 8  # JPEG
    np.savez(tmp_path / "anno.npz", intrinsics=ref.K[:3], extrinsics=invert_pose(ref.c2w))
    with pytest.raises(
        DataError, match="mismatched frame counts: images=4, depths=4, intrinsics=3, extrinsics=4"
    ):
        open_sequence("pointodyssey", tmp_path)


def test_tartanair_ned_poses(tmp_path):
    ref = _ref(2, frames=3, h=48, w=64)
    (tmp_path / "image_left").mkdir()
    (tmp_path / "depth_left").mkdir()
    P = NED_TO_CV
    lines = []
    for i in range(ref.num_frames):
        Image.fromarray(ref.rgb[i]).save(tmp_path / "image_left" / f"{i:06d}_left.png")
        depth = ref.depth[i].copy()
        depth[0, 0] = 1e4  # sky
        np.save(tmp_path / "depth_left" / f"{i:06d}_left_depth.npy", depth)
        rot_ned = P.T @ ref.c2w[i, :3, :3] @ P
        t_ned = P.T @ ref.c2w[i, :3, 3]
        lines.append(" ".join(f"{v:.10f}" for v in [*t_ned, *Rotation.from_matrix(rot_ned).as_quat()]))
    (tmp_path / "pose_left.txt").write_text("\n".join(lines) + "\n")
    clip = open_sequence("tartanair", tmp_path).read_all()
    assert np.isnan(clip.depth[:, 0, 0]).all()
    np.testing.assert_allclose(clip.depth[:, 1:], ref.depth[:, 1:])
    np.testing.assert_allclose(invert_pose(clip.c2w[0]) @ clip.c2w, ref.c2w, atol=1e-6)
    np.testing.assert_allclose(clip.K[0], [[320, 0, 320], [0, 320, 240], [0, 0, 1]])
    # A camera moving forward in NED (+x) moves forward (+z) in OpenCV camera axes.
    (tmp_path / "pose_left.txt").write_text("0 0 0 0 0 0 1\n1 0 0 0 0 0 1\n2 0 0 0 0 0 1\n")
    lifted = open_sequence("tartanair", tmp_path).read_all().lifted()
    np.testing.assert_allclose(lifted.c2w[2, :3, 3], [0, 0, 2], atol=1e-12)
    (tmp_path / "pose_left.txt").write_text("0 0 0 0 0 0 1\n")
    with pytest.raises(DataError, match="mismatched frame counts: images=3, depths=3, poses=1"):
        open_sequence("tartanair", tmp_path)


def _omni_encode(metres):
    # Inverse of metres = d / (far - d (far - near)) / 0.004 with near 1, far 1000.
    m = metres * 0.004
    d = 1000 * m / (1 + 999 * m)
    return np.round(d * 65535).astype(np.uint16)


def test_omniworld_depth_decoding_and_cameras(tmp_path):
    raw = np.array([[0, 50, 40000, 65000, 65535]], dtype=np.uint16)
    decoded = decode_omniworld_depth(raw)
    assert np.isnan(decoded[0, [0, 1, 4]]).all()  # d < 0.0015 or d > 65500 / 65535
    d = 40000 / 65535
    np.testing.assert_allclose(decoded[0, 2], d / (1000 - d * 999) / 0.004, rtol=1e-6)
    assert decoded[0, 3] > decoded[0, 2]

    ref = _ref(3)
    frames = [10, 11, 12, 13]
    for sub in ("color", "depth", "camera"):
        (tmp_path / sub).mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(ref.rgb[i]).save(tmp_path / "color" / f"{f:06d}.png")
        write_png16(tmp_path / "depth" / f"{f:06d}.png", _omni_encode(ref.depth[i]))
    w2c = invert_pose(ref.c2w)
    quat_xyzw = Rotation.from_matrix(w2c[:, :3, :3]).as_quat()
    cam = {
        "focals": ref.K[:, 0, 0].tolist(),
        "cx": float(ref.K[0, 0, 2]),
        "cy": float(ref.K[0, 1, 2]),
        "quats": quat_xyzw[:, [3, 0, 1, 2]].tolist(),
        "trans": w2c[:, :3, 3].tolist(),
    }
    (tmp_path / "camera" / "split_1.json").write_text(json.dumps(cam))
    (tmp_path / "split_info.json").write_text(json.dumps({"split_num": 2, "split": [[0, 1], frames]}))
    clip = open_sequence("omniworld", tmp_path, split=1).read_all()
    # One code step is about far * 0.004 * z^2 / 65535 metres at depth z: quantization grows with depth.
    _assert_consistent(clip, ref, depth_atol=float(np.nanmax(ref.depth) ** 2 * 1000 * 0.004 / 65535))
    with pytest.raises(DataError, match="split_0.json: file not found"):
        open_sequence("omniworld", tmp_path, split=0)


def test_unreal_camera_conversion_conventions():
    # No rotation: the camera looks along Unreal +x, which is OpenCV world +z.
    c2w = unreal_camera_to_c2w(100, 200, 300, 0, 0, 0)
    np.testing.assert_allclose(c2w[:3, :3], np.eye(3), atol=1e-12)
    np.testing.assert_allclose(c2w[:3, 3], [2, -3, 1])
    # Yaw 90: looks along Unreal +y (OpenCV x); pitch 30: looks up (OpenCV -y).
    forward = unreal_camera_to_c2w(0, 0, 0, 90, 0, 0)[:3, 2]
    np.testing.assert_allclose(forward, [1, 0, 0], atol=1e-12)
    forward = unreal_camera_to_c2w(0, 0, 0, 0, 30, 0)[:3, 2]
    np.testing.assert_allclose(forward, [0, -0.5, np.sqrt(3) / 2], atol=1e-12)
    # Roll keeps the view axis.
    np.testing.assert_allclose(unreal_camera_to_c2w(0, 0, 0, 0, 0, 25)[:3, 2], [0, 0, 1], atol=1e-12)


def test_bedlam_exr_depth_and_unreal_cameras(tmp_path):
    h, w = 18, 32
    seq = "seq_000001"
    for sub in (f"png/{seq}", f"depth/{seq}", "ground_truth/camera"):
        (tmp_path / sub).mkdir(parents=True)
    rows = [
        dict(
            name=f"{seq}_{i:04d}",
            x=100.0 * i,
            y=-50.0,
            z=150.0,
            yaw=10.0 * i,
            pitch=-5.0,
            roll=2.0 * i,
            focal_length=28.0,
        )
        for i in range(3)
    ]
    rng = np.random.default_rng(0)
    depth_cm = []
    for i, row in enumerate(rows):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            tmp_path / "png" / seq / f"{row['name']}.png"
        )
        d = (300 + 50 * rng.random((h, w))).astype(np.float32)
        depth_cm.append(d)
        write_exr(tmp_path / "depth" / seq / f"{row['name']}_depth.exr", {"Depth": d}, "ZIP" if i else "NONE")
    with (tmp_path / "ground_truth/camera" / f"{seq}_camera.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    clip = open_sequence("bedlam", tmp_path, sequence=seq).read_all()
    np.testing.assert_allclose(clip.depth, np.stack(depth_cm) / 100, rtol=1e-6)
    np.testing.assert_allclose(clip.K[0, 0, 0], 28 / 36 * w)
    np.testing.assert_allclose(clip.K[0, 1, 1], 28 / 20.25 * h)
    np.testing.assert_allclose(clip.c2w[1], unreal_camera_to_c2w(100, -50, 150, 10, -5, 2))
    lifted = clip.lifted()
    np.testing.assert_allclose(
        lifted.pointmaps, unproject_to_world(lifted.depth, lifted.K, lifted.c2w), atol=1e-5
    )
    # A corrupt depth file is reported by name.
    (tmp_path / "depth" / seq / f"{rows[2]['name']}_depth.exr").write_bytes(b"v/1\x01" + b"\0" * 10)
    with pytest.raises(DataError, match="_0002_depth.exr"):
        open_sequence("bedlam", tmp_path, sequence=seq).read([2])


def test_spatialvid_inverse_depth_zip_and_normalised_intrinsics(tmp_path):
    ref = _ref(4, frames=3, h=24, w=40)
    frame_of = [0, 5, 10]
    (tmp_path / "frames").mkdir()
    for i, f in enumerate(frame_of):
        Image.fromarray(ref.rgb[i]).save(tmp_path / "frames" / f"{f:06d}.png")
    w2c = invert_pose(ref.c2w)
    poses = np.concatenate([w2c[:, :3, 3], Rotation.from_matrix(w2c[:, :3, :3]).as_quat()], 1)
    np.save(tmp_path / "poses.npy", poses)
    h, w = ref.height, ref.width
    intr = np.stack([ref.K[:, 0, 0] / w, ref.K[:, 1, 1] / h, ref.K[:, 0, 2] / w, ref.K[:, 1, 2] / h], 1)
    np.save(tmp_path / "intrinsics.npy", intr)
    (tmp_path / "indexes.txt").write_text("\n".join(map(str, frame_of)) + "\n")
    with zipfile.ZipFile(tmp_path / "depth.zip", "w") as archive:
        for i in range(3):
            path = tmp_path / f"tmp{i}.exr"
            write_exr(path, {"Z": (1.0 / ref.depth[i]).astype(np.float16)})
            archive.write(path, f"{i:05d}.exr")
    clip = open_sequence("spatialvid", tmp_path).read_all()
    np.testing.assert_array_equal(clip.rgb, ref.rgb)
    # float16 inverse depth: relative error below 2^-11.
    np.testing.assert_allclose(clip.depth, ref.depth, rtol=6e-4)
    _assert_consistent(clip, ref, depth_atol=float(np.nanmax(ref.depth)) * 6e-4)
    np.save(tmp_path / "intrinsics.npy", intr[:2])
    with pytest.raises(DataError, match="mismatched frame counts: poses=3, intrinsics=2"):
        open_sequence("spatialvid", tmp_path)


def test_windows_of_sequences_feed_the_dataset(tmp_path):
    ref = _ref(5, frames=12, h=32, w=48)
    write_folder(ref, tmp_path / "seq")
    seq = open_sequence("folder", tmp_path / "seq")
    clips = list(iter_clips(seq, num_frames=5, stride=2))
    assert len(clips) == 1 and clips[0].source["frame_indices"] == [0, 2, 4, 6, 8]
    assert len(list(iter_clips(seq, num_frames=5, stride=1, step=2))) == 4
    source = WindowSource([seq, seq], num_frames=5)
    assert len(source) == 4
    item = ClipDataset(source, num_frames=5, height=32, width=48)[3]
    assert item["rgb"].shape == (3, 5, 32, 48)
    np.testing.assert_allclose(item["c2w"][0].numpy(), np.eye(4), atol=1e-6)


def test_spatialvid_frames_decode_from_mp4(tmp_path):
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    from one4d_data.readers.spatialvid import read_video_frames

    frames = np.zeros((6, 32, 48, 3), np.uint8)
    for i in range(6):
        frames[i, :, : 8 * (i + 1)] = (30, 180, 90)  # a green bar that grows: frames are distinguishable
    with av.open(str(tmp_path / "clip.mp4"), mode="w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 48, 32, "yuv420p"
        stream.options = {"crf": "10"}
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    got = read_video_frames(tmp_path / "clip.mp4", [4, 1])
    assert sorted(got) == [1, 4]
    for index in (1, 4):
        assert np.abs(got[index].astype(int) - frames[index].astype(int)).mean() < 4
    with pytest.raises(DataError, match="video has no frames \\[9\\]"):
        read_video_frames(tmp_path / "clip.mp4", [9])
