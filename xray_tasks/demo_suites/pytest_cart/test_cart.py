"""A small suite the demo runs to show the map, evidence and reruns.

``test_total_is_flaky`` fails on its first attempt and passes on the next (the attempts are counted in
the file ``DEMO_ATTEMPTS`` names); ``test_checkout_is_broken`` always fails.
"""

import os
from pathlib import Path


def test_adds_item() -> None:
    cart = ["apple"]
    cart.append("pear")
    assert cart == ["apple", "pear"]


def test_total_is_flaky() -> None:
    counter = Path(os.environ.get("DEMO_ATTEMPTS", "attempts.txt"))
    attempt = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(attempt))
    assert attempt > 1, f"the total was 0 on attempt {attempt} (a race with the price service)"


def test_checkout_is_broken() -> None:
    buttons = ["back", "help"]
    assert "checkout" in buttons, "the checkout button is missing"
