"""The error raised for unreadable or inconsistent data."""

from __future__ import annotations

from pathlib import Path

from one4d_geometry.errors import One4DError


class DataError(One4DError, ValueError):
    """Bad input data; the message names the file (or clip) and the problem."""

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}")
