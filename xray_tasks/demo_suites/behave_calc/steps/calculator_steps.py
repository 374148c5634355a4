"""behave step definitions for the demo's calculator feature (``xray-tasks demo``, BDD step)."""

from typing import Any

from behave import given, then, when


@given("a calculator")
def fresh_calculator(context: Any) -> None:
    context.result = 0


@when("I add {a:d} and {b:d}")
def add(context: Any, a: int, b: int) -> None:
    context.result = a + b


@when("I subtract {a:d} from {b:d}")
def subtract(context: Any, a: int, b: int) -> None:
    context.result = b - a


@then("the result is {expected:d}")
def result_is(context: Any, expected: int) -> None:
    assert context.result == expected, f"the result is {context.result}, not {expected}"
