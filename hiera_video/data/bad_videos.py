"""The bad-video policy shared by training and testing: how many failed videos a split may have.

A video that fails to decode is logged with its path and reason; in training it is replaced by another one and
counted (``OUTPUT_DIR/train_bad_videos.csv``), at test it is listed under ``failed`` in the report and never
replaced. Either way, more than ``DATA.MAX_BAD_FRACTION`` of a split's videos failing stops the run with
:class:`TooManyBadVideosError`: the data, not the model, needs fixing.
"""

from __future__ import annotations

from hiera_video.utils.errors import DataError


class TooManyBadVideosError(DataError):
    """More than ``DATA.MAX_BAD_FRACTION`` of a split's videos failed to decode."""


class BadVideosInARowError(TooManyBadVideosError):
    """``DATA.MAX_RETRIES + 1`` training videos failed in a row, so a training item has no clip. Raised by the train
    loop in the main process; ``bad`` and ``partial`` hold the ``(path, reason)`` pairs of its epoch so far, for the
    runner to record before it stops."""

    def __init__(self, message: str, bad=(), partial=()):
        super().__init__(message)
        self.bad, self.partial = list(bad), list(partial)


def check_bad_fraction(num_bad: int, num_total: int, max_fraction: float, split: str) -> None:
    """Raise :class:`TooManyBadVideosError` if ``num_bad / num_total > max_fraction``."""
    if num_total and num_bad / num_total > max_fraction:
        raise TooManyBadVideosError(
            f"{num_bad} of {num_total} videos in the {split} split failed to decode "
            f"({100 * num_bad / num_total:.1f}% > DATA.MAX_BAD_FRACTION {100 * max_fraction:.1f}%); "
            "see the log (or the report's 'failed' list) for each path and reason, and run "
            "data_prep/validate.py or fix the list"
        )
