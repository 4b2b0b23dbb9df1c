import pytest
import torch
from one4d_data.umc import latent_frame_count, pack_frame_mask, unpack_frame_mask


def test_pack_frame_mask_groups_first_frame_then_fours():
    frame_mask = torch.zeros(1, 9)
    frame_mask[0, 0] = 1  # single image
    frame_mask[0, 6] = 1  # frame 6 lies in latent frame 2 (frames 5..8), slot 1
    packed = pack_frame_mask(frame_mask, (2, 3))
    assert packed.shape == (1, 4, 3, 2, 3)
    assert torch.all(packed[0, :, 0] == 1)  # first frame repeated 4x
    assert torch.all(packed[0, :, 1] == 0)
    assert packed[0, :, 2, 0, 0].tolist() == [0, 1, 0, 0]


def test_pack_unpack_round_trip():
    frame_mask = (torch.rand(3, 21) > 0.5).float()
    assert torch.equal(unpack_frame_mask(pack_frame_mask(frame_mask, (4, 5))), frame_mask)


@pytest.mark.parametrize("frames", [0, 2, 8, 80])
def test_frame_counts_must_be_4k_plus_1(frames):
    with pytest.raises(ValueError, match="4k \\+ 1"):
        latent_frame_count(frames)


def test_paper_clip_has_21_latent_frames():
    assert latent_frame_count(81) == 21
