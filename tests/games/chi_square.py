"""Chi-square goodness of fit with the standard library only (scipy is not available)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from fractions import Fraction

SIGNIFICANCE = 0.01  # 99% confidence


def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for X chi-square with integer ``df``, in closed form (no scipy here).

    Even df = 2k:   exp(-x/2) * sum_{i<k} (x/2)^i / i!
    Odd df = 2k+1:  erfc(sqrt(x/2)) + exp(-x/2) * sum_{i=1..k} (x/2)^(i-1/2) / Gamma(i+1/2)
    These are the closed forms of the regularised upper incomplete gamma function Q(df/2, x/2).
    """
    half = x / 2
    if df % 2 == 0:
        return math.exp(-half) * sum(half**i / math.factorial(i) for i in range(df // 2))
    tail = sum(math.pow(half, i - 0.5) / math.gamma(i + 0.5) for i in range(1, df // 2 + 1))
    return math.erfc(math.sqrt(half)) + math.exp(-half) * tail


def chi2_critical(df: int, significance: float = SIGNIFICANCE) -> float:
    """The x with P(X >= x) = significance, by bisection on the exact tail."""
    low, high = 0.0, 1000.0
    for _ in range(100):
        middle = (low + high) / 2
        if chi2_sf(middle, df) > significance:
            low = middle
        else:
            high = middle
    return high


def chi2_statistic(counts: Counter[int], probabilities: Sequence[Fraction], draws: int) -> float:
    assert set(counts) <= set(range(len(probabilities)))
    return sum(
        (counts[index] - draws * float(p)) ** 2 / (draws * float(p))
        for index, p in enumerate(probabilities)
    )
