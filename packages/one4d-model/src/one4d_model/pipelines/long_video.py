"""Videos longer than the model's window: overlapping windows of the trained length, stitched into one 4D
scene.

Each window is generated like a clip of its own, so its pointmaps come out in *its* first camera's frame and
in its own normalised units (`One4DPipeline`). Consecutive windows share `overlap` frames: the same frames,
hence the same pixels, so the correspondences between a window's pointmaps and the scene built so far are
exact, and one Sim(3) (scale, rotation, translation; `one4d_geometry.robust_umeyama`, which ignores a
minority of wrong points) brings the window into the first window's frame. Over the overlap the two are
blended with weights ramping from the earlier window to the later one. Camera recovery then runs over the
whole sequence.

For inputs that observe every frame (reconstruction) each window sees its own frames. For the others
(sparse frames, single image, text) a window after the first also observes its overlap frames, taken from
what the previous windows generated: the video is extended window by window through Unified Masked
Conditioning, as DepthCrafter-style and autoregressive video models do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from one4d_geometry import GeometryError, robust_umeyama

from ..errors import ModelError

DEFAULT_OVERLAP_FRACTION = 0.25  # of the window, as DepthCrafter's 25 of 110 frames
BLENDS = ("linear", "none")


@dataclass
class WindowOutput:
    """One window's result: frames (W, H, W, 3) uint8, pointmaps (W, H, W, 3) NaN where invalid, valid,
    saturated (W, H, W) bool."""

    frames: np.ndarray
    pointmaps: np.ndarray
    valid: np.ndarray
    saturated: np.ndarray


def default_overlap(window: int) -> int:
    """About a quarter of the window, at least one frame."""
    return max(1, round(DEFAULT_OVERLAP_FRACTION * window))


def plan_windows(num_frames: int, window: int, overlap: int) -> list[range]:
    """Frame ranges of `window` frames each covering `num_frames`, consecutive ones sharing at least
    `overlap` frames; the last ends at the last frame (it may share more)."""
    if window < 1 or (window - 1) % 4:
        raise ModelError(f"the window must be 4k + 1 frames, got {window}")
    if not 1 <= overlap < window:
        raise ModelError(f"the overlap must be at least 1 and less than the window ({window}), got {overlap}")
    if num_frames <= window:
        return [range(num_frames)]
    stride = window - overlap
    starts = list(range(0, num_frames - window, stride)) + [num_frames - window]
    return [range(start, start + window) for start in starts]


def window_mask(frame_mask: np.ndarray, frames: range, generated_until: int) -> np.ndarray:
    """The observed frames of one window: those the input observes, and (for windows after the first, when
    the input does not observe every frame) the frames before `generated_until` already generated."""
    mask = np.asarray(frame_mask, dtype=np.float32)[frames.start : frames.stop].copy()
    if not mask.all() and frames.start < generated_until:
        mask[: generated_until - frames.start] = 1.0
    return mask


def align_window(
    scene_points: np.ndarray, scene_reliable: np.ndarray, points: np.ndarray, reliable: np.ndarray
):
    """The Sim(3) taking a window's pointmaps onto the scene's at the frames they share ((n, H, W, 3) and
    (n, H, W) each), fitted on pixels reliable in both."""
    both = scene_reliable & reliable & np.isfinite(points).all(-1) & np.isfinite(scene_points).all(-1)
    if both.sum() < 3:
        raise GeometryError(
            f"only {int(both.sum())} pixels are reliable in both windows over their {len(points)} shared "
            "frames: cannot align them (use a longer overlap)"
        )
    return robust_umeyama(points[both], scene_points[both])


def stitch(
    windows: list[range],
    generate_window: Callable[[int, np.ndarray, np.ndarray], WindowOutput],
    frame_mask: np.ndarray,
    video: np.ndarray,
    blend: str = "linear",
    progress: Callable[[Iterable], Iterable] | None = None,
) -> WindowOutput:
    """Generate every window in order and stitch them into one sequence in the first window's frame.

    `generate_window(index, video, mask)` gets the window's input frames and observed-frame mask and returns
    its `WindowOutput`; `video` (F, H, W, 3) uint8 holds the input frames, into which the generated frames
    are written as they come (what later windows observe at their overlap).
    """
    if blend not in BLENDS:
        raise ModelError(f"blend must be one of {BLENDS}, got {blend!r}")
    count = len(video)
    video = video.copy()
    frames = np.zeros_like(video)
    pointmaps = np.full((*video.shape[:3], 3), np.nan, np.float32)
    valid = np.zeros(video.shape[:3], bool)
    saturated = np.zeros(video.shape[:3], bool)
    done = 0  # frames [0, done) are in the scene
    order = list(enumerate(windows))
    for index, span in progress(order) if progress is not None else order:
        out = generate_window(index, video[span.start : span.stop], window_mask(frame_mask, span, done))
        shared = max(0, done - span.start)
        points = out.pointmaps
        if shared:
            scene_reliable = valid[span.start : done] & ~saturated[span.start : done]
            transform = align_window(
                pointmaps[span.start : done],
                scene_reliable,
                points[:shared],
                out.valid[:shared] & ~out.saturated[:shared],
            )
            points = np.where(out.valid[..., None], transform.apply(points), np.nan).astype(np.float32)
        new = slice(span.start + shared, span.stop)
        frames[new], pointmaps[new] = out.frames[shared:], points[shared:]
        valid[new], saturated[new] = out.valid[shared:], out.saturated[shared:]
        if shared:
            _blend(frames, pointmaps, valid, saturated, span.start, out, points, shared, blend)
        video[new] = out.frames[shared:]  # later windows observe what this one generated
        done = span.stop
    assert done == count
    return WindowOutput(frames, pointmaps, valid, saturated)


def _blend(frames, pointmaps, valid, saturated, start, out, points, shared, blend) -> None:
    """Ramp from the scene (earlier windows) to the new window over the shared frames."""
    if blend == "none":
        return  # the earlier windows keep the shared frames
    # Weight of the new window per shared frame: 1/(n+1) ... n/(n+1).
    weight = (np.arange(1, shared + 1) / (shared + 1))[:, None, None]
    old = slice(start, start + shared)
    both = valid[old] & out.valid[:shared]
    only_new = ~valid[old] & out.valid[:shared]
    mixed = (1 - weight[..., None]) * pointmaps[old] + weight[..., None] * points[:shared]
    pointmaps[old] = np.where(
        both[..., None], mixed, np.where(only_new[..., None], points[:shared], pointmaps[old])
    )
    rgb = (1 - weight[..., None]) * frames[old] + weight[..., None] * out.frames[:shared]
    frames[old] = np.round(rgb).astype(np.uint8)
    saturated[old] = np.where(weight >= 0.5, out.saturated[:shared], saturated[old]) & (
        valid[old] | out.valid[:shared]
    )
    valid[old] |= out.valid[:shared]
