"""The numbers a CSV reader gets back for floats we write, computed on arrays (no text round trip).

``detections.csv`` holds boxes with ``%.6f`` (:data:`BOX_DECIMALS`) and scores with ``%.9g`` (:data:`SCORE_DIGITS`
significant digits: enough to tell every pair of float32 values apart, so a file ties only where the model's scores
do; PySlowFast's ``%.04f`` makes ties of most rows). The test report scores the values as written, so
``tools/ava_eval.py`` on the file gives the report's numbers.

Exactness: ``rint(x * 10**p)`` is the written integer except where ``x * 10**p`` lies within 1e-6 of a half (float64
rounding of the product could tip it), where ``10**p`` is not exact, or where a value is huge, tiny or not finite;
those few are formatted one by one with Python's ``format`` (C's ``printf`` rounding: half to even on the exact binary
value). Dividing the integer by ``10**p`` (IEEE division, correctly rounded) gives the double nearest to the written
decimal, which is what a correct reader parses (checked against pandas' and Python's readers in
``tests/test_ava_eval.py``).
"""

from __future__ import annotations

from typing import List

import numpy as np

__all__ = ["BOX_DECIMALS", "SCORE_DIGITS", "round_decimals", "round_significant", "format_significant"]

#: decimals of box coordinates (normalised to [0, 1]) in detections.csv.
BOX_DECIMALS = 6
#: significant digits of scores in detections.csv (``%.9g``: float32 values round-trip).
SCORE_DIGITS = 9


def _finish(x: np.ndarray, y: np.ndarray, scale: np.ndarray, risky: np.ndarray, fmt: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        out = np.rint(y) / scale
        risky = risky | ~np.isfinite(y) | (np.abs(y - np.floor(y) - 0.5) < 1e-6)
    for i in np.flatnonzero(risky):
        out.flat[i] = float(format(x.flat[i], fmt))
    return out


def round_decimals(values, decimals: int = BOX_DECIMALS) -> np.ndarray:
    """``float(f"{v:.{decimals}f}")`` for every value, as float64 (module docstring)."""
    x = np.asarray(values, dtype=np.float64)
    scale = np.float64(10.0 ** decimals)
    with np.errstate(invalid="ignore", over="ignore"):
        y = x * scale
        huge = np.abs(y) >= 2.0**52
    return _finish(x, y, np.full(x.shape, scale), huge | (decimals > 22), f".{decimals}f")


def round_significant(values, digits: int = SCORE_DIGITS) -> np.ndarray:
    """``float(f"{v:.{digits}g}")`` for every value, as float64 (module docstring)."""
    x = np.asarray(values, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        ax = np.abs(x)
        exponent = np.where((ax > 0) & np.isfinite(ax), np.floor(np.log10(np.where(ax > 0, ax, 1.0))), 0)
        places = (digits - 1 - exponent).astype(np.int64)  # decimals kept
        exact = (places >= 0) & (places <= 22)  # 10**places is exact in float64
        scale = 10.0 ** np.clip(places, 0, 22).astype(np.float64)
        y = x * scale
        k = np.abs(np.rint(y))
        # a misjudged exponent (log10 near a power of ten) shows as a mantissa of the wrong length
        wrong_length = (k >= 10.0 ** digits) | ((k < 10.0 ** (digits - 1)) & (x != 0))
    return _finish(x, y, scale, ~exact | wrong_length, f".{digits}g")


def format_significant(values, digits: int = SCORE_DIGITS) -> List[str]:
    """``f"{v:.{digits}g}"`` of every value (the text :func:`round_significant` reads back)."""
    return [format(v, f".{digits}g") for v in np.asarray(values, dtype=np.float64).tolist()]
