"""How far recovered cameras can be trusted: figures computed by `recover_cameras`, judged here.

Pointmaps that no camera can produce (a mirrored scene, noise, a generator's failure) still give cameras: the
solver always returns its best fit. `RecoveryQuality` says whether that fit is a camera's view, frame by
frame, from figures that do not depend on the scene's scale:

- relative residual: the median distance of the fitted points to their pixels' rays, over the scene's size
  (the median distance of the points to their median). A camera's view with 1 % isotropic noise gives
  about 0.03, an exact one ~1e-8, a cloud of noise about 0.75.
- outlier fraction: the share of fitted points farther from their rays than the robust cutoff (2 x the
  median distance) or behind the camera: gross errors that the fit ignored (and ~6-15 % of noisy points).
- behind fraction: the share of valid points at depth <= 0, which no camera sees. A mirrored scene puts
  every point there, a cloud of noise about half.
- focal relative error: the focal's relative standard error from the Gauss-Newton normal equations at the
  solution (covariance s^2 H^-1, s^2 the weighted residual variance): how far the focal can move, the
  centre moving with it (a dolly zoom), before the fit gets noticeably worse. Points that pin the focal
  down give well under 1 %; points that no camera explains, or a very narrow view, do not pin it down.
  (Chosen over the spread of per-frame focal fits because it also works for one frame and for a per-frame
  focal, and over a plausible range alone because noise can land on a plausible focal.)
- focal over image: the focal over the image's larger side, for a plausibility check only.

Confidences weight every figure as they weight the fit. Thresholds are module constants below; a frame over
a FATAL threshold is not a camera's view (`is_camera_view` False, `one4d-recover` refuses to write it
unless told to keep going), one over a WARN threshold is doubtful.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

__all__ = [
    "BEHIND_FATAL",
    "BEHIND_WARN",
    "FOCAL_ERROR_FATAL",
    "FOCAL_ERROR_WARN",
    "FOCAL_RANGE",
    "OUTLIER_WARN",
    "RESIDUAL_FATAL",
    "RESIDUAL_WARN",
    "Problem",
    "RecoveryQuality",
]

# Points behind the camera: no camera sees them; noise right at the camera could put a few there, a fifth
# is no view (a mirrored scene gives 100 %, noise clouds ~50 %).
BEHIND_WARN = 0.01
BEHIND_FATAL = 0.2
# Median distance to the rays over the scene size: 1 % noise gives ~0.03 (0.07 in a 6 degree view),
# clouds of noise ~0.75.
RESIDUAL_WARN = 0.1
RESIDUAL_FATAL = 0.3
# Share of fitted points the robust fit set aside (1 % noise alone: 6-15 %); never fatal, the fit ignored
# them, but a quarter is worth saying. The cutoff is 2 x the median, so it is at most about half.
OUTLIER_WARN = 0.25
# Relative standard error of the focal: exact views give ~1e-9, 1 % noise ~0.001 (0.01 in a 6 degree
# view), clouds of noise 0.2-5 (the other figures catch those too).
FOCAL_ERROR_WARN = 0.05
FOCAL_ERROR_FATAL = 0.5
# Focal over the image's larger side: outside this a field of view is under 3 or over 157 degrees (a
# negative focal is no camera at all).
FOCAL_RANGE = (0.1, 20.0)


class Problem(NamedTuple):
    """One finding: `fatal` ones mean the geometry is not a camera's view."""

    fatal: bool
    message: str
    frames: tuple[int, ...]


@dataclass(frozen=True)
class RecoveryQuality:
    """Per-frame figures of a camera recovery (module docstring); `problems()` judges them."""

    relative_residual: np.ndarray  # (N,) median distance of fitted points to their rays / scene size
    outlier_fraction: np.ndarray  # (N,) share of fitted points the robust fit set aside
    behind_fraction: np.ndarray  # (N,) share of valid points at depth <= 0
    focal_relative_error: np.ndarray  # (N,) relative standard error of each frame's focal (NaN: not fitted)
    focal_over_image: np.ndarray  # (N,) focal / the image's larger side

    def problems(self) -> list[Problem]:
        """Fatal findings first, then warnings, each naming its frames."""
        behind, residual = self.behind_fraction, self.relative_residual
        error, ratio, outliers = self.focal_relative_error, self.focal_over_image, self.outlier_fraction
        with np.errstate(divide="ignore"):
            fov = np.degrees(2 * np.arctan(0.5 / ratio))
        no_view = ": not a camera's view"
        checks = [  # (fatal, frames concerned, message given the figures of those frames)
            (
                True,
                behind > BEHIND_FATAL,
                lambda f: f"{_percent(behind[f])} of points behind the cameras{no_view}",
            ),
            (
                True,
                residual > RESIDUAL_FATAL,
                lambda f: (
                    f"points lie {_range(residual[f])} of the scene's size from their pixels' rays "
                    f"(median){no_view}"
                ),
            ),
            (True, ratio <= 0, lambda f: f"negative focal length{no_view}"),
            (
                True,
                error > FOCAL_ERROR_FATAL,
                lambda f: (
                    "the points do not determine the focal length (relative standard error "
                    f"{_range(error[f])}){no_view}"
                ),
            ),
            (
                False,
                (behind > BEHIND_WARN) & (behind <= BEHIND_FATAL),
                lambda f: f"{_percent(behind[f])} of points behind the cameras",
            ),
            (
                False,
                (residual > RESIDUAL_WARN) & (residual <= RESIDUAL_FATAL),
                lambda f: (
                    f"noisy geometry: points lie {_range(residual[f])} of the scene's size from their "
                    "pixels' rays (median)"
                ),
            ),
            (
                False,
                outliers > OUTLIER_WARN,
                lambda f: (
                    f"{_percent(outliers[f])} of the fitted points are far off their rays (outliers, "
                    "left out of the fit)"
                ),
            ),
            (
                False,
                (error > FOCAL_ERROR_WARN) & (error <= FOCAL_ERROR_FATAL),
                lambda f: f"focal length poorly determined (relative standard error {_range(error[f])})",
            ),
            (
                False,
                ((ratio > 0) & (ratio < FOCAL_RANGE[0])) | (ratio > FOCAL_RANGE[1]),
                lambda f: (
                    f"implausible focal length: {_range(ratio[f], '.3g')} x the image size (field of "
                    f"view {_range(fov[f], '.3g')} degrees)"
                ),
            ),
        ]
        found = []
        for fatal, concerned, message in checks:
            if np.any(concerned):
                frames = tuple(int(i) for i in np.flatnonzero(concerned))
                found.append(Problem(fatal, message(concerned) + _where(frames, len(behind)), frames))
        return found

    @property
    def is_camera_view(self) -> bool:
        """False when some frame's geometry is not a camera's view (a fatal problem)."""
        return not any(problem.fatal for problem in self.problems())

    def summary(self) -> list[str]:
        """A header and one line per frame with the four figures, for a log."""
        lines = ["frame  residual/scene  outliers  behind  focal rel. error"]
        for i in range(len(self.behind_fraction)):
            lines.append(
                f"{i:5d}  {self.relative_residual[i]:14.3g}  {100 * self.outlier_fraction[i]:7.1f}%  "
                f"{100 * self.behind_fraction[i]:5.1f}%  {self.focal_relative_error[i]:16.2g}"
            )
        return lines

    def as_dict(self) -> dict[str, object]:
        """The figures (lists, NaN as None) and the problems' messages, for a JSON file."""

        def listed(values: np.ndarray) -> list[float | None]:
            return [float(x) if np.isfinite(x) else None for x in values]

        return {
            "relative_residual": listed(self.relative_residual),
            "outlier_fraction": listed(self.outlier_fraction),
            "behind_fraction": listed(self.behind_fraction),
            "focal_relative_error": listed(self.focal_relative_error),
            "is_camera_view": self.is_camera_view,
            "problems": [
                {"fatal": problem.fatal, "message": problem.message, "frames": list(problem.frames)}
                for problem in self.problems()
            ],
        }


def _where(frames: tuple[int, ...], total: int) -> str:
    if len(frames) == total:
        return " (all frames)" if total > 1 else ""
    shown = ", ".join(str(i) for i in frames[:10]) + (", ..." if len(frames) > 10 else "")
    return f" (frame{'s' if len(frames) > 1 else ''} {shown}: {len(frames)} of {total})"


def _percent(values: np.ndarray) -> str:
    """Mean share over the frames concerned (their points count alike), or the range when it is wide."""
    low, high = 100 * float(np.min(values)), 100 * float(np.max(values))
    if high - low < 5:
        return f"{100 * float(np.mean(values)):.0f} %"
    return f"{low:.0f}-{high:.0f} %"


def _range(values: np.ndarray, spec: str = ".2g") -> str:
    values = np.asarray(values, dtype=float)
    if len(values) == 1 or np.ptp(values) <= 0.05 * np.max(np.abs(values)):
        return format(float(np.max(values)), spec)
    return f"{format(float(np.min(values)), spec)}-{format(float(np.max(values)), spec)}"
