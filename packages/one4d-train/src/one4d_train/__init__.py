"""one4d_train."""

from one4d_geometry.threads import apply_thread_policy

apply_thread_policy()  # before anything loads torch (see one4d_geometry.threads)

__version__ = "0.1.0"
