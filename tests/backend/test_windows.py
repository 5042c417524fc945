"""The newest-window-first search of a filtered trace listing."""

from __future__ import annotations

import itertools

from axonize_backend.windows import windows

DAY = 86_400 * 10**9


def test_windows_start_at_a_64th_of_the_range_and_widen_four_times_back_to_since() -> None:
    since, until = 1_000, 1_000 + DAY
    starts = windows(since, until)
    assert starts[0] == until - DAY // 64
    widths = [until - s for s in starts[:-1]]
    assert widths == [DAY // 64 * 4**i for i in range(len(widths))]
    assert starts[-1] == since
    assert len(starts) == 4  # 1/64, 4/64, 16/64 of the day, then the rest back to since


def test_windows_are_newest_first_and_cover_the_range_without_gaps() -> None:
    since, until = 5 * DAY, 12 * DAY + 12_345
    starts = windows(since, until)
    assert starts == sorted(starts, reverse=True) and len(set(starts)) == len(starts)
    # Each search reads [start, previous start): together exactly [since, until).
    bounds = [until, *starts]
    assert all(lo < hi for hi, lo in itertools.pairwise(bounds))
    assert bounds[-1] == since and all(since <= s < until for s in starts)


def test_a_tiny_or_empty_range_is_one_window() -> None:
    assert windows(100, 110) == [109, 106, 100]  # widths of at least 1 ns
    assert windows(100, 101) == [100]
    assert windows(100, 100) == [100]
    assert windows(100, 90) == [100]  # an inverted range still searches from since
