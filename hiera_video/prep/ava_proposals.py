"""MMAction2 person-proposal pickles -> PySlowFast proposal CSVs (``data_prep/ava.py convert-proposals``).

MMAction2 stores AVA person proposals (e.g. ``ava_dense_proposals_val.FAIR.recall_93.9.pkl``) as a pickled dict
``{"{video_id},{timestamp:04d}": ndarray (N, 5) [x1, y1, x2, y2, score]}``, boxes normalised to [0, 1] (origin top
left). PySlowFast reads CSV rows ``video_id,timestamp,x1,y1,x2,y2,,score`` (column 7, the action, empty), e.g.
``1j20qq1JyX4,0902,0.036000,0.098000,0.550000,0.979000,,0.995518``.

Safety: unpickling runs whatever the file asks for (a pickle's ``__reduce__`` can call ``os.system``). The pickle is
read with :class:`SafeUnpickler`, whose ``find_class`` only hands out what NumPy arrays need (``ndarray``, ``dtype``,
the array / scalar reconstructors of ``numpy.core`` or ``numpy._core``, and, for protocol-2 pickles such as mmcv's,
``_codecs.encode`` restricted to latin-1 and ``bytes()`` without arguments, which carry an array's raw bytes) and
refuses every other global before anything runs.
"""

from __future__ import annotations

import codecs
import os
import pickle
import re
from dataclasses import dataclass
from typing import Dict, List, Tuple

import numpy as np

from hiera_video.utils.atomic import atomic_write_text
from hiera_video.utils.errors import ListError, ListNotFoundError

__all__ = ["SafeUnpickler", "load_proposal_pickle", "convert_proposals", "ConvertResult"]

_KEY = re.compile(r"^(?P<vid>[^,\s]+),(?P<ts>\d+)$")
_TOLERANCE = 0.01  # normalised coordinates this far outside [0, 1] are clipped; further out is an error


def _latin1_encode(text, encoding="utf-8"):
    if codecs.lookup(encoding).name != "iso8859-1":
        raise pickle.UnpicklingError(f"refused _codecs.encode with encoding {encoding!r} (only latin-1 is allowed)")
    return codecs.encode(text, encoding)


def _empty_bytes(*args):
    if args:
        raise pickle.UnpicklingError("refused bytes() with arguments (only the empty bytes of an empty array)")
    return b""


def _allowed() -> Dict[Tuple[str, str], object]:
    """``(module, name) -> object`` for the globals NumPy arrays and scalars pickle to, under both the NumPy 1
    (``numpy.core``) and NumPy 2 (``numpy._core``) module names."""
    array = np.zeros((1, 1), dtype=np.float32)
    reconstruct, frombuffer, scalar = array.__reduce__()[0], array.__reduce_ex__(5)[0], np.float32(0).__reduce__()[0]
    table = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype, ("_codecs", "encode"): _latin1_encode,
             ("__builtin__", "bytes"): _empty_bytes, ("builtins", "bytes"): _empty_bytes}
    for core in ("numpy.core", "numpy._core"):
        table[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        table[(f"{core}.multiarray", "scalar")] = scalar
        table[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return table


class SafeUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals NumPy arrays need and refuses any other with
    ``pickle.UnpicklingError`` naming it, before it could be called."""

    _ALLOWED = None

    def find_class(self, module: str, name: str):
        if SafeUnpickler._ALLOWED is None:
            SafeUnpickler._ALLOWED = _allowed()
        try:
            return SafeUnpickler._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refused global {module}.{name}: only NumPy arrays may be loaded") from None


def load_proposal_pickle(path: str) -> Dict[str, np.ndarray]:
    """Load an MMAction2 proposal pickle safely (:class:`SafeUnpickler`) and check its keys and arrays.

    Returns:
        ``{key: float64 array (N, 5) or (N, 4)}`` (4 columns: boxes without scores; empty arrays become ``(0, 5)``).

    Raises:
        ListNotFoundError: no such file.
        ListError: not a readable pickle, a refused global (``"{path}: refused global os.system ..."``), not a dict,
            an empty dict, a key not ``"{video_id},{timestamp}"``, or an array that is not numeric ``N x 5`` /
            ``N x 4`` or holds a non-finite value.
    """
    if not os.path.isfile(path):
        raise ListNotFoundError(f"proposal pickle not found: {path}")
    try:
        with open(path, "rb") as f:
            data = SafeUnpickler(f).load()
    except pickle.UnpicklingError as e:
        refused = str(e).startswith("refused")
        raise ListError(f"{path}: {e}" if refused else f"{path}: not a readable proposal pickle ({e})") from None
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, MemoryError, UnicodeDecodeError) as e:
        raise ListError(f"{path}: not a readable proposal pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise ListError(f"{path}: expected a dict {{'video_id,%04d': array N x 5}}, got {type(data).__name__}")
    if not data:
        raise ListError(f"{path}: the pickle holds an empty dict (no proposals)")
    out = {}
    for key, value in data.items():
        if not isinstance(key, str) or not _KEY.match(key):
            raise ListError(f"{path}: key {key!r} is not 'video_id,timestamp' (e.g. '1j20qq1JyX4,0902'; a video id "
                            "without commas or spaces, the second as an integer)")
        arr = np.asarray(value)
        if arr.dtype.kind not in "fiu" or arr.ndim != 2 or arr.shape[1] not in (4, 5):
            if arr.size == 0 and arr.dtype.kind in "fiu":
                out[key] = np.zeros((0, 5))
                continue
            raise ListError(f"{path}: key {key!r}: expected a numeric N x 5 array [x1, y1, x2, y2, score] (or N x 4 "
                            f"without scores), got {arr.dtype} array of shape {arr.shape}")
        arr = arr.astype(np.float64)
        if not np.isfinite(arr).all():
            raise ListError(f"{path}: key {key!r}: the array holds NaN or infinite values")
        out[key] = arr
    return out


@dataclass
class ConvertResult:
    """Counts of :func:`convert_proposals`: ``keyframes`` in the pickle, ``boxes`` read, ``written`` rows,
    ``below_thresh`` / ``empty_boxes`` (x1 >= x2 or y1 >= y2) dropped, ``clipped`` boxes, ``no_score`` keyframes
    whose arrays had 4 columns (score 1.0 written)."""

    keyframes: int = 0
    boxes: int = 0
    written: int = 0
    below_thresh: int = 0
    empty_boxes: int = 0
    clipped: int = 0
    no_score: int = 0

    def line(self, out_csv: str) -> str:
        """One summary line."""
        return (f"{self.keyframes} keyframes, {self.boxes} boxes: {self.written} rows written to {out_csv}; dropped "
                f"{self.below_thresh} below the score threshold and {self.empty_boxes} empty; {self.clipped} clipped "
                f"to [0, 1]; {self.no_score} keyframes without scores written with score 1.0")


def convert_proposals(pkl_path: str, out_csv: str, score_thresh: float = 0.0) -> ConvertResult:
    """Convert an MMAction2 proposal pickle to a PySlowFast proposal CSV (``AVA.TEST_PREDICT_BOX_LISTS``).

    Rows ``video_id,%04d,x1,y1,x2,y2,,score`` (normalised, 6 decimals), sorted by video and second, boxes in the
    pickle's order. Boxes with ``score < score_thresh`` are dropped (default 0: keep all and let
    ``AVA.DETECTION_SCORE_THRESH`` decide; note MMAction2 keeps at least the best box of a keyframe even below its
    threshold, PySlowFast does not). Coordinates within 0.01 of [0, 1] are clipped; empty boxes are dropped. ``N x 4``
    arrays (no score column) are written with score 1.0: MMAction2's AVA dataset keeps every box of such an array. The
    pickle is read without running code (:class:`SafeUnpickler`). The CSV is written atomically.

    Raises:
        ListNotFoundError / ListError: see :func:`load_proposal_pickle`; also coordinates beyond [-0.01, 1.01]
            (pixel boxes? this format is normalised).
    """
    data = load_proposal_pickle(pkl_path)
    result = ConvertResult(keyframes=len(data))
    lines: List[str] = []
    for key in sorted(data, key=lambda k: (k.rsplit(",", 1)[0], int(k.rsplit(",", 1)[1]))):
        arr = data[key]
        vid, ts = key.rsplit(",", 1)
        result.boxes += len(arr)
        if arr.shape[1] == 4:  # MMAction2 keeps every box of a score-less array: score 1.0 passes any threshold
            result.no_score += 1
            arr = np.concatenate([arr, np.ones((len(arr), 1))], axis=1)
        boxes, scores = arr[:, :4], arr[:, 4]
        far = ((boxes < -_TOLERANCE) | (boxes > 1 + _TOLERANCE)).any(axis=1)
        if far.any():
            raise ListError(f"{pkl_path}: key {key!r}: box {boxes[far][0].round(3).tolist()} is outside [0, 1]: "
                            "proposal pickles hold normalised boxes, not pixels")
        clipped = np.clip(boxes, 0.0, 1.0)
        result.clipped += int((clipped != boxes).any(axis=1).sum())
        keep_score = scores >= score_thresh
        empty = (clipped[:, 0] >= clipped[:, 2]) | (clipped[:, 1] >= clipped[:, 3])
        result.below_thresh += int((~keep_score).sum())
        result.empty_boxes += int((keep_score & empty).sum())
        for box, score in zip(clipped[keep_score & ~empty], scores[keep_score & ~empty]):
            lines.append(f"{vid},{int(ts):04d},{box[0]:.6f},{box[1]:.6f},{box[2]:.6f},{box[3]:.6f},,{score:.6f}\n")
    result.written = len(lines)
    atomic_write_text(out_csv, "".join(lines))
    return result
