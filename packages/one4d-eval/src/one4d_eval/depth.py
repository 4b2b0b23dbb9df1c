"""Video depth metrics: the MonST3R / Geo4D protocol the paper follows (DESIGN, evaluation section).

Per sequence: the prediction is resized to the GT size (bicubic), pixels with 0 < GT < ``max_depth`` are
valid, ONE alignment is fitted over all valid pixels of the sequence (scale-and-shift minimising the L1
error, or median scaling), the aligned prediction is clipped, and AbsRel / delta < 1.25 are computed. The
dataset score is the valid-pixel-weighted mean over sequences, i.e. the metric over all valid pixels of
the dataset, which is why :class:`SequenceDepth` keeps the per-sequence sums and not only the means.

The L1 fit is exact (see :func:`align_scale_shift_l1`): the reference code minimises the same objective
with a gradient optimiser under a fixed learning rate and iteration count, so how close it gets depends on
those settings; an exact solver removes that source of noise from the reported numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "DepthScores",
    "SequenceDepth",
    "aggregate_depth",
    "align_median_scale",
    "align_scale_shift_l1",
    "depth_scores",
    "evaluate_depth_sequence",
    "resize_depth",
    "valid_depth_mask",
]

DELTA_THRESHOLD = 1.25
# Aligned predictions are clamped to this before the ratio metrics: a non-positive depth has no meaningful
# ratio (the reference max(d^/d, d/d^) would even count a negative one as a hit).
DEFAULT_CLIP_MIN = 1e-3

_SAMPLE_SIZE = 1 << 16  # above this many pixels the L1 fit starts from an exact fit on a random subsample
_FINAL_SIZE = 768  # working-set size at which the remaining breakpoints are enumerated pairwise
_MAX_EXPANSIONS = 64


# --------------------------------------------------------------------------------------------------------
# Resizing and masks


def resize_depth(pred: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bicubic resize of (N, h, w) or (h, w) depth to ``size`` = (H, W).

    torch's bicubic (a = -0.75, align_corners=False, no antialiasing) is the kernel of OpenCV's INTER_CUBIC
    used by the reference evaluation. float32 stays float32; anything else is computed in float64.
    """
    arr = np.asarray(pred)
    if arr.ndim not in (2, 3):
        raise ValueError(f"depth to resize must be (h, w) or (N, h, w), got shape {arr.shape}")
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"target size must be positive, got {tuple(size)}")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    if arr.shape[-2:] == (height, width):
        return arr.astype(dtype, copy=True)

    import torch  # only needed for this kernel; keeps the rest numpy-only
    import torch.nn.functional as F

    frames = torch.from_numpy(np.ascontiguousarray(arr, dtype=dtype)).reshape(-1, 1, *arr.shape[-2:])
    out = F.interpolate(frames, size=(height, width), mode="bicubic", align_corners=False)
    return out.reshape(*arr.shape[:-2], height, width).numpy()


def valid_depth_mask(gt: np.ndarray, max_depth: float | None = 70.0) -> np.ndarray:
    """Pixels with finite GT in (0, max_depth): zero marks missing depth, far values are unreliable."""
    gt = np.asarray(gt)
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(gt) & (gt > 0)
        if max_depth is not None:
            mask &= gt < max_depth
    return mask


def _masked_pairs(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Valid (prediction, GT) values as float64 vectors, after checking that the inputs line up."""
    pred, gt, mask = np.asarray(pred), np.asarray(gt), np.asarray(mask)
    if not pred.shape == gt.shape == mask.shape:
        raise ValueError(f"shapes differ: pred {pred.shape}, gt {gt.shape}, mask {mask.shape}")
    if mask.dtype != np.bool_:
        raise ValueError(f"mask must be boolean, got dtype {mask.dtype}")
    x = np.ascontiguousarray(pred[mask], dtype=np.float64)
    y = np.ascontiguousarray(gt[mask], dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError(
            f"prediction has {np.count_nonzero(~np.isfinite(x))} non-finite values at valid pixels"
        )
    if not np.isfinite(y).all():
        raise ValueError(f"GT has {np.count_nonzero(~np.isfinite(y))} non-finite values inside the mask")
    return x, y


# --------------------------------------------------------------------------------------------------------
# Alignment


def align_median_scale(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """Scale-only alignment s = median(gt) / median(pred) over the mask (the reference's scale mode)."""
    x, y = _masked_pairs(pred, gt, mask)
    if x.size == 0:
        raise ValueError("median scaling needs at least 1 valid pixel, the mask is empty")
    median_pred = float(np.median(x))
    if not median_pred > 0:
        raise ValueError(f"median of the prediction over the mask is {median_pred}; cannot scale it to GT")
    return float(np.median(y)) / median_pred


def align_scale_shift_l1(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(s, t) minimising sum |s * pred + t - gt| over the mask, exactly.

    "Exact" means that no tolerance or iteration budget decides the answer: s is a slope at which an exact
    subgradient of g(s) = min_t f(s, t) contains 0 (generically the slope through two data points, i.e. a
    vertex of the L1-regression linear programme), and t is the median residual at s (for an even count
    any t between the two middle residuals is optimal too; the lower one is returned). What remains is
    floating-point rounding: the objective matched HiGHS to ~1e-14 relative in checks.

    How: g(s) = min_t f(s, t) is convex and piecewise linear with its kinks at slopes through pairs of
    points, and an exact subgradient of g is available in O(n) from the median residual. A bisection on
    the subgradient's sign shrinks a bracket around the optimum; points whose residual sign is fixed for
    every line in the bracket are folded into constant sums, so the working set shrinks with the bracket,
    and once it is small the remaining pairwise slopes are enumerated and searched. Large inputs start from
    the exact fit of a random subsample, which puts the first bracket very close to the optimum.
    """
    x, y = _masked_pairs(pred, gt, mask)
    if x.size < 2:
        raise ValueError(f"L1 scale-and-shift alignment needs at least 2 valid pixels, got {x.size}")
    if np.ptp(x) == 0:
        raise ValueError("prediction is constant over the valid pixels: scale and shift are not identifiable")
    return _l1_line_fit(x, y)


def _max_signed_sum(values: np.ndarray, balance: int) -> float:
    """max sum u_i v_i over u in [-1, 1]^n with sum u = balance (greedy: largest values get u = +1)."""
    ordered = np.sort(values)[::-1]
    budget = balance + values.size  # units added to the all -1 start; each value takes up to 2
    full = budget // 2
    total = -ordered.sum() + 2.0 * ordered[:full].sum()
    if budget % 2:
        total += ordered[full]
    return float(total)


class _L1LineProblem:
    """min over (s, t) of sum |y - s x - t| for x >= 0: a working set plus sums over the other points.

    ``pos`` / ``neg`` points lie strictly above / below every candidate optimal line; their contribution is
    linear in (s, t), so only counts and sums of x and y are kept. Two scratch buffers are reused because
    fresh multi-100 MB temporaries cost more (page faults) than the arithmetic on them.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x, self.y = x, y
        self.rank = (x.size - 1) // 2  # rank of the (lower) median residual among all points
        self.n_pos = self.n_neg = 0
        self.sx_pos = self.sx_neg = self.sy_pos = self.sy_neg = 0.0
        self._medians: dict[float, float] = {}  # median residual per slope; folding points keeps it valid
        self._scratch = (np.empty_like(x), np.empty_like(x))

    @property
    def size(self) -> int:
        return self.x.size

    def _residual(self, s: float, out: np.ndarray) -> np.ndarray:
        np.multiply(self.x, -s, out=out)
        out += self.y  # bit-identical to y - s * x
        return out

    def _kth(self, values: np.ndarray) -> float:
        """Value of global rank ``self.rank`` among all points, given a per-point value on the working set."""
        work = self._scratch[1]
        np.copyto(work, values)
        k = self.rank - self.n_neg
        work.partition(k)
        return float(work[k])

    def _masked_sum(self, values: np.ndarray, mask: np.ndarray) -> float:
        """sum(values[mask]) as a dot product with the mask cast into scratch (no temporary allocation)."""
        weights = self._scratch[1]
        np.copyto(weights, mask)
        return float(values @ weights)

    def _median_residual(self, s: float) -> tuple[np.ndarray, float]:
        residual = self._residual(s, self._scratch[0])
        self._medians[s] = t = self._kth(residual)
        return residual, t

    def shift(self, s: float) -> float:
        """Optimal t for slope s: the median residual."""
        return self._median_residual(s)[1]

    def objective(self, s: float) -> float:
        residual, t = self._median_residual(s)
        known = (self.sy_pos - s * self.sx_pos - t * self.n_pos) - (
            self.sy_neg - s * self.sx_neg - t * self.n_neg
        )
        return float(np.abs(residual - t).sum() + known)

    def classify(self, s: float) -> int:
        """Where the optimal slopes lie relative to s: -1 above, +1 below, 0 if s is optimal.

        Uses the subdifferential of g(s) = min_t f(s, t): the residual signs give it exactly, points
        on the median line (ties) contribute an interval subject to the t-optimality balance.
        """
        residual, t = self._median_residual(s)
        above, below = residual > t, residual < t
        n_above = self.n_pos + np.count_nonzero(above)
        n_below = self.n_neg + np.count_nonzero(below)
        grad = (self.sx_neg + self._masked_sum(self.x, below)) - (
            self.sx_pos + self._masked_sum(self.x, above)
        )
        ties = self.x[residual == t]
        balance = int(n_below - n_above)
        if grad - _max_signed_sum(ties, balance) > 0:
            return 1
        if grad + _max_signed_sum(-ties, balance) < 0:
            return -1
        return 0

    def _fixed_signs(self, s_lo: float, s_hi: float) -> tuple[np.ndarray, np.ndarray]:
        """Masks of points above / below every line (s, t*(s)) with s in [s_lo, s_hi].

        With x >= 0 every residual, and so the median t*(s), falls as s grows: over the bracket a residual
        is at least its value at s_hi and t*(s) at most t*(s_lo), and vice versa.
        """
        t_min = self._medians[s_hi] if s_hi in self._medians else self.shift(s_hi)
        t_max = self._medians[s_lo] if s_lo in self._medians else self.shift(s_lo)
        pos = self._residual(s_hi, self._scratch[0]) > t_max
        neg = self._residual(s_lo, self._scratch[0]) < t_min
        return pos, neg

    def shrink(self, s_lo: float, s_hi: float) -> None:
        """Fold points whose residual sign is the same for every optimal line with s in [s_lo, s_hi]."""
        pos, neg = self._fixed_signs(s_lo, s_hi)
        self.n_pos += int(np.count_nonzero(pos))
        self.n_neg += int(np.count_nonzero(neg))
        self.sx_pos += self._masked_sum(self.x, pos)
        self.sy_pos += self._masked_sum(self.y, pos)
        self.sx_neg += self._masked_sum(self.x, neg)
        self.sy_neg += self._masked_sum(self.y, neg)
        keep = ~(pos | neg)
        self.x, self.y = self.x[keep], self.y[keep]
        self._scratch = (np.empty_like(self.x), np.empty_like(self.x))


def _initial_slope(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Starting slope and first bracketing step: a subsample's exact fit, or the median ratio."""
    spread = float(np.ptp(y) / np.ptp(x)) or 1.0
    if x.size > _SAMPLE_SIZE:
        index = np.random.default_rng(0).integers(0, x.size, _SAMPLE_SIZE)
        xs, ys = x[index], y[index]
        if np.ptp(xs) > 0:
            s0 = _l1_line_fit(xs, ys)[0]
            return s0, 2e-3 * (abs(s0) or spread)
    median_x = float(np.median(x))
    s0 = float(np.median(y)) / median_x if median_x != 0 else 0.0
    return s0, 0.1 * (abs(s0) or spread)


def _bracket(problem: _L1LineProblem, s0: float, step: float) -> tuple[float, float]:
    """[s_lo, s_hi] containing the optimal slopes, by expanding steps from s0 (equal ends: s0 is optimal)."""
    side = problem.classify(s0)
    if side == 0:
        return s0, s0
    previous = s0
    for _ in range(_MAX_EXPANSIONS):
        s1 = s0 - side * step
        side1 = problem.classify(s1)
        if side1 == 0:
            return s1, s1
        if side1 != side:
            return min(previous, s1), max(previous, s1)
        previous, step = s1, 4.0 * step
    raise RuntimeError("L1 alignment could not bracket the optimal scale (non-finite data?)")


def _search_candidates(problem: _L1LineProblem, s_lo: float, s_hi: float) -> float:
    """Best slope in [s_lo, s_hi] among the pairwise slopes of the working set (the only kinks of g)."""
    candidates = [s_lo, s_hi]
    if problem.size <= _FINAL_SIZE:
        i, j = np.triu_indices(problem.size, 1)
        dx = problem.x[i] - problem.x[j]
        ok = dx != 0
        slopes = (problem.y[i] - problem.y[j])[ok] / dx[ok]
        candidates = np.concatenate([[s_lo], slopes[(slopes > s_lo) & (slopes < s_hi)], [s_hi]])
    candidates = np.unique(candidates)  # sorted, ends kept
    lo, hi = 0, candidates.size - 1  # classify(candidates[lo]) < 0 < classify(candidates[hi])
    while hi - lo > 1:
        mid = (lo + hi) // 2
        side = problem.classify(float(candidates[mid]))
        if side == 0:
            return float(candidates[mid])
        lo, hi = (mid, hi) if side < 0 else (lo, mid)
    # No exact zero: the kink sits on one of the two neighbours up to rounding; keep the better one.
    s_a, s_b = float(candidates[lo]), float(candidates[hi])
    return s_a if problem.objective(s_a) <= problem.objective(s_b) else s_b


def _l1_line_fit(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Exact least-absolute-deviations line y ~ s x + t (x not constant)."""
    offset = float(x.min())
    if offset < 0:  # the search needs x >= 0; shifting x moves only t, which is re-taken on the data
        s = _l1_line_fit(x - offset, y)[0]
        k = (x.size - 1) // 2
        return s, float(np.partition(y - s * x, k)[k])
    problem = _L1LineProblem(x, y)
    s_lo, s_hi = _bracket(problem, *_initial_slope(x, y))
    while s_lo < s_hi:
        problem.shrink(s_lo, s_hi)
        mid = 0.5 * (s_lo + s_hi)
        if problem.size <= _FINAL_SIZE or not s_lo < mid < s_hi:
            s_lo = s_hi = _search_candidates(problem, s_lo, s_hi)
            break
        side = problem.classify(mid)
        if side == 0:
            s_lo = s_hi = mid
        elif side < 0:
            s_lo = mid
        else:
            s_hi = mid
    return s_lo, problem.shift(s_lo)


# --------------------------------------------------------------------------------------------------------
# Scores


@dataclass(frozen=True)
class DepthScores:
    """AbsRel and delta < 1.25 over ``valid_pixels`` pixels."""

    abs_rel: float
    delta_1_25: float
    valid_pixels: int


@dataclass(frozen=True)
class SequenceDepth:
    """One sequence's scores, its alignment, and the metric sums that make dataset aggregation exact."""

    scores: DepthScores
    scale: float
    shift: float
    abs_rel_sum: float  # sum over valid pixels of |d^ - d| / d
    delta_count: int  # number of valid pixels with max(d^/d, d/d^) < 1.25


def _metric_sums(d_hat: np.ndarray, d: np.ndarray) -> tuple[float, int]:
    """(sum |d^ - d| / d, count of delta hits); a non-positive d^ is never a hit."""
    abs_rel_sum = float(np.sum(np.abs(d_hat - d) / d))
    positive = d_hat > 0
    ratio = np.ones_like(d)
    ratio[positive] = np.maximum(d_hat[positive] / d[positive], d[positive] / d_hat[positive])
    return abs_rel_sum, int(np.count_nonzero(positive & (ratio < DELTA_THRESHOLD)))


def _scores_from_sums(abs_rel_sum: float, delta_count: int, valid_pixels: int) -> DepthScores:
    return DepthScores(abs_rel_sum / valid_pixels, delta_count / valid_pixels, int(valid_pixels))


def depth_scores(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> DepthScores:
    """AbsRel = mean |d^ - d| / d and delta = mean(max(d^/d, d/d^) < 1.25) of an aligned prediction."""
    d_hat, d = _masked_pairs(pred, gt, mask)
    if d.size == 0:
        raise ValueError("no valid pixels: the mask is empty")
    if not (d > 0).all():
        raise ValueError("GT must be positive inside the mask (AbsRel divides by it)")
    return _scores_from_sums(*_metric_sums(d_hat, d), d.size)


def _check_sequence_shapes(pred: np.ndarray, gt: np.ndarray) -> None:
    if gt.ndim not in (2, 3) or pred.ndim != gt.ndim:
        raise ValueError(
            f"pred and gt must both be (H, W) or (N, H, W); got pred {pred.shape}, gt {gt.shape}"
        )
    if gt.ndim == 3 and pred.shape[0] != gt.shape[0]:
        raise ValueError(
            f"frame counts differ: pred {pred.shape} has {pred.shape[0]}, gt {gt.shape} has {gt.shape[0]}"
        )


def evaluate_depth_sequence(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    alignment: str = "scale_shift",
    max_depth: float | None = 70.0,
    clip_max: float | None = None,
    clip_min: float | None = DEFAULT_CLIP_MIN,
) -> SequenceDepth:
    """Protocol for one sequence: resize, mask, align once over all frames, clip, score.

    ``alignment`` is "scale_shift" (exact L1 fit) or "scale" (median scaling). ``clip_max`` bounds the
    aligned prediction (Sintel: 70). ``clip_min`` (default 1e-3) keeps it positive so that the ratio metrics
    stay meaningful; pass None to score the raw aligned values (a non-positive one then still fails delta).
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    _check_sequence_shapes(pred, gt)
    pred = resize_depth(pred, gt.shape[-2:])
    mask = valid_depth_mask(gt, max_depth)
    if alignment == "scale_shift":
        scale, shift = align_scale_shift_l1(pred, gt, mask)
    elif alignment == "scale":
        scale, shift = align_median_scale(pred, gt, mask), 0.0
    else:
        raise ValueError(f"unknown alignment {alignment!r}; expected 'scale_shift' or 'scale'")
    d_hat, d = _masked_pairs(pred, gt, mask)
    d_hat = scale * d_hat + shift
    if clip_min is not None or clip_max is not None:
        d_hat = np.clip(d_hat, clip_min, clip_max)
    abs_rel_sum, delta_count = _metric_sums(d_hat, d)
    return SequenceDepth(
        scores=_scores_from_sums(abs_rel_sum, delta_count, d.size),
        scale=float(scale),
        shift=float(shift),
        abs_rel_sum=abs_rel_sum,
        delta_count=delta_count,
    )


def aggregate_depth(results: Sequence[SequenceDepth]) -> DepthScores:
    """Dataset score: valid-pixel-weighted mean over sequences (the metric over all valid pixels)."""
    valid = sum(r.scores.valid_pixels for r in results)
    if valid == 0:
        raise ValueError("no sequences (or no valid pixels) to aggregate")
    return _scores_from_sums(sum(r.abs_rel_sum for r in results), sum(r.delta_count for r in results), valid)
