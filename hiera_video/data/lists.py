"""Video list files in PySlowFast's Kinetics format.

One video per line, ``path label``, e.g.::

    abseiling/abc123_000010_000020.mp4 0
    /abs/path/to/video.mp4,17

The separator is ``DATA.PATH_LABEL_SEPARATOR``; when it is ``""`` a comma or any
run of whitespace separates the two fields (so paths cannot contain spaces in that
mode). Relative paths are joined to ``DATA.PATH_PREFIX``; absolute paths are kept.
Blank lines are skipped. Files are read through iopath's ``g_pathmgr`` so any
registered path handler (local, HTTP, manifold, ...) works.

Source: the list format and the two config keys follow PySlowFast's
``slowfast/datasets/kinetics.py`` (``_construct_loader``); the malformed-line
errors (file and line number) are ours — PySlowFast only asserts.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field

from iopath.common.file_io import g_pathmgr

from hiera_video.utils.errors import ListError, ListNotFoundError

logger = logging.getLogger(__name__)

__all__ = ["VideoRecord", "ListFormatError", "read_video_list", "parse_list_line", "iter_list_lines", "join_prefix"]

#: the UTF-8 byte-order mark, tolerated at the start of a list.
BOM = "\ufeff"
# Comma or whitespace, with optional whitespace around a comma.
_DEFAULT_SPLIT = re.compile(r"\s*,\s*|\s+")


@dataclass(frozen=True)
class VideoRecord:
    """One line of a video list.

    Attributes:
        path: video path, already joined to the path prefix when it was relative.
        label: class index, an integer ``>= 0`` (``-1``: unlabelled).
        lineno: the 1-based line of the list it came from (0 when not from a file; not compared).
    """

    path: str
    label: int
    lineno: int = field(default=0, compare=False)


class ListFormatError(ListError):
    """A malformed line in a video list.

    The message is ``"{file}:{lineno}: {why}: {line!r}"``; the parts are also kept as
    the attributes ``file``, ``lineno`` (1-based), ``why`` and ``line``.
    """

    def __init__(self, file: str, lineno: int, why: str, line: str):
        super().__init__(f"{file}:{lineno}: {why}: {line!r}")
        self.file = file
        self.lineno = lineno
        self.why = why
        self.line = line

    def __reduce__(self):  # keep it picklable (DataLoader workers re-raise in the parent)
        return (type(self), (self.file, self.lineno, self.why, self.line))


def join_prefix(prefix: str, path: str) -> str:
    """``path`` joined to ``prefix`` (``DATA.PATH_PREFIX``) unless absolute, a URL, or the prefix is empty."""
    if not prefix or os.path.isabs(path) or "://" in path:
        return path
    return os.path.join(prefix, path)


def parse_list_line(line: str, separator: str = "", require_label: bool = True) -> tuple[str, int] | str:
    """Split one non-blank line into ``(path, label)``.

    Args:
        line: the line without its newline.
        separator: the field separator, or ``""`` for a comma or any whitespace.
        require_label: when False a line holding only a path is accepted with label ``-1``
            (unlabelled lists for MAE pretraining).

    Returns:
        ``(path, label)`` on success, otherwise a string saying why the line is
        malformed (the caller turns it into a :class:`ListFormatError`).
    """
    text = line.strip()
    if separator:
        fields = [f.strip() for f in text.split(separator)]
    else:
        fields = [f for f in _DEFAULT_SPLIT.split(text) if f != ""]
    if not require_label and len(fields) == 1 and fields[0]:
        return fields[0], -1
    if len(fields) < 2 or fields[0] == "":
        return "missing label (expected 'path label')"
    if len(fields) > 2:
        return f"too many fields ({len(fields)}, expected 2: 'path label')"
    path, label_text = fields
    if label_text == "":
        return "missing label (expected 'path label')"
    try:
        label = int(label_text)
    except ValueError:
        return f"label {label_text!r} is not an integer"
    if label < 0:
        return f"label {label} is negative"
    return path, label


def iter_list_lines(list_path: str, separator: str = "", require_label: bool = True):
    """Yield ``(lineno, line, parsed)`` for every non-blank line of a list (1-based ``lineno``).

    ``parsed`` is ``(path, label)`` for a well-formed line, else the reason it is malformed
    (a string); see :func:`parse_list_line`.

    Raises:
        FileNotFoundError: ``list_path`` does not exist (the message names it).
    """
    if not g_pathmgr.exists(list_path):
        raise ListNotFoundError(f"video list not found: {list_path}")
    try:
        with g_pathmgr.open(list_path, "r") as f:
            for lineno, raw in enumerate(f, start=1):
                line = raw.rstrip("\r\n")
                if lineno == 1:
                    line = line.lstrip(BOM)  # a UTF-8 byte-order mark (some editors write one) is not part of the path
                if line.strip():
                    yield lineno, line, parse_list_line(line, separator, require_label)
    except (OSError, UnicodeDecodeError) as e:  # a folder, no permission, binary content
        raise ListError(f"{list_path}: cannot read the list ({type(e).__name__}: {' '.join(str(e).split())[:200]})") from None


def read_video_list(list_path: str, path_prefix: str = "", separator: str = "",
                    require_labels: bool = True) -> list[VideoRecord]:
    """Read a Kinetics-format list file (``path label`` per line; ``path`` alone, label ``-1``, when
    ``require_labels`` is False).

    Args:
        list_path: the list file (any iopath path).
        path_prefix: joined to every relative path (``DATA.PATH_PREFIX``).
        separator: ``DATA.PATH_LABEL_SEPARATOR``; ``""`` accepts a comma or any
            whitespace between path and label.

    Returns:
        The records, in file order. A UTF-8 byte-order mark and CRLF line ends are tolerated; a line that repeats
        an earlier one (same path, same label) is left out, with one warning giving the count.

    Raises:
        ListNotFoundError: ``list_path`` does not exist (the message names it; a ``FileNotFoundError``).
        ListFormatError: a line lacks a label, has a non-integer or negative label, has more than two fields,
            or names a video of an earlier line with another label; the message is
            ``"{file}:{lineno}: {why}: {line!r}"``.
    """
    records: list[VideoRecord] = []
    first: dict[str, VideoRecord] = {}  # path -> its first record
    repeats: list[tuple[int, int]] = []  # (line, the line it repeats)
    for lineno, line, parsed in iter_list_lines(list_path, separator, require_labels):
        if isinstance(parsed, str):
            raise ListFormatError(list_path, lineno, parsed, line)
        path, label = parsed
        record = VideoRecord(join_prefix(path_prefix, path), label, lineno)
        seen = first.get(record.path)
        if seen is not None:
            if seen.label != label:
                raise ListFormatError(list_path, lineno, f"the video of line {seen.lineno} again with another label "
                                      f"({seen.label} there, {label} here)", line)
            repeats.append((lineno, seen.lineno))
            continue
        first[record.path] = record
        records.append(record)
    if repeats:
        logger.warning("%s: %d duplicate line(s) ignored (line %d repeats line %d%s); each video is used once",
                       list_path, len(repeats), *repeats[0], ", ..." if len(repeats) > 1 else "")
    logger.debug("read %d videos from %s", len(records), list_path)
    return records
