"""A small suite the demo runs with pytest to produce a real JUnit XML report.

One test fails on purpose and one is skipped, to show that every result reaches Xray.
"""

import pytest


def add(a: float, b: float) -> float:
    return a + b


def divide(a: float, b: float) -> float:
    return a / b


def test_adds_two_numbers() -> None:
    assert add(2, 3) == 5


def test_adds_negative_numbers() -> None:
    assert add(-2, -3) == -5


@pytest.mark.parametrize("a, b, expected", [(6, 3, 2), (1, 4, 0.25)])
def test_divides(a: float, b: float, expected: float) -> None:
    assert divide(a, b) == expected


def test_division_by_zero_raises() -> None:
    with pytest.raises(ZeroDivisionError):
        divide(1, 0)


def test_rounding_is_exact() -> None:
    """Fails on purpose: floating point says 0.30000000000000004."""
    assert add(0.1, 0.2) == 0.3


@pytest.mark.skip(reason="square roots are not implemented yet")
def test_square_root() -> None:
    raise AssertionError("not reached")
