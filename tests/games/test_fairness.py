"""The fairness algorithm against docs/fairness.md (vectors, table, script) and its own rules."""

from __future__ import annotations

import json
import string
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gamehub.games import fairness
from gamehub.games.fairness import (
    DEFAULT_SPIN_TABLE,
    WORD_SPACE,
    RewardTable,
    Segment,
    SpinOutcome,
)
from tests.games.fairness_doc import Row, code_block, doc_text, tables_by_heading

TABLES = tables_by_heading()
VECTOR_TABLES = (
    "Seed commitments",
    "Stream rounds",
    "Uniform integers",
    "Spin and Win with the default table",
    "Russian Roulette chambers",
)
COMMITMENTS = {row["seed"]: row["SHA-256 of the seed"] for row in TABLES["Seed commitments"]}


def vectors(table: str) -> list[Row]:
    return TABLES[table]


def test_every_vector_table_is_present_and_non_empty() -> None:
    for table in VECTOR_TABLES:
        assert len(TABLES.get(table, [])) >= 3, table


@pytest.mark.parametrize("row", vectors("Seed commitments"))
def test_seed_commitment_vectors(row: Row) -> None:
    assert fairness.seed_hash(row["seed"]) == row["SHA-256 of the seed"]


@pytest.mark.parametrize("row", vectors("Stream rounds"))
def test_stream_round_vectors(row: Row) -> None:
    base, round_ = row["base message"], int(row["round"])
    assert fairness.round_message(base, round_) == row["message"]
    assert fairness.round_digest(row["key"], base, round_).hex() == row["HMAC-SHA256"]


@pytest.mark.parametrize("row", vectors("Uniform integers"))
def test_uniform_int_vectors(row: Row) -> None:
    seed, client_seed, nonce, n = (
        row["server seed"],
        row["client seed"],
        int(row["nonce"]),
        int(row["n"]),
    )
    assert fairness.uniform_int(seed, client_seed, nonce, n) == int(row["result"])
    # The words-read column is recounted from the raw stream with the rule as the doc states it.
    limit = WORD_SPACE - WORD_SPACE % n
    words = fairness.stream_words(seed, f"{client_seed}:{nonce}")
    read = 1
    while next(words) >= limit:
        read += 1
    assert read == int(row["words read"])


def test_a_vector_exercises_rejection_into_round_one() -> None:
    assert any(int(row["words read"]) > 8 for row in vectors("Uniform integers"))


@pytest.mark.parametrize("row", vectors("Spin and Win with the default table"))
def test_spin_vectors(row: Row) -> None:
    seed, client_seed, nonce = row["server seed"], row["client seed"], int(row["nonce"])
    expected = SpinOutcome(
        int(row["segment"]),
        DEFAULT_SPIN_TABLE.segments[int(row["segment"])].multiplier,
        row["result"],
    )
    assert fairness.uniform_int(seed, client_seed, nonce, 100) == int(row["draw"])
    assert fairness.spin(seed, client_seed, nonce, DEFAULT_SPIN_TABLE) == expected
    assert (
        fairness.verify_spin(seed, COMMITMENTS[seed], client_seed, nonce, DEFAULT_SPIN_TABLE)
        == expected
    )


def test_spin_vectors_cover_every_default_segment() -> None:
    segments = {int(row["segment"]) for row in vectors("Spin and Win with the default table")}
    assert segments == set(range(len(DEFAULT_SPIN_TABLE.segments)))


@pytest.mark.parametrize("row", vectors("Russian Roulette chambers"))
def test_chamber_vectors(row: Row) -> None:
    assert fairness.bullet_chamber(row["room seed"]) == int(row["chamber"])
    assert row["room seed"] in COMMITMENTS


def test_default_table_is_the_published_one() -> None:
    rows = TABLES["The default table"]
    assert [int(row["segment"]) for row in rows] == list(range(len(rows)))
    assert [(row["multiplier"], int(row["weight"])) for row in rows] == [
        (segment.label, segment.weight) for segment in DEFAULT_SPIN_TABLE.segments
    ]
    total = DEFAULT_SPIN_TABLE.total_weight
    assert [row["probability"] for row in rows] == [
        f"{segment.weight}/{total}" for segment in DEFAULT_SPIN_TABLE.segments
    ]


def test_default_table_rtp_is_exact_published_and_between_95_and_97_percent() -> None:
    rtp = fairness.theoretical_rtp(DEFAULT_SPIN_TABLE)
    assert rtp == Fraction(96, 100)
    assert Fraction(95, 100) < rtp < Fraction(97, 100)
    assert fairness.house_edge(DEFAULT_SPIN_TABLE) == 1 - rtp
    assert f"**RTP {rtp} (96%)**" in doc_text()
    assert f"**house edge {1 - rtp} (4%)**" in doc_text()


def test_configuration_example_is_the_default_table() -> None:
    example = code_block("Configuring another table", "json")
    assert fairness.parse_reward_table(example) == DEFAULT_SPIN_TABLE


def test_players_verification_script_agrees(capsys: pytest.CaptureFixture[str]) -> None:
    script: dict[str, Any] = {}
    exec(code_block("Verify a bet yourself", "python"), script)
    assert capsys.readouterr().out == "10.0x\n"
    for row in vectors("Spin and Win with the default table"):
        seed = row["server seed"]
        args = (seed, COMMITMENTS[seed], row["client seed"], int(row["nonce"]))
        assert script["verify_spin"](*args) == row["result"]
    for row in vectors("Russian Roulette chambers"):
        seed = row["room seed"]
        assert script["bullet_chamber"](seed, COMMITMENTS[seed]) == int(row["chamber"])
    committed_seed, commitment = next(iter(COMMITMENTS.items()))
    with pytest.raises(ValueError, match="not the one"):
        script["verify_spin"](committed_seed[::-1], commitment, "alice", 0)


# --- unit rules --------------------------------------------------------------------------


def test_new_seeds_are_random_hex() -> None:
    seeds = {fairness.new_server_seed() for _ in range(50)}
    assert len(seeds) == 50
    assert all(len(seed) == 64 and set(seed) <= set(string.hexdigits.lower()) for seed in seeds)
    client_seed = fairness.new_client_seed()
    assert fairness.validate_client_seed(client_seed) == client_seed


@pytest.mark.parametrize("client_seed", ["a", "Player_1!", "~" * 64, "a;b=c"])
def test_client_seed_accepted(client_seed: str) -> None:
    assert fairness.validate_client_seed(client_seed) == client_seed


@pytest.mark.parametrize("client_seed", ["", "a:1", "two words", "x" * 65, "café", "tab\t", "a\n"])
def test_client_seed_rejected(client_seed: str) -> None:
    with pytest.raises(ValueError, match="client seed"):
        fairness.validate_client_seed(client_seed)


@pytest.mark.parametrize("nonce", [-1, True, 1.0, "1"])
def test_bad_nonce_rejected(nonce: Any) -> None:
    with pytest.raises(ValueError, match="nonce"):
        fairness.uniform_int("seed", "client", nonce, 6)


@pytest.mark.parametrize("n", [0, -1, WORD_SPACE + 1, True])
def test_uniform_int_range_limits(n: int) -> None:
    with pytest.raises(ValueError, match="n must be"):
        fairness.uniform_int("seed", "client", 0, n)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ([], "must not be empty"),
        ([1, 0, 1], "positive integer"),
        ([1, -2], "positive integer"),
        ([1, True], "positive integer"),
        ([WORD_SPACE, 1], "sum to at most"),
    ],
)
def test_weighted_choice_rejects_bad_weights(weights: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fairness.weighted_choice("seed", "client", 0, weights)


@pytest.mark.parametrize(
    ("multiplier", "label"),
    [
        (Fraction(0), "0.0x"),
        (Fraction(2), "2.0x"),
        (Fraction(3, 2), "1.5x"),
        (Fraction(5, 4), "1.25x"),
        (Fraction(1, 20), "0.05x"),
        (Fraction(10), "10.0x"),
    ],
)
def test_multiplier_label_matches_the_legacy_text_form(multiplier: Fraction, label: str) -> None:
    assert fairness.multiplier_label(multiplier) == label
    # The legacy system printed a Python float followed by "x".
    assert label == f"{float(multiplier)}x"


@pytest.mark.parametrize("multiplier", [Fraction(1, 3), Fraction(1, 1000), Fraction(-1)])
def test_multiplier_label_rejects_what_has_no_exact_text(multiplier: Fraction) -> None:
    with pytest.raises(ValueError, match="hundredths"):
        fairness.multiplier_label(multiplier)


def test_payout_floors_towards_the_house() -> None:
    assert fairness.payout(333, Fraction(3, 2)) == 499
    assert fairness.payout(1000, Fraction(2)) == 2000
    assert fairness.payout(0, Fraction(10)) == 0
    with pytest.raises(ValueError, match="stake"):
        fairness.payout(-1, Fraction(1))


def test_verify_spin_refuses_a_seed_that_does_not_match() -> None:
    seed = fairness.new_server_seed()
    with pytest.raises(ValueError, match="does not match"):
        fairness.verify_spin(seed, "0" * 64, "client", 0, DEFAULT_SPIN_TABLE)
    # Hex case is not part of the commitment.
    outcome = fairness.verify_spin(
        seed, fairness.seed_hash(seed).upper(), "client", 0, DEFAULT_SPIN_TABLE
    )
    assert outcome == fairness.spin(seed, "client", 0, DEFAULT_SPIN_TABLE)


def test_parse_reward_table_accepts_numbers_and_strings() -> None:
    table = fairness.parse_reward_table(
        [
            {"multiplier": 0, "weight": 50},
            {"multiplier": "1.25", "weight": 30},
            {"multiplier": 1.5, "weight": 20},
        ]
    )
    assert table.segments == (
        Segment(Fraction(0), 50),
        Segment(Fraction(5, 4), 30),
        Segment(Fraction(3, 2), 20),
    )
    assert fairness.theoretical_rtp(table) == Fraction(675, 1000)
    assert fairness.parse_reward_table(
        '[{"multiplier": 0.5, "weight": 1}, {"multiplier": 1.10, "weight": 1}]'
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"multiplier": "1", "weight": 1}', "must be a list"),
        ([{"multiplier": "0.5", "weight": 1}], "at least 2 segments"),
        ([{"multiplier": "0.5", "weight": 1}, 3], "segment 1: must be an object"),
        ([{"multiplier": "0", "weight": 1}, {"multiplier": "1"}], "segment 1: must be an object"),
        (
            [{"multiplier": "0", "weight": 1}, {"multiplier": "1", "weight": 1, "x": 1}],
            "exactly 'multiplier' and 'weight'",
        ),
        ([{"multiplier": "0", "weight": 0}, {"multiplier": "1", "weight": 1}], "segment 0: weight"),
        (
            [{"multiplier": "0", "weight": 1.0}, {"multiplier": "1", "weight": 1}],
            "segment 0: weight",
        ),
        (
            '[{"multiplier": "0", "weight": 2.0}, {"multiplier": "1", "weight": 1}]',
            "segment 0: weight",
        ),
        (
            [{"multiplier": "0", "weight": "3"}, {"multiplier": "1", "weight": 1}],
            "segment 0: weight",
        ),
        (
            [{"multiplier": "0", "weight": True}, {"multiplier": "1", "weight": 1}],
            "segment 0: weight",
        ),
        ([{"multiplier": "-1", "weight": 1}, {"multiplier": "1", "weight": 1}], "non-negative"),
        ([{"multiplier": -0.5, "weight": 1}, {"multiplier": "1", "weight": 1}], "non-negative"),
        ([{"multiplier": "0.125", "weight": 1}, {"multiplier": "1", "weight": 1}], "at most 2"),
        ('[{"multiplier": 0.125, "weight": 1}, {"multiplier": 1, "weight": 1}]', "at most 2"),
        ([{"multiplier": "1e1", "weight": 1}, {"multiplier": "0", "weight": 9}], "at most 2"),
        ([{"multiplier": "1/4", "weight": 1}, {"multiplier": "0", "weight": 1}], "at most 2"),
        ([{"multiplier": "nan", "weight": 1}, {"multiplier": "0", "weight": 1}], "at most 2"),
        ([{"multiplier": None, "weight": 1}, {"multiplier": "0", "weight": 1}], "a number"),
        ([{"multiplier": True, "weight": 1}, {"multiplier": "0", "weight": 1}], "a number"),
        ([{"multiplier": "1", "weight": 1}, {"multiplier": "1", "weight": 1}], "below 1"),
        ([{"multiplier": "0", "weight": 1}, {"multiplier": "2.5", "weight": 1}], "below 1"),
    ],
)
def test_parse_reward_table_rejects_bad_config(config: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fairness.parse_reward_table(config)


# --- properties --------------------------------------------------------------------------

seeds = st.text(min_size=1, max_size=80)
client_seeds = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, blacklist_characters=":"),
    min_size=1,
    max_size=fairness.CLIENT_SEED_MAX_LENGTH,
)
nonces = st.integers(min_value=0, max_value=2**64)


@given(seeds, client_seeds, nonces, st.integers(min_value=1, max_value=WORD_SPACE))
def test_uniform_int_is_always_in_range(seed: str, client_seed: str, nonce: int, n: int) -> None:
    assert 0 <= fairness.uniform_int(seed, client_seed, nonce, n) < n


@given(
    seeds,
    client_seeds,
    nonces,
    st.lists(st.integers(min_value=1, max_value=10**6), min_size=1, max_size=20),
)
def test_weighted_choice_picks_a_real_index_consistently(
    seed: str, client_seed: str, nonce: int, weights: Sequence[int]
) -> None:
    index = fairness.weighted_choice(seed, client_seed, nonce, weights)
    assert 0 <= index < len(weights)
    # The choice is exactly "the first running total above a uniform draw".
    draw = fairness.uniform_int(seed, client_seed, nonce, sum(weights))
    assert sum(weights[:index]) <= draw < sum(weights[: index + 1])


@given(seeds, client_seeds, nonces)
def test_spin_is_a_weighted_choice_over_the_table(seed: str, client_seed: str, nonce: int) -> None:
    outcome = fairness.spin(seed, client_seed, nonce, DEFAULT_SPIN_TABLE)
    index = fairness.weighted_choice(seed, client_seed, nonce, DEFAULT_SPIN_TABLE.weights)
    segment = DEFAULT_SPIN_TABLE.segments[index]
    assert outcome == SpinOutcome(index, segment.multiplier, segment.label)


@given(
    st.integers(min_value=0, max_value=10**15),
    st.fractions(min_value=0, max_value=1000),
)
def test_payout_never_exceeds_stake_times_multiplier(stake: int, multiplier: Fraction) -> None:
    paid = fairness.payout(stake, multiplier)
    assert stake * multiplier - 1 < paid <= stake * multiplier


segment_dicts = st.fixed_dictionaries(
    {
        "multiplier": st.integers(min_value=0, max_value=5000).map(
            lambda c: f"{c // 100}.{c % 100:02d}"
        ),
        "weight": st.integers(min_value=1, max_value=10**6),
    }
)


@given(st.lists(segment_dicts, min_size=2, max_size=12))
def test_parse_reward_table_accepts_exactly_the_tables_the_house_cannot_lose(
    config: list[dict[str, Any]],
) -> None:
    rtp = sum(Fraction(s["multiplier"]) * s["weight"] for s in config) / sum(
        s["weight"] for s in config
    )
    if rtp >= 1:
        with pytest.raises(ValueError, match="below 1"):
            fairness.parse_reward_table(json.dumps(config))
    else:
        table = fairness.parse_reward_table(json.dumps(config))
        assert fairness.theoretical_rtp(table) == rtp
        assert isinstance(table, RewardTable)


@given(
    st.lists(segment_dicts, min_size=2, max_size=6),
    st.integers(min_value=0, max_value=5),
    st.sampled_from(
        [
            ("weight", 0),
            ("weight", -3),
            ("weight", 1.5),
            ("weight", "7"),
            ("multiplier", "-1.00"),
            ("multiplier", "0.001"),
            ("multiplier", "abc"),
            ("multiplier", []),
        ]
    ),
)
def test_parse_reward_table_rejects_any_bad_segment(
    config: list[dict[str, Any]], position: int, bad: tuple[str, Any]
) -> None:
    key, value = bad
    config[position % len(config)][key] = value
    with pytest.raises(ValueError, match=f"segment {position % len(config)}"):
        fairness.parse_reward_table(config)
