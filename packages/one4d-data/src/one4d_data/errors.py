"""The error raised for unreadable or inconsistent data."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad input data; the message names the file (or clip) and the problem."""

    def __init__(self, where: str | Path, problem: str) -> None:
        self.where = str(where)
        self.problem = problem
        super().__init__(f"{where}: {problem}")
