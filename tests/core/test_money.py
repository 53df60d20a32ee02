"""Minor and major units convert in core/money and nowhere else."""

from __future__ import annotations

import ast
from decimal import Decimal
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from gamehub.core.money import (
    MINOR_PER_MAJOR,
    format_major,
    from_whole_major,
    parse_major,
    to_major,
    whole_major,
)

SOURCE = Path(__file__).resolve().parents[2] / "src" / "gamehub"


def test_conversions_read_as_money() -> None:
    assert to_major(1050) == 10.5
    assert format_major(1050) == "10.50"
    assert format_major(5) == "0.05"
    assert whole_major(15_000) == 150
    assert whole_major(15_050) is None
    assert from_whole_major(150) == 15_000


@given(st.integers(min_value=1, max_value=10**12))
def test_whole_major_units_round_trip(shillings: int) -> None:
    assert whole_major(from_whole_major(shillings)) == shillings


@given(st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**9), places=2))
def test_parsed_amounts_format_back_as_written(amount: Decimal) -> None:
    minor = parse_major(amount, maximum_minor=10**12)
    assert format_major(minor) == f"{amount:.2f}"


def test_no_module_but_core_money_scales_by_one_hundred() -> None:
    """A literal 100 multiplying, dividing or taking the remainder of an amount is a
    conversion done by hand; the simulator stands for M-Pesa and keeps its own."""
    assert MINOR_PER_MAJOR == 100
    by_hand = []
    for path in sorted(SOURCE.rglob("*.py")):
        module = str(path.relative_to(SOURCE))
        if module == "core/money.py" or "migrations" in path.parts or "simulator" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.BinOp)
                and isinstance(node.op, ast.Mult | ast.Div | ast.FloorDiv | ast.Mod)
                and any(
                    isinstance(side, ast.Constant) and side.value == 100
                    for side in (node.left, node.right)
                )
            ):
                by_hand.append(f"{module}:{node.lineno}")
    # Spin multipliers are counted in hundredths: a rule of the wheel, not of money.
    assert by_hand == ["games/fairness.py:159"]
