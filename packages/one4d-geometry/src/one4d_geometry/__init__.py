"""one4d_geometry."""

__version__ = "0.1.0"
