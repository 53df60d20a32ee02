"""Russian Roulette: exact elimination odds, the chamber draw, and side-bet pricing."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamehub.games import fairness
from gamehub.games.fairness import ALLOWED_ROOM_SIZES, CHAMBERS
from tests.games.chi_square import chi2_critical, chi2_statistic
from tests.games.fairness_doc import tables_by_heading


def play_out(num_players: int, bullet: int, empty_pulls: int = 0) -> int:
    """The seat eliminated, found by playing the game pull by pull rather than by formula."""
    seat = empty_pulls % num_players
    for chamber in range(empty_pulls + 1, CHAMBERS + 1):
        if chamber == bullet:
            return seat
        seat = (seat + 1) % num_players
    raise AssertionError("the bullet is always in a remaining chamber")


def enumerated_probabilities(num_players: int, empty_pulls: int = 0) -> list[Fraction]:
    """Exact odds by enumerating every chamber the bullet can still be in."""
    remaining = range(empty_pulls + 1, CHAMBERS + 1)
    hits = Counter(play_out(num_players, bullet, empty_pulls) for bullet in remaining)
    return [Fraction(hits[seat], len(remaining)) for seat in range(num_players)]


@pytest.mark.parametrize(
    ("num_players", "each"), [(2, Fraction(1, 2)), (3, Fraction(1, 3)), (6, Fraction(1, 6))]
)
def test_every_seat_is_equally_likely_to_be_eliminated(num_players: int, each: Fraction) -> None:
    probabilities = fairness.elimination_probabilities(num_players)
    assert probabilities == [each] * num_players
    assert probabilities == enumerated_probabilities(num_players)


@pytest.mark.parametrize(
    ("num_players", "expected"),
    [
        (4, [Fraction(1, 3), Fraction(1, 3), Fraction(1, 6), Fraction(1, 6)]),
        (5, [Fraction(1, 3)] + [Fraction(1, 6)] * 4),
    ],
)
def test_four_or_five_players_would_not_be_fair(num_players: int, expected: list[Fraction]) -> None:
    probabilities = fairness.elimination_probabilities(num_players)
    assert probabilities == expected == enumerated_probabilities(num_players)
    assert len(set(probabilities)) > 1


def test_allowed_room_sizes_are_exactly_the_fair_ones() -> None:
    fair = tuple(
        n for n in range(2, CHAMBERS + 1) if len(set(fairness.elimination_probabilities(n))) == 1
    )
    assert fair == ALLOWED_ROOM_SIZES == (2, 3, 6)


@pytest.mark.parametrize("num_players", range(2, CHAMBERS + 1))
@pytest.mark.parametrize("empty_pulls", range(CHAMBERS))
def test_probabilities_after_empty_pulls(num_players: int, empty_pulls: int) -> None:
    probabilities = fairness.elimination_probabilities(num_players, empty_pulls=empty_pulls)
    assert probabilities == enumerated_probabilities(num_players, empty_pulls)
    assert sum(probabilities) == 1


def test_odds_shift_once_the_game_is_under_way() -> None:
    # Two players start even, but after seat 0's first empty pull seat 1 holds 3 of the 5
    # remaining chambers: odds quoted mid-game must not be the opening ones.
    assert fairness.elimination_probabilities(2, empty_pulls=1) == [Fraction(2, 5), Fraction(3, 5)]


def test_published_elimination_table_is_exact() -> None:
    rows = tables_by_heading()["Russian Roulette"]
    assert [int(row["players"]) for row in rows] == list(range(2, CHAMBERS + 1))
    for row in rows:
        published = [Fraction(cell) for cell in row["elimination probability by seat"].split(",")]
        assert published == fairness.elimination_probabilities(int(row["players"]))


@pytest.mark.parametrize(
    ("num_players", "empty_pulls"), [(1, 0), (7, 0), (True, 0), (2, -1), (2, CHAMBERS), (2, True)]
)
def test_elimination_probabilities_reject_bad_input(num_players: int, empty_pulls: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        fairness.elimination_probabilities(num_players, empty_pulls=empty_pulls)


def test_bullet_chamber_is_uniform_over_many_room_seeds() -> None:
    rooms = 60_000
    counts = Counter(fairness.bullet_chamber(f"{room:064x}") - 1 for room in range(rooms))
    assert set(counts) == set(range(CHAMBERS))
    statistic = chi2_statistic(counts, [Fraction(1, CHAMBERS)] * CHAMBERS, rooms)
    critical = chi2_critical(CHAMBERS - 1)
    assert statistic < critical, f"chi-square {statistic:.3f} >= {critical:.3f}"


def test_bullet_chamber_is_fixed_by_the_seed() -> None:
    seed = fairness.new_server_seed()
    assert 1 <= fairness.bullet_chamber(seed) <= CHAMBERS
    assert fairness.bullet_chamber(seed) == fairness.bullet_chamber(seed)


# --- side bets ---------------------------------------------------------------------------


def test_side_bet_multiplier_is_the_fair_price_less_the_edge() -> None:
    assert fairness.side_bet_multiplier(Fraction(1, 2), Fraction(5, 100)) == Fraction(19, 10)
    assert fairness.side_bet_multiplier(Fraction(1, 6), Fraction(0)) == 6


@pytest.mark.parametrize(
    ("probability", "edge"),
    [(Fraction(0), Fraction(0)), (Fraction(3, 2), Fraction(0)), (Fraction(1, 2), Fraction(1))],
)
def test_side_bet_multiplier_rejects_bad_input(probability: Fraction, edge: Fraction) -> None:
    with pytest.raises(ValueError, match="must be"):
        fairness.side_bet_multiplier(probability, edge)


def test_published_side_bet_odds_are_exact() -> None:
    edge = Fraction(5, 100)
    for row in tables_by_heading()["Side bets"]:
        players = int(row["players"])
        elimination = Fraction(row["elimination pays"].split()[0])
        survival = Fraction(row["survival pays"].split()[0])
        assert fairness.elimination_multiplier(players, 0, edge) == elimination
        assert fairness.survival_multiplier(players, 0, edge) == survival


def test_no_elimination_bet_on_a_seat_that_can_no_longer_be_hit() -> None:
    # Four players, four empty pulls: seats 2 and 3 have had their only turns.
    with pytest.raises(ValueError, match="probability"):
        fairness.elimination_multiplier(4, 2, Fraction(5, 100), empty_pulls=4)
    with pytest.raises(ValueError, match="seat"):
        fairness.survival_multiplier(3, 3, Fraction(5, 100))


@given(
    st.sampled_from(ALLOWED_ROOM_SIZES),
    st.data(),
    st.fractions(min_value=0, max_value=Fraction(1, 2)),
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=CHAMBERS - 1),
)
def test_side_bets_return_exactly_one_minus_the_edge_before_flooring(
    num_players: int, data: st.DataObject, edge: Fraction, stake: int, empty_pulls: int
) -> None:
    seat = data.draw(st.integers(min_value=0, max_value=num_players - 1))
    p_elimination = fairness.elimination_probabilities(num_players, empty_pulls=empty_pulls)[seat]
    for p_win, pricer in (
        (p_elimination, fairness.elimination_multiplier),
        (1 - p_elimination, fairness.survival_multiplier),
    ):
        if p_win == 0:
            continue
        multiplier = pricer(num_players, seat, edge, empty_pulls=empty_pulls)
        assert p_win * multiplier == 1 - edge
        # Settled in whole minor units, the house never gives back more than the edge.
        expected_settlement = p_win * fairness.payout(stake, multiplier)
        assert stake * (1 - edge) - 1 < expected_settlement <= stake * (1 - edge)
