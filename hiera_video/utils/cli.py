"""How every command-line tool reports input problems: one line, exit status 2 (``utils.errors``)."""

from __future__ import annotations

import os
import sys
from typing import Callable, Tuple, Type

from .errors import InputError

#: set to 1 to see the traceback of input errors too (as ``--debug`` does).
DEBUG_ENV = "HIERA_VIDEO_DEBUG"
#: exit status of a command stopped by an input error.
INPUT_ERROR_STATUS = 2


def debug_requested(argv_flag: bool = False) -> bool:
    """``--debug`` was given or ``HIERA_VIDEO_DEBUG`` is set to a true value."""
    return bool(argv_flag) or os.environ.get(DEBUG_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def run_cli(main: Callable[[], int], debug: bool = False, also: Tuple[Type[BaseException], ...] = ()) -> int:
    """Run ``main()``; an :class:`InputError` (and the ``also`` types, for tools whose preparation code still
    raises built-in types for bad input) is printed as ``error: {message}`` on one line to stderr and gives
    status 2, unless ``debug`` (then it propagates with its traceback). Anything else propagates: bugs keep
    their traceback."""
    try:
        return main()
    except (InputError, *also) as e:
        return report_input_error(e, debug)


def report_input_error(e: BaseException, debug: bool = False) -> int:
    """Print ``e`` as one ``error: ...`` line on stderr and return 2; with ``debug`` (or ``HIERA_VIDEO_DEBUG``)
    re-raise it instead, traceback and all. Call it from an ``except`` block."""
    if debug_requested(debug):
        raise e
    message = " ".join(str(e).split()) or type(e).__name__
    print(f"error: {message}", file=sys.stderr)
    return INPUT_ERROR_STATUS
