"""Atomic file writes: a crash never leaves a half-written file under the final name."""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import BinaryIO, Callable

from .errors import SetupError


def new_file_mode() -> int:
    """Mode a plain ``open(path, "wb")`` gives a new file now: 0666 minus the process umask
    (``tempfile.mkstemp`` creates 0600, readable by the owner only)."""
    try:  # Linux reports the umask without changing it
        with open("/proc/self/status") as f:
            mask = next(int(line.split()[1], 8) for line in f if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0)  # elsewhere reading it means setting it; put it straight back
        os.umask(mask)
    return 0o666 & ~mask


def ensure_dir(path: str, role: str = "output folder") -> str:
    """Create ``path`` (and parents) if missing and return it.

    Raises:
        SetupError: ``path`` (or a parent) is a file, or the folder cannot be created or written (the message names
            ``role`` and the path).
    """
    try:
        os.makedirs(path, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SetupError(f"{role} {path}: a file is in the way (expected a folder)") from None
    except OSError as e:
        raise SetupError(f"{role} {path}: cannot create it ({e.strerror or e})") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise SetupError(f"{role} {path}: not writable")
    return path


def check_output_dir(path: str, role: str = "output folder") -> str:
    """Check, before any work, that ``path`` can be (or is) a writable folder, without creating it.

    Raises:
        SetupError: ``path`` or one of its parents is a file, or the nearest existing folder is not writable.
    """
    current = os.path.abspath(path)
    while not os.path.exists(current):
        parent = os.path.dirname(current)
        if parent == current:
            break
        current = parent
    if os.path.exists(current) and not os.path.isdir(current):
        where = "" if current == os.path.abspath(path) else f" ({current})"
        raise SetupError(f"{role} {path}: a file is in the way{where}; expected a folder")
    if not os.access(current, os.W_OK | os.X_OK):
        raise SetupError(f"{role} {path}: {current} is not writable")
    return path


def check_output_file(path: str, role: str = "output file") -> str:
    """Check, before any work, that a file can be written at ``path`` (its folder exists or can be made and is
    writable; ``path`` is not a folder), without creating anything.

    Raises:
        SetupError: ``path`` is a folder, or :func:`check_output_dir` fails for its folder.
    """
    if os.path.isdir(path):
        raise SetupError(f"{role} {path}: is a folder (expected a file name)")
    check_output_dir(os.path.dirname(os.path.abspath(path)), f"{role} {path}: its folder")
    return path


def atomic_write(path: str, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temp file beside ``path``, fsync it, then rename it onto ``path``.

    The file gets the mode a plain ``open(path, "wb")`` would give it (0666 minus the umask), not
    ``mkstemp``'s 0600. The folder is created if missing. On any error the temp file is removed and the error
    re-raised; an existing file at ``path`` is left untouched. ``path`` must be local
    (``os.replace`` is what makes the switch atomic).
    """
    folder, name = os.path.split(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, new_file_mode())  # as open(path, "wb") would have made it
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_dir(folder)


def _fsync_dir(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the platform and filesystem support it)."""
    try:
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass


def atomic_link_or_copy(src: str, dst: str) -> str:
    """Make ``dst`` hold the content of the (complete) file ``src``, atomically and without reading it where the
    filesystem allows: a hard link (no bytes copied; ``src`` and ``dst`` then share one inode, and deleting either
    name leaves the other intact), else a copy. Built under a temp name beside ``dst`` and renamed onto it.

    Returns:
        ``"link"`` or ``"copy"``: how ``dst`` was made.
    """
    folder, name = os.path.split(os.path.abspath(dst))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    os.remove(tmp)  # os.link needs a free name; mkstemp only reserved a unique one
    how = "link"
    try:
        try:
            os.link(src, tmp)
        except OSError:  # a filesystem without hard links, or src on another device
            how = "copy"
            shutil.copyfile(src, tmp)
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.replace(tmp, dst)
    finally:  # also when dst already was a link to src (rename of two links to one file leaves both in place)
        if os.path.lexists(tmp):
            os.remove(tmp)
    _fsync_dir(folder)
    return how


def atomic_write_text(path: str, text: str) -> None:
    """:func:`atomic_write` of UTF-8 ``text``."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
