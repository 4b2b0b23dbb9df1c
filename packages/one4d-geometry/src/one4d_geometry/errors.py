"""The project's exception tree, rooted here because every other package depends on this one.

    One4DError                       anything a One4D package raises on purpose
    ├── GeometryError (ValueError)   bad geometry input: shapes, NaN/inf, parameters   (one4d_geometry)
    │   └── RecoveryError            well-formed pointmaps too degenerate for cameras   (one4d_geometry)
    ├── DataError (ValueError)       unreadable or inconsistent data files or clips     (one4d_data)
    ├── ModelError (ValueError)      weights, checkpoints and settings of the model     (one4d_model)
    ├── ConfigError (ValueError)     a training configuration key                       (one4d_train)
    └── PredictionError (ValueError) predictions handed to a benchmark                  (one4d_eval)

`except RecoveryError` is how a caller counts "no cameras from this output" without also swallowing
programming errors; the ValueError bases keep `except ValueError` code working.
"""

from __future__ import annotations


class One4DError(Exception):
    """Root of the errors One4D's packages raise on purpose."""


class GeometryError(One4DError, ValueError):
    """Bad input to a geometry function (shape, non-finite values, out-of-range parameters)."""


class RecoveryError(GeometryError):
    """Well-formed pointmaps that give no cameras (too few points, all coincident, planar)."""
