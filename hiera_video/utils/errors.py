"""One error policy: the exceptions for problems with what a user gave us, and nothing else.

Every input problem (a config value, a list or annotation line, a video or frame, a weights file, the environment
such as a missing decoding backend) is raised as an :class:`InputError` subclass whose one-line message names the
file (with ``file:line``) or the config key and the reason. Every CLI prints such an error as ``error: {message}``
and exits with status 2 (``--debug`` or ``HIERA_VIDEO_DEBUG=1`` shows the traceback instead,
:func:`hiera_video.utils.cli.run_cli`). Anything else is a bug and keeps its traceback.

The subclasses also derive from the built-in exception a caller would expect (``ValueError`` for config and lists,
``RuntimeError`` for data, weights and setup), so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ["InputError", "ConfigError", "ListError", "ListNotFoundError", "DataError", "WeightsError", "SetupError"]


class InputError(Exception):
    """A problem with the user's input; ``str(e)`` is one line naming the file / key and the reason."""


class ConfigError(InputError, ValueError):
    """A config file, key or value that cannot be used; the message names the key (or the file)."""


class ListError(InputError, ValueError):
    """A list or annotation file that cannot be used; the message names the file (and ``file:line``)."""


class ListNotFoundError(ListError, FileNotFoundError):
    """A list or annotation file that does not exist."""


class DataError(InputError, RuntimeError):
    """Videos or frames that cannot be used (one video, or too many of a split)."""


class WeightsError(InputError, RuntimeError):
    """A weights / checkpoint file that cannot be read or used."""


class SetupError(InputError, RuntimeError):
    """The environment cannot do what the config asks (a decoding backend, CUDA, a library)."""
