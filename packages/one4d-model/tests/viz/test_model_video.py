import numpy as np
import pytest
from one4d_model.viz.video import has_video_support, write_mp4

av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")


def test_mp4_round_trip_keeps_frames_and_colours(tmp_path):
    assert has_video_support()
    frames = np.zeros((9, 32, 48, 3), np.uint8)
    for i in range(9):
        frames[i, :, : 8 + 4 * i] = (200, 40, 20)  # a red bar that grows
    write_mp4(tmp_path / "v.mp4", frames, fps=16)
    with av.open(str(tmp_path / "v.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.average_rate == 16
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert decoded.shape == frames.shape
    assert np.abs(decoded.astype(int) - frames.astype(int)).mean() < 6  # lossy, but close


def test_mp4_input_errors(tmp_path):
    with pytest.raises(ValueError, match="uint8"):
        write_mp4(tmp_path / "a.mp4", np.zeros((2, 32, 32, 3), np.float32))
    with pytest.raises(ValueError, match="even height and width"):
        write_mp4(tmp_path / "b.mp4", np.zeros((2, 31, 32, 3), np.uint8))
