"""Statistical checks of the real fairness mapping.

Every draw comes from a constant server seed and client seed with nonces 0, 1, 2, ..., so
the outcomes, and hence these tests, are the same on every run: they cannot flake.
"""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction

import pytest

from gamehub.games import fairness
from gamehub.games.fairness import DEFAULT_SPIN_TABLE
from tests.games.chi_square import chi2_critical, chi2_statistic

SERVER_SEED = "5ca1ab1e" * 8
CLIENT_SEED = "statistics"
SPINS = 200_000
UNIFORM_DRAWS = 200_000


@pytest.mark.parametrize(
    # Upper 1% points of the chi-square distribution, from the NIST/SEMATECH e-Handbook of
    # Statistical Methods, table 1.3.6.7.4.
    ("df", "published"),
    [(1, 6.635), (4, 13.277), (5, 15.086), (2, 9.210), (36, 58.619)],
)
def test_chi2_critical_values_match_the_published_table(df: int, published: float) -> None:
    assert chi2_critical(df) == pytest.approx(published, abs=0.001)


def test_spin_distribution_and_return_match_the_default_table() -> None:
    counts = Counter(
        fairness.spin(SERVER_SEED, CLIENT_SEED, nonce, DEFAULT_SPIN_TABLE).segment_index
        for nonce in range(SPINS)
    )
    total = DEFAULT_SPIN_TABLE.total_weight
    probabilities = [Fraction(s.weight, total) for s in DEFAULT_SPIN_TABLE.segments]
    statistic = chi2_statistic(counts, probabilities, SPINS)
    critical = chi2_critical(len(probabilities) - 1)
    assert statistic < critical, f"chi-square {statistic:.3f} >= {critical:.3f}"

    multipliers = [s.multiplier for s in DEFAULT_SPIN_TABLE.segments]
    empirical = sum((multipliers[i] * count for i, count in counts.items()), Fraction(0)) / SPINS
    rtp = fairness.theoretical_rtp(DEFAULT_SPIN_TABLE)
    variance = sum(
        (p * (m - rtp) ** 2 for p, m in zip(probabilities, multipliers, strict=True)), Fraction(0)
    )
    # Four standard errors: a correct mapping lands outside with probability about 6e-5.
    tolerance = 4 * math.sqrt(variance / SPINS)
    assert abs(float(empirical - rtp)) <= tolerance, (
        f"empirical return {float(empirical):.5f} vs theoretical {float(rtp):.5f}"
        f" (tolerance {tolerance:.5f})"
    )


@pytest.mark.parametrize("n", [6, 37])
def test_uniform_int_is_uniform(n: int) -> None:
    counts = Counter(
        fairness.uniform_int(SERVER_SEED, CLIENT_SEED, nonce, n) for nonce in range(UNIFORM_DRAWS)
    )
    statistic = chi2_statistic(counts, [Fraction(1, n)] * n, UNIFORM_DRAWS)
    critical = chi2_critical(n - 1)
    assert statistic < critical, f"chi-square {statistic:.3f} >= {critical:.3f}"


def test_rejection_sampling_removes_modulo_bias() -> None:
    # For n = 3 * 2**30 a bare "word mod n" would land in the lowest third of [0, n) half of
    # the time instead of a third; small n hide that bias below any sample size we can draw.
    n = 3 * 2**30
    draws = 30_000
    counts = Counter(
        fairness.uniform_int(SERVER_SEED, CLIENT_SEED, nonce, n) // 2**30 for nonce in range(draws)
    )
    statistic = chi2_statistic(counts, [Fraction(1, 3)] * 3, draws)
    assert statistic < chi2_critical(2), f"chi-square {statistic:.3f}"
