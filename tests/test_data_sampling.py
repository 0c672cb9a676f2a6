"""Temporal sampling: spans, PySlowFast offset test clips, random train clips, padding."""

import math
import random

import pytest

from hiera_video.data import sampling as S


def _pyslowfast_indices(video_frames, span, start, num_frames):
    # Independent restatement: torch.linspace(start, start + span - 1, n) clamped then .long().
    end = start + span - 1
    pts = [start + (end - start) * k / (num_frames - 1) for k in range(num_frames)]
    return [int(min(max(p, 0), video_frames - 1)) for p in pts]


def test_clip_span_converts_target_fps_to_source_frames():
    assert S.clip_span(16, 4, 30, 30) == 64
    assert S.clip_span(16, 4, 60, 30) == 128
    assert S.clip_span(16, 4, 25, 30) == pytest.approx(16 * 4 * 25 / 30)
    with pytest.raises(ValueError):
        S.clip_span(16, 4, 0, 30)


def test_offset_test_clips_match_pyslowfast():
    # 300 frames at 30 fps, 16 x 4: span 64, delta 236, step floor(236 / 4) = 59.
    starts = [S.test_clip_start(300, 64, i, 5) for i in range(5)]
    assert starts == [0, 59, 118, 177, 236]
    clip0 = S.test_clip_indices(300, 0, 5, 16, 4, 30, 30)
    assert clip0 == [0, 4, 8, 12, 16, 21, 25, 29, 33, 37, 42, 46, 50, 54, 58, 63]
    for i, start in enumerate(starts):
        assert S.test_clip_indices(300, i, 5, 16, 4, 30, 30) == _pyslowfast_indices(300, 64, start, 16)
    assert S.test_clip_indices(300, 4, 5, 16, 4, 30, 30)[-1] == 299  # the last clip reaches the end


def test_offset_floor_rounding_of_the_step():
    # delta = 100 - 10 = 90; 4 clips: floor(90 / 3) = 30 -> 0, 30, 60, 90; 7 clips: floor(15) steps.
    assert [S.test_clip_start(100, 10, i, 4) for i in range(4)] == [0, 30, 60, 90]
    # delta = 95 - 10 = 85; 4 clips: floor(85 / 3) = 28 (not 28.33) -> last clip starts at 84.
    assert [S.test_clip_start(95, 10, i, 4) for i in range(4)] == [0, 28, 56, 84]


def test_single_test_clip_is_centred():
    # delta = 100 - 64 = 36 -> start floor(18) = 18.
    assert S.test_clip_start(100, 64, 0, 1) == 18
    assert S.test_clip_indices(100, 0, 1, 16, 4, 30, 30) == _pyslowfast_indices(100, 64, 18, 16)
    assert S.test_clip_start(101, 64, 0, 1) == 18  # floor(37 / 2)


def test_fps_conversion_changes_the_stride():
    # 60 fps source: span 128, stride ~8.47 source frames.
    idx = S.test_clip_indices(1000, 0, 1, 16, 4, 60, 30)
    assert idx == _pyslowfast_indices(1000, 128, math.floor((1000 - 128) / 2), 16)
    diffs = {b - a for a, b in zip(idx, idx[1:])}
    assert diffs <= {8, 9}


def test_short_video_is_padded_by_repeating_the_last_frame():
    # 20 frames, span 32: every clip starts at 0, indices past 19 repeat frame 19.
    for i in range(3):
        assert S.test_clip_indices(20, i, 3, 4, 8, 30, 30) == [0, 10, 19, 19]
    rng = random.Random(0)
    for _ in range(20):
        assert S.train_clip_indices(20, 4, 8, 30, 30, rng) == [0, 10, 19, 19]
    assert S.test_clip_indices(1, 0, 1, 4, 2, 30, 30) == [0, 0, 0, 0]


def test_train_clips_are_random_windows_within_the_video():
    rng = random.Random(123)
    starts = []
    for _ in range(400):
        idx = S.train_clip_indices(100, 8, 4, 30, 30, rng)  # span 32, delta 68
        assert len(idx) == 8 and 0 <= idx[0] and idx[-1] <= 99
        assert idx == sorted(idx)
        assert idx[-1] - idx[0] in (30, 31)  # floor(start + 31) - floor(start)
        assert {b - a for a, b in zip(idx, idx[1:])} <= {4, 5}
        starts.append(idx[0])
    assert min(starts) <= 3 and max(starts) >= 65  # covers [0, delta]
    assert len(set(starts)) > 40


def test_train_clips_are_reproducible_with_a_seeded_rng():
    a = [S.train_clip_indices(300, 16, 4, 30, 30, random.Random(7)) for _ in range(2)]
    assert a[0] == a[1]


def test_invalid_arguments():
    with pytest.raises(ValueError):
        S.test_clip_indices(100, 5, 5, 16, 4, 30, 30)
    with pytest.raises(ValueError):
        S.test_clip_indices(100, -1, 5, 16, 4, 30, 30)
    with pytest.raises(ValueError):
        S.train_clip_indices(0, 16, 4, 30, 30)
    with pytest.raises(ValueError):
        S.train_clip_indices(10, 0, 4, 30, 30)
