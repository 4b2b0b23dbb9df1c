"""One way for every `one4d-*` command to report a user's mistake: one line, `PROG: error: ...`, exit 2.

Known errors are the project's (`One4DError` and its subclasses, raised with the file, field and what was
expected) and the operating system's about paths (missing, not a folder, not writable). Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from .errors import One4DError

USER_ERRORS: tuple[type[BaseException], ...] = (
    One4DError,
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)

__all__ = ["USER_ERRORS", "report", "run_cli"]


def report(prog: str, error: BaseException) -> int:
    """Print `error` as one line on stderr; the exit status for a user error (2)."""
    message = str(error) if not isinstance(error, OSError) or not error.filename else _os_message(error)
    print(f"{prog}: error: {' '.join(message.split())}", file=sys.stderr)
    return 2


def run_cli(prog: str, main: Callable[[], int]) -> int:
    """`main()`, with the user errors above turned into `report`'s one line and exit status 2."""
    try:
        return main()
    except USER_ERRORS as error:
        return report(prog, error)


def _os_message(error: OSError) -> str:
    reason = error.strerror or type(error).__name__
    return f"{error.filename}: {reason}"
