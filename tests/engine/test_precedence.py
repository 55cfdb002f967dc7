"""The daemon's full passes wait while another reconcile is urgent (engine.precedence)."""

from __future__ import annotations

import threading

from reconciler.engine import Precedence


def test_a_full_pass_waits_until_no_reconcile_is_urgent() -> None:
    precedence = Precedence(limit=60.0)
    order: list[str] = []
    waiting = threading.Event()

    def full_pass() -> None:
        waiting.set()
        precedence.wait()
        order.append("full pass")

    with precedence.urgent():
        thread = threading.Thread(target=full_pass)
        thread.start()
        assert waiting.wait(10)
        with precedence.urgent():  # urgent reconciles nest: the last one out releases
            order.append("scoped pass")
        thread.join(0.2)
        assert thread.is_alive()
        order.append("second scoped pass")
    thread.join(30)
    assert order == ["scoped pass", "second scoped pass", "full pass"]


def test_nothing_urgent_means_no_wait_and_the_wait_is_bounded() -> None:
    assert Precedence(limit=60.0).wait() < 60.0
    stuck = Precedence(limit=0.05)
    with stuck.urgent():
        stuck.wait()  # returns after the limit although a reconcile is still urgent
